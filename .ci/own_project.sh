#!/usr/bin/env bash
# Builds and runs the README's own-model program as a user would: a new
# cargo project outside the workspace, depending on tapegrad by path, with
# the profile lines the README gives. The program asserts its own accuracy.
# Usage: .ci/own_project.sh [DIR]   (DIR: where to make the project; a temporary one by default)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir/src"
# The TOML block and the Rust block of the README's section, as written.
section() { awk '/^## Use tapegrad in your own project/{on=1; next} /^## /{on=0} on' "$root/README.md"; }
# (Both read to the end: a reader that exits early would kill the writer with SIGPIPE.)
block() { section | awk -v lang="$1" '!done && $0 == "```" lang {on=1; next} on && /^```/ {on=0; done=1} on'; }
{
  printf '[package]\nname = "own_model"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n\n'
  block toml | sed "s|path = \"../tapegrad\"|path = \"$root\"|"
} > "$dir/Cargo.toml"
{ echo 'fn main() {'; block rust; echo '}'; } > "$dir/src/main.rs"
# The workspace's lock file, so the project builds with the versions CI already has.
cp "$root/Cargo.lock" "$dir/Cargo.lock"
cd "$dir"
cargo run --quiet

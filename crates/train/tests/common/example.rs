//! Running an example program from a test, as a user would run it.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The path of the compiled example `name`, built (or brought up to date)
/// first, once per test process.
///
/// `cargo test` builds the examples only when it builds every target; a
/// test file run on its own (`cargo test --test crash_injection`) would
/// otherwise run whatever example binary an earlier build left, compiled
/// from older code. Asking cargo costs a fraction of a second when the
/// binary is fresh.
///
/// The variables cargo sets for the test itself (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_NAME`, ...) are not passed on: some build scripts (ring's)
/// rebuild when they change, so the inner build and the next outer one
/// would each rebuild half the dependency tree for the other.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let test_binary = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.args(["build", "-p", "train", "--example", name]);
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            let set_for_this_crate = [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .iter()
            .any(|prefix| key_text.starts_with(prefix));
            if set_for_this_crate {
                command.env_remove(&key);
            }
        }
        if profile_dir.ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "building the example {name} failed");
    });
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs example `name` with `args` and returns its output.
pub fn run_example(name: &str, args: &[&str]) -> Output {
    Command::new(example_binary(name))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the example starts")
}

/// The standard output of a run that must have succeeded; if it failed,
/// the test fails showing both of its outputs.
pub fn stdout_of_success(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

//! Running an example program from a test, as a user would run it.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of the compiled example `name`, building it first if `cargo test`
/// has not (when one test file is run on its own).
pub fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "train", "--example", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the example {name} failed");
    }
    binary
}

/// Runs example `name` with `args` and returns its output.
pub fn run_example(name: &str, args: &[&str]) -> Output {
    Command::new(example_binary(name))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the example starts")
}

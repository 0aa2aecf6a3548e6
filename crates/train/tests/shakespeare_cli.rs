//! The `shakespeare` program as a user runs it: a tiny run trains and prints
//! a sample after its epoch; `--generate` in a new process, from the
//! checkpoint alone, writes the same text for the same seed; bad flags are
//! named.

mod common;

use std::process::Command;

use common::example::{example_binary, run_example};

/// A small text with some structure to learn.
fn text() -> String {
    let lines = [
        "ROMEO: But soft, what light through yonder window breaks?\n",
        "JULIET: O Romeo, Romeo, wherefore art thou Romeo?\n",
        "MERCUTIO: A plague o' both your houses!\n",
    ];
    lines.iter().cycle().take(60).copied().collect()
}

#[test]
fn generation_from_the_checkpoint_equals_the_sample_of_the_training_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tinyshakespeare.txt");
    std::fs::write(&data, text()).unwrap();
    let out = dir.path().join("run");
    let common_args = [
        "--out",
        out.to_str().unwrap(),
        "--prompt",
        "ROMEO: ",
        "--length",
        "60",
        "--seed",
        "3",
    ];
    for stateful in [false, true] {
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--hidden",
            "16",
            "--embedding",
            "8",
            "--seq-len",
            "20",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--cell",
            "gru",
        ];
        args.extend_from_slice(&common_args);
        if stateful {
            args.push("--stateful");
        }
        let trained = Command::new(example_binary("shakespeare"))
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&trained.stdout).into_owned();
        assert!(
            trained.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&trained.stderr)
        );
        let sample = stdout
            .split("--- sample after epoch 1 ---\n")
            .nth(1)
            .and_then(|rest| rest.split("\n---").next())
            .unwrap_or_else(|| panic!("no sample in:\n{stdout}"))
            .to_string();
        assert!(
            sample.starts_with("ROMEO: ") && sample.chars().count() == 67,
            "{sample:?}"
        );

        let mut args = vec!["--generate"];
        args.extend_from_slice(&common_args);
        let generated = run_example("shakespeare", &args);
        assert!(generated.status.success());
        assert_eq!(
            String::from_utf8_lossy(&generated.stdout),
            format!("{sample}\n")
        );

        // Greedy decoding is deterministic whatever the seed.
        let greedy = |seed: &str| {
            let output = run_example(
                "shakespeare",
                &[
                    "--generate",
                    "--out",
                    out.to_str().unwrap(),
                    "--temperature",
                    "0",
                    "--seed",
                    seed,
                ],
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        assert_eq!(greedy("1"), greedy("2"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn bad_flags_are_named() {
    for (args, expected) in [
        (&["--temperature", "-1"][..], "--temperature"),
        (&["--seq-len", "0"], "--seq-len"),
        (&["--cell", "lsmt"], "--cell"),
        (&["--recurrent-init", "random"], "--recurrent-init"),
        (&["--preset", "huge"], "--preset"),
    ] {
        let output = run_example("shakespeare", args);
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    // An unknown prompt character is reported, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let output = run_example(
        "shakespeare",
        &["--generate", "--out", dir.path().to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("last.safetensors"));
}

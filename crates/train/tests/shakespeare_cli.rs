//! The `shakespeare` program as a user runs it: a tiny run trains and prints
//! a sample after its epoch; `--generate` in a new process, from the
//! checkpoint alone, writes the same text for the same seed; bad flags are
//! named.

mod common;

use std::process::Command;

use common::example::{example_binary, run_example, stdout_of_success};

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

/// What a user gets wrong is refused, and nothing is written or sampled
/// from random weights: training options with `--generate`, a checkpoint
/// whose tensors do not fit the model (named), a sequence length no text
/// can hold, a directory without the text; `--validation 0` trains without
/// validation.
#[test]
fn misuse_is_refused_and_an_empty_validation_split_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tinyshakespeare.txt");
    std::fs::write(&data, text()).unwrap();
    let out = dir.path().join("run");
    let (data, out_text) = (data.to_str().unwrap(), out.to_str().unwrap());
    let small = ["--hidden", "8", "--embedding", "4", "--seq-len", "20"];
    let mut args = vec![
        "--data", data, "--out", out_text, "--epochs", "1", "--length", "5",
    ];
    args.extend_from_slice(&small);
    args.extend_from_slice(&["--validation", "0"]);
    let trained = run_example("shakespeare", &args);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert!(history.starts_with("epoch,loss,accuracy\n"), "{history}");

    let refused = |args: &[&str], expected: &str| {
        let output = run_example("shakespeare", args);
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
        assert!(
            output.stdout.is_empty() || !args.contains(&"--generate"),
            "{args:?}"
        );
    };
    refused(
        &["--generate", "--out", out_text, "--lr", "0.1"],
        "cannot be used with '--lr",
    );
    let huge = [
        "--data",
        data,
        "--out",
        "unused",
        "--seq-len",
        "18446744073709551615",
    ];
    refused(&huge, "too few for one sequence of 18446744073709551615");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let no_text = ["--data", empty.to_str().unwrap(), "--out", "unused"];
    refused(&no_text, "is a directory, not a text file");
    assert!(
        !std::path::Path::new("unused").exists(),
        "nothing was written"
    );

    // A checkpoint whose tensor was renamed: strict loading names both.
    let last = out.join("last.safetensors");
    let file = nn::checkpoint::read::<f32>(&last).unwrap();
    let renamed: Vec<(String, tensor::Tensor<f32>)> = file
        .tensors
        .into_iter()
        .map(|(name, t)| (name.replace("fc.weight", "fc.renamed"), t))
        .collect();
    nn::checkpoint::save_tensors(&renamed, &file.metadata, &last).unwrap();
    let expected = "missing tensor \"fc.weight\"";
    refused(&["--generate", "--out", out_text], expected);
    refused(
        &["--generate", "--out", out_text],
        "unexpected tensor \"fc.renamed\"",
    );
}

/// The tutorials' extras: `--show-batch` prints one input/target pair (the
/// target is the input one character on) and the predictions' shape; the
/// dropout before the output layer, the GRU's other form and a checkpoint
/// per epoch reach the checkpoint.
#[test]
fn the_tutorials_extras_show_a_batch_and_keep_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tinyshakespeare.txt");
    std::fs::write(&data, text()).unwrap();
    let out = dir.path().join("run");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "8",
        "--embedding",
        "4",
        "--seq-len",
        "20",
        "--batch-size",
        "4",
        "--epochs",
        "2",
        "--length",
        "5",
        "--cell",
        "gru",
        "--reset-after",
        "false",
        "--output-dropout",
        "0.2",
        "--save-every-epoch",
        "--show-batch",
    ];
    let stdout = stdout_of_success(&run_example("shakespeare", &args));
    let shown = |label: &str| -> String {
        let line = stdout.lines().find(|l| l.starts_with(label)).expect(label);
        line[label.len()..].trim().to_string()
    };
    let (input, target) = (shown("input:"), shown("target:"));
    // Both are quoted 20-character windows; the target starts one character on.
    let unquote = |s: &str| s.trim_matches('"').replace("\\n", "\n");
    let (input, target) = (unquote(&input), unquote(&target));
    assert_eq!(input.chars().count(), 20, "{input:?}");
    assert_eq!(
        input[1..],
        target[..target.len() - 1],
        "{input:?} {target:?}"
    );
    let predictions = shown("predictions:");
    assert!(predictions.starts_with("[4, 20, "), "{predictions}");
    assert!(stdout.contains("dropout (Dropout)"), "{stdout}");
    for file in ["epoch_1.safetensors", "epoch_2.safetensors"] {
        assert!(out.join(file).exists(), "{file}");
    }
    let file = nn::checkpoint::read::<f32>(&out.join("last.safetensors")).unwrap();
    assert_eq!(file.metadata["reset_after"], "false");
    assert_eq!(file.metadata["output_dropout"], "0.2");
    let refused = run_example(
        "shakespeare",
        &["--generate", "--out", out.to_str().unwrap(), "--show-batch"],
    );
    assert_eq!(refused.status.code(), Some(1));
}

//! The `imdb_lstm` program as a user runs it: bad flags are named and exit
//! with code 1 (no panic, no backtrace); a tiny run trains, resumes and
//! writes what it promises.

mod common;

use std::process::Command;

use autograd::Tape;
use common::example::{example_binary, run_example};
use rand::rngs::StdRng;
use rand::SeedableRng;
use train::data::loader::collate;
use train::data::{Review, Sentiment, Side, Vocabulary};
use train::models::{ModelConfig, SentimentConfig, SentimentModel};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_flags_are_named_and_exit_with_code_1() {
    for (args, expected) in [
        (&["--hidden", "0"][..], "--hidden"),
        (&["--layers", "0"], "--layers"),
        (&["--epochs", "0"], "--epochs"),
        (&["--dropout", "1.5"], "--dropout"),
        (&["--recurrent-dropout", "NaN"], "--recurrent-dropout"),
        (&["--lr", "-1"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--clip", "-2"], "--clip"),
        (&["--batch-size", "many"], "--batch-size"),
        (&["--cell", "transformer"], "--cell"),
        (&["--out", ""], "--out"),
        (&["--validation-split", "1"], "--validation-split"),
        (&["--lr-schedule", "exponential"], "--lr-schedule"),
        (&["--final-lr", "-0.5"], "--final-lr"),
        (&["--eval-max-len", "-1"], "--eval-max-len"),
        (&["--layer-sizes", "64,0"], "--layer-sizes"),
        (
            &["--layer-sizes", "64,32", "--hidden", "8"],
            "--layer-sizes",
        ),
        (&["--padding", "middle"], "--padding"),
        (&["--warmup-start", "0"], "--warmup-start"),
        (&["--gamma", "1.5"], "--gamma"),
        (&["--plateau-factor", "-0.1"], "--plateau-factor"),
        (&["--plateau-patience", "soon"], "--plateau-patience"),
        (&["--mask", "maybe"], "--mask"),
        (
            &["--validate-on-test", "--validation-split", "0.1"],
            "--validate-on-test",
        ),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let output = run_example("imdb_lstm", args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
        assert!(
            !message.contains("panicked") && !message.contains("backtrace"),
            "{args:?}: {message}"
        );
    }
    let help = run_example("imdb_lstm", &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--cell", "--resume", "--patience", "--data"] {
        assert!(text.contains(flag), "{text}");
    }
    assert!(
        !text.contains("```"),
        "help is not a raw doc comment: {text}"
    );
}

#[test]
fn a_tiny_run_trains_resumes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let out = dir.path().join("run");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--embedding",
            "4",
            "--hidden",
            "4",
            "--batch-size",
            "2",
            // Training reads 2 tokens per review; evaluation and --predict the whole text.
            "--max-len",
            "2",
        ];
        args.extend_from_slice(extra);
        Command::new(example_binary("imdb_lstm"))
            .args(&args)
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env_remove("TAPEGRAD_DATA")
            .output()
            .unwrap()
    };
    let first = run(&["--epochs", "1", "--cell", "gru"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{stdout}\n{}", stderr(&first));
    assert!(stdout.contains("epoch 1/1"), "{stdout}");
    assert!(stdout.contains("test: loss"), "{stdout}");
    assert!(stdout.contains("peak memory: "), "{stdout}");
    for file in [
        "history.csv",
        "loss.svg",
        "accuracy.svg",
        "best.safetensors",
        "last.safetensors",
        "vocab.txt",
    ] {
        assert!(out.join(file).exists(), "{file} is missing");
    }

    let resumed = run(&["--epochs", "2", "--cell", "gru", "--resume"]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{stdout}\n{}", stderr(&resumed));
    assert!(stdout.contains("resuming"), "{stdout}");
    assert!(stdout.contains("epoch 2/2"), "{stdout}");
    assert!(!stdout.contains("epoch 1/2"), "{stdout}");
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");

    // --predict rebuilds the model from the checkpoint alone: its probabilities are the
    // model's own output on the same text, encoded as the test reviews were (up to
    // --eval-max-len 600 tokens, the default, though training read only 2 tokens).
    let texts = ["great fun, a great movie", "bad acting"];
    let predicted = Command::new(example_binary("imdb_lstm"))
        .args([
            "--out",
            out.to_str().unwrap(),
            "--predict",
            texts[0],
            texts[1],
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&predicted.stdout).into_owned();
    assert!(
        predicted.status.success(),
        "{stdout}\n{}",
        stderr(&predicted)
    );
    let checkpoint = out.join("best.safetensors");
    let file = nn::checkpoint::read::<f32>(&checkpoint).unwrap();
    let config = SentimentConfig::from_metadata(&file.metadata).unwrap();
    let vocab = Vocabulary::from_text(&file.metadata["vocab"], "checkpoint").unwrap();
    let mut model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(9));
    nn::checkpoint::load(&mut model, &checkpoint).unwrap();
    let expected: Vec<String> = texts
        .iter()
        .map(|text| {
            // The evaluation path: a collated batch of one review, its mask, no tape.
            let review = Review {
                token_ids: vocab.encode(text),
                sentiment: Sentiment::Positive,
                rating: 10,
            };
            let batch = collate(&[review], &[0], Side::Pre, 0);
            let logits = model.forward(&Tape::no_grad(), &batch.token_ids, Some(&batch.mask()));
            format!(
                "{:.6}\t{text}",
                model.positive_probability(logits.value())[0]
            )
        })
        .collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    // With no text, the lines of standard input.
    let mut child = Command::new(example_binary("imdb_lstm"))
        .args(["--out", out.to_str().unwrap(), "--predict"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n\n{}\n", texts[0], texts[1]).as_bytes())
        .unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&piped.stdout), stdout);

    // Resuming with another architecture is refused, naming the setting.
    let changed = run(&["--epochs", "3", "--cell", "lstm", "--resume"]);
    let message = stderr(&changed);
    assert_eq!(changed.status.code(), Some(1), "{message}");
    assert!(
        message.contains("cell: \"gru\" in the checkpoint, \"lstm\" now"),
        "{message}"
    );
}

/// `TAPEGRAD_DATA` naming a missing directory is reported, naming the
/// variable and the path, instead of being skipped without a word.
#[test]
fn a_data_directory_that_does_not_exist_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let missing = dir.path().join("no-such-dir");
    let output = Command::new(example_binary("imdb_lstm"))
        .args(["--data", data.to_str().unwrap()])
        .args(["--out", dir.path().join("run").to_str().unwrap()])
        .args(["--embedding", "2", "--hidden", "2", "--epochs", "1"])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("TAPEGRAD_DATA", &missing)
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(
        message.contains(&format!(
            "tapegrad: warning: TAPEGRAD_DATA={} cannot be used (",
            missing.display()
        )),
        "{message}"
    );
}

/// `--validation-split 0` trains on every training review with no
/// validation columns, tests the last epoch, and `--lr-schedule` runs to the end.
#[test]
fn a_run_without_validation_and_with_a_schedule_trains() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let out = dir.path().join("run");
    let output = Command::new(example_binary("imdb_lstm"))
        .args(["--data", data.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--embedding", "2", "--hidden", "2", "--epochs", "2"])
        .args(["--validation-split", "0", "--lr-schedule", "cosine"])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("TAPEGRAD_DATA")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    assert!(stdout.contains(" 0 validation "), "{stdout}");
    // The last epoch is the one tested, named by the figure that chose it.
    assert!(
        stdout.contains("(best.safetensors: epoch 2, loss "),
        "{stdout}"
    );
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert!(history.starts_with("epoch,loss,accuracy\n"), "{history}");
    assert_eq!(history.lines().count(), 3, "{history}");
}

/// The tutorials' models as written: layers of their own sizes, a hidden
/// dense layer, no mask with the padding after the review, the GRU's other
/// form, validation on the test reviews and a checkpoint per epoch; the
/// checkpoint records all of it and `--predict` rebuilds the model from it.
#[test]
fn the_tutorials_settings_train_and_predict() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let out = dir.path().join("run");
    let fixed = ["--embedding", "3", "--epochs", "2", "--max-len", "6"];
    let run = |extra: &[&str]| imdb_run(dir.path(), &data, &out, &[&fixed[..], extra].concat());
    let output = run(&[
        "--cell",
        "gru",
        "--reset-after",
        "false",
        "--layer-sizes",
        "4,2",
        "--bidirectional",
        "--dense",
        "3",
        "--mask",
        "false",
        "--padding",
        "post",
        "--truncate",
        "post",
        "--eval-max-len",
        "8",
        "--validate-on-test",
        "--save-every-epoch",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    for layer in ["gru ", "gru_1 ", "dense "] {
        assert!(stdout.contains(layer), "{layer}: {stdout}");
    }
    // Every training review (4 in the fixture) trains; the test reviews validate.
    let counts = stdout.lines().find(|l| l.starts_with("data:")).unwrap();
    let words: Vec<&str> = counts.split_whitespace().collect();
    assert_eq!(words[1], "4", "{counts}");
    assert_eq!(words[4], words[7], "{counts}");
    assert!(stdout.contains("val_accuracy"), "{stdout}");
    for file in [
        "epoch_1.safetensors",
        "epoch_2.safetensors",
        "best.safetensors",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    let file = nn::checkpoint::read::<f32>(&out.join("best.safetensors")).unwrap();
    for (key, value) in [
        ("layer_sizes", "4,2"),
        ("reset_after", "false"),
        ("mask", "false"),
        ("dense", "3"),
        ("data.padding", "post"),
        ("data.validate_on_test", "true"),
    ] {
        assert_eq!(file.metadata[key], value, "{key}");
    }
    let predicted = run(&["--predict", "a moving film", "dull"]);
    let text = String::from_utf8_lossy(&predicted.stdout);
    assert!(predicted.status.success(), "{text}\n{}", stderr(&predicted));
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// Under a file-size limit (`ulimit -f`) a checkpoint that does not fit is a
/// write error naming the file, not a process killed by `SIGXFSZ`: exit code
/// 1, the good checkpoint of the earlier epoch intact, no part file left.
#[cfg(unix)]
#[test]
fn a_file_size_limit_is_an_error_naming_the_file_and_the_good_files_stay() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let out = dir.path().join("run");
    let command = |epochs: &str, limit: &str| {
        let args = [
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--embedding",
            "16",
            "--hidden",
            "16",
            "--epochs",
            epochs,
        ];
        let program = example_binary("imdb_lstm");
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -f {limit}; exec \"$0\" \"$@\""))
            .arg(program)
            .args(args)
            .args(if epochs == "2" {
                &["--resume"][..]
            } else {
                &[]
            })
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .env_remove("TAPEGRAD_DATA")
            .output()
            .unwrap()
    };
    assert!(command("1", "unlimited").status.success());
    let last = std::fs::read(out.join("last.safetensors")).unwrap();
    // 16 blocks of 512 bytes: smaller than any checkpoint of this model.
    let limited = command("2", "16");
    let message = stderr(&limited);
    assert_eq!(limited.status.code(), Some(1), "{message}");
    assert!(
        message.contains("safetensors") && message.contains("File too large"),
        "{message}"
    );
    assert_eq!(std::fs::read(out.join("last.safetensors")).unwrap(), last);
    let leftovers: Vec<String> = common::file_names(&out)
        .into_iter()
        .filter(|name| tensor::durable::is_part_file(name))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `--shard-rows` changes the numbers, so it travels in the checkpoint: a
/// resume without it is refused, naming it; with it, the run continues.
#[test]
fn the_shard_rows_are_kept_by_a_resumed_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(dir.path(), "reviews.tar.gz", &common::labeled_reviews());
    let out = dir.path().join("run");
    let fixed = ["--embedding", "2", "--hidden", "2", "--batch-size", "4"];
    let run = |extra: &[&str]| imdb_run(dir.path(), &data, &out, &[&fixed[..], extra].concat());
    let first = run(&["--epochs", "1", "--shard-rows", "2"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let refused = run(&["--epochs", "2", "--resume"]);
    let message = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{message}");
    assert!(
        message.contains("loop.shard_rows: \"2\" in the checkpoint, (not set) now"),
        "{message}"
    );
    let resumed = run(&["--epochs", "2", "--resume", "--shard-rows", "2"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 3, "{history}");
}

/// `imdb_lstm` on the fixture reviews `data`, writing to `out`, its cache
/// under `dir` and `TAPEGRAD_DATA` unset.
fn imdb_run(
    dir: &std::path::Path,
    data: &std::path::Path,
    out: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    Command::new(example_binary("imdb_lstm"))
        .args(["--data", data.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(args)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env_remove("TAPEGRAD_DATA")
        .output()
        .unwrap()
}

//! Crash injection: a small `imdb_lstm` run is killed with SIGKILL at every
//! step of every file write it makes (the dataset cache, the vocabulary, both
//! checkpoints, the history and its charts; each write's temporary file
//! just created, half written, written, flushed, and renamed), and at many
//! moments picked by a timer. After every kill:
//!
//! - every file in the output directory is whole: each checkpoint loads (and
//!   passes its checksum), the history reads, the vocabulary loads and is the
//!   one the checkpoints carry, and both checkpoints belong to one run;
//! - the next run (`--resume` if a last checkpoint exists, else a fresh one)
//!   succeeds, removes the temporary files the killed one left (in the
//!   output directory and in the dataset cache), reuses or rebuilds the cache
//!   without calling it damaged, and ends with exactly the weights, optimizer
//!   state and history of a run that was never interrupted.
//!
//! A process cannot be stopped inside a write by a timer reliably, so the
//! library has a test hook: `TAPEGRAD_PAUSE_AT=<point>` makes the program
//! stop at that point and wait to be killed (see `tensor::durable::pause_point`);
//! `TAPEGRAD_PAUSE_AT=list` lists the points a run passes.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::example::example_binary;
use nn::checkpoint;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::durable::{is_part_file, PAUSE_AT_ENV};
use tensor::Tensor;
use train::data::Vocabulary;
use train::history::History;
use train::models::{ModelConfig, SentimentConfig, SentimentModel};

/// The program, its data, the length of the run, and one output and cache directory.
struct Setup {
    data: PathBuf,
    epochs: usize,
    out: PathBuf,
    cache: PathBuf,
}

impl Setup {
    fn new(root: &Path, data: &Path, epochs: usize, name: &str) -> Setup {
        Setup {
            data: data.to_path_buf(),
            epochs,
            out: root.join(name).join("run"),
            cache: root.join(name).join("cache"),
        }
    }

    fn command(&self, resume: bool) -> Command {
        let mut command = Command::new(example_binary("imdb_lstm"));
        command
            .args(["--data", self.data.to_str().unwrap()])
            .args(["--out", self.out.to_str().unwrap()])
            .args(["--embedding", "4", "--hidden", "4", "--batch-size", "2"])
            .args(["--epochs", &self.epochs.to_string(), "--cell", "gru"])
            .env("XDG_CACHE_HOME", &self.cache)
            .env_remove("TAPEGRAD_DATA")
            .env_remove(PAUSE_AT_ENV)
            .env("TAPEGRAD_NUM_THREADS", "1");
        if resume {
            command.arg("--resume");
        }
        command
    }

    /// Where the dataset cache lives (`$XDG_CACHE_HOME/tapegrad`).
    fn cache_dir(&self) -> PathBuf {
        self.cache.join("tapegrad")
    }
}

/// Files in `dir` whose names satisfy `is_temporary`.
fn temporary_files(dir: &Path, is_temporary: impl Fn(&str) -> bool) -> Vec<String> {
    common::file_names(dir)
        .into_iter()
        .filter(|name| is_temporary(name))
        .collect()
}

/// The temporary files killed writes may leave, beside the run's files and
/// in the dataset cache (`tensor::durable`'s part files).
fn leftovers(setup: &Setup) -> Vec<String> {
    let mut found = temporary_files(&setup.out, is_part_file);
    found.extend(temporary_files(&setup.cache_dir(), is_part_file));
    found
}

/// Runs the program with `TAPEGRAD_PAUSE_AT=<point>`, waits until it says it
/// stopped there, and kills it (`Child::kill` is SIGKILL on Unix).
fn kill_at(setup: &Setup, point: &str) {
    let mut child = setup
        .command(false)
        .env(PAUSE_AT_ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("tapegrad: paused at ") {
                let _ = sender.send(Ok(line));
                return;
            }
            seen.push(line);
        }
        let _ = sender.send(Err(seen.join("\n")));
    });
    let outcome = receiver.recv_timeout(Duration::from_secs(60));
    child.kill().unwrap();
    child.wait().unwrap();
    match outcome {
        Ok(Ok(line)) => assert_eq!(line, format!("tapegrad: paused at {point}")),
        Ok(Err(stderr)) => panic!("the run ended without reaching {point}:\n{stderr}"),
        Err(_) => panic!("the run did not reach {point} within a minute"),
    }
    reader.join().unwrap();
}

/// Runs the program and kills it after `delay`, wherever it is (it may have
/// finished by then).
fn kill_after(setup: &Setup, delay: Duration) {
    let mut child = setup
        .command(false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}

fn read_checkpoint(path: &Path) -> checkpoint::Checkpoint<f32> {
    let file = checkpoint::read::<f32>(path)
        .unwrap_or_else(|e| panic!("{} does not load after a kill: {e}", path.display()));
    assert!(file.verified, "{} lost its checksum", path.display());
    file
}

/// What must hold of the output directory at any moment a run can die.
fn check_whole(setup: &Setup, what: &str) {
    let best = setup.out.join("best.safetensors");
    let last = setup.out.join("last.safetensors");
    let mut run_ids = Vec::new();
    let mut vocabularies = Vec::new();
    if best.exists() {
        let file = read_checkpoint(&best);
        // Loadable into the model its metadata describes.
        let config = SentimentConfig::from_metadata(&file.metadata).unwrap();
        let mut model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(9));
        checkpoint::load(&mut model, &best)
            .unwrap_or_else(|e| panic!("{what}: best.safetensors: {e}"));
        run_ids.push(file.metadata["run.id"].clone());
        vocabularies.push(file.metadata["vocab"].clone());
    }
    if last.exists() {
        let file = read_checkpoint(&last);
        let done: usize = file.metadata["run.epochs_done"].parse().unwrap();
        assert!(done >= 1, "{what}");
        History::from_csv(&file.metadata["run.history"]).unwrap();
        run_ids.push(file.metadata["run.id"].clone());
        vocabularies.push(file.metadata["vocab"].clone());
    }
    run_ids.dedup();
    assert!(
        run_ids.len() <= 1,
        "{what}: best and last belong to different runs"
    );
    let history = setup.out.join("history.csv");
    if history.exists() {
        let text = std::fs::read_to_string(&history).unwrap();
        History::from_csv(&text).unwrap_or_else(|e| panic!("{what}: history.csv: {e}"));
    }
    let vocab = setup.out.join("vocab.txt");
    if vocab.exists() {
        let read = Vocabulary::load(&vocab).unwrap_or_else(|e| panic!("{what}: {e}"));
        for carried in &vocabularies {
            assert_eq!(
                &read,
                &Vocabulary::from_text(carried, "checkpoint").unwrap(),
                "{what}: vocab.txt does not match the checkpoints' vocabulary"
            );
        }
    }
}

/// Runs `scenario(0..count)` on a few threads. Each scenario has directories
/// of its own, and spends most of its time waiting for the disk (every write
/// is flushed), so they overlap well even on two cores.
fn in_parallel(count: usize, scenario: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                scenario(index);
            });
        }
    });
}

fn tensors(path: &Path) -> BTreeMap<String, Tensor<f32>> {
    read_checkpoint(path).tensors
}

/// The files of a finished run that must not depend on whether it was interrupted.
struct Finished {
    best: BTreeMap<String, Tensor<f32>>,
    last: BTreeMap<String, Tensor<f32>>,
    history: String,
    test_line: String,
}

fn finished(setup: &Setup, output: &Output) -> Finished {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let test_line = stdout
        .lines()
        .find(|line| line.starts_with("test: "))
        .unwrap_or_else(|| panic!("no test line in {stdout}"))
        .to_string();
    Finished {
        best: tensors(&setup.out.join("best.safetensors")),
        last: tensors(&setup.out.join("last.safetensors")),
        history: std::fs::read_to_string(setup.out.join("history.csv")).unwrap(),
        test_line,
    }
}

/// After a kill: checks the directory, runs again (resuming if there is a
/// run to resume), and checks that the result is the uninterrupted one.
/// Returns whether it resumed.
fn recover(setup: &Setup, reference: &Finished, what: &str) -> bool {
    check_whole(setup, what);
    let resume = setup.out.join("last.safetensors").exists();
    let output = setup.command(resume).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        !stdout.contains("was invalid"),
        "{what}: the cache was damaged: {stdout}"
    );
    let result = finished(setup, &output);
    assert_eq!(
        leftovers(setup),
        Vec::<String>::new(),
        "{what}: the next run left temporary files"
    );
    assert_eq!(result.history, reference.history, "{what}: history");
    assert!(
        result.last == reference.last,
        "{what}: last.safetensors differs from an uninterrupted run"
    );
    assert!(
        result.best == reference.best,
        "{what}: best.safetensors differs"
    );
    assert_eq!(result.test_line, reference.test_line, "{what}");
    resume
}

#[test]
fn a_run_killed_anywhere_leaves_whole_files_and_the_next_run_cleans_up_and_resumes() {
    let root = tempfile::tempdir().unwrap();
    let data = common::write_tar_gz(root.path(), "reviews.tar.gz", &common::labeled_reviews());

    // The uninterrupted run, listing every pause point it passes.
    let reference_setup = Setup::new(root.path(), &data, 2, "reference");
    let output = reference_setup
        .command(false)
        .env(PAUSE_AT_ENV, "list")
        .output()
        .unwrap();
    let reference = finished(&reference_setup, &output);
    let points: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix("tapegrad: point "))
        .map(str::to_string)
        .collect();
    for file in [
        "imdb-",
        "vocab.txt",
        "best.safetensors",
        "last.safetensors",
        "history.csv",
        "loss.svg",
        "accuracy.svg",
    ] {
        for stage in ["created", "half written", "written", "synced", "renamed"] {
            assert!(
                points
                    .iter()
                    .any(|p| p.starts_with(file) && p.contains(&format!(": {stage}#"))),
                "no pause point {file}...: {stage} in {points:?}"
            );
        }
    }

    // Killed at each point, inside each write.
    let inside_a_write = AtomicUsize::new(0);
    in_parallel(points.len(), |index| {
        let point = &points[index];
        let setup = Setup::new(root.path(), &data, 2, &format!("point-{index}"));
        kill_at(&setup, point);
        let left = leftovers(&setup);
        if !point.contains(": renamed#") {
            // Killed before the rename: the temporary file is still there.
            assert!(
                !left.is_empty(),
                "killed at {point}, no temporary file left"
            );
            inside_a_write.fetch_add(1, Ordering::Relaxed);
        }
        recover(&setup, &reference, &format!("killed at {point}"));
        let _ = std::fs::remove_dir_all(root.path().join(format!("point-{index}")));
    });
    let inside_a_write = inside_a_write.into_inner();

    // Killed by a timer, anywhere: in a training step, between writes, in a
    // write. A longer run, so that the moments spread over its training.
    const TIMED: u32 = 24;
    let resumed = AtomicUsize::new(0);
    let long = Setup::new(root.path(), &data, 6, "long-reference");
    let started = Instant::now();
    let output = long.command(false).output().unwrap();
    let duration = started.elapsed();
    let long_reference = finished(&long, &output);
    in_parallel(TIMED as usize, |k| {
        let delay = duration.mul_f64(1.1 * k as f64 / f64::from(TIMED));
        let setup = Setup::new(root.path(), &data, 6, &format!("timed-{k}"));
        kill_after(&setup, delay);
        if recover(&setup, &long_reference, &format!("killed after {delay:?}")) {
            resumed.fetch_add(1, Ordering::Relaxed);
        }
        let _ = std::fs::remove_dir_all(root.path().join(format!("timed-{k}")));
    });
    let resumed = resumed.into_inner();
    eprintln!(
        "crash injection: {} pause points ({inside_a_write} with a write's temporary file \
         on disk) and {TIMED} timed kills over the {duration:?} of a 6-epoch run \
         ({resumed} of them after an epoch was saved, so the next run resumed), \
         each followed by a recovering run",
        points.len()
    );
}

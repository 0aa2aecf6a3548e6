//! The training loop: a stopped and resumed run equals an uninterrupted one
//! bit for bit, a diverging run stops with the epoch and step and keeps the
//! last good checkpoint, and what it writes is complete and atomic.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use nn::{CellKind, Module};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::Tensor;
use train::data::{DataLoader, LoaderConfig, Review, Sentiment};
use train::models::{ModelConfig, SentimentConfig, SentimentModel};
use train::optim::{Adam, LrSchedule, LrShape, Optimizer, ReduceOnPlateau, Sgd};
use train::tasks::sentiment_step;
use train::trainer::{self, Monitor, TrainError, Trainer, TrainerConfig};

/// Reviews whose label is whether token 3 occurs: learnable in a few epochs.
fn reviews(count: usize, seed: u64) -> Vec<Review> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let length = rng.gen_range(3..12);
            let positive = rng.gen_bool(0.5);
            let mut token_ids: Vec<usize> = (0..length).map(|_| rng.gen_range(4..30)).collect();
            if positive {
                let at = rng.gen_range(0..length);
                token_ids[at] = 3;
            }
            Review {
                token_ids,
                sentiment: if positive {
                    Sentiment::Positive
                } else {
                    Sentiment::Negative
                },
                rating: if positive { 8 } else { 2 },
            }
        })
        .collect()
}

fn config() -> SentimentConfig {
    SentimentConfig {
        embedding_dim: 8,
        hidden_size: 8,
        cell: CellKind::Gru,
        dropout: 0.3,
        recurrent_dropout: 0.2,
        ..SentimentConfig::new(30)
    }
}

fn model() -> SentimentModel {
    SentimentModel::new(config(), &mut StdRng::seed_from_u64(0))
}

fn trainer_config(epochs: usize, dir: &Path, resume: bool) -> TrainerConfig {
    TrainerConfig {
        seed: 7,
        clip_norm: Some(1.0),
        resume,
        verbose: false,
        metadata: config().to_metadata(),
        ..TrainerConfig::new(epochs, dir)
    }
}

/// Trains for `epochs` (resuming when asked) with Adam at `lr` and returns the result.
fn run(
    dir: &Path,
    epochs: usize,
    resume: bool,
    lr: f64,
) -> Result<(trainer::FitReport, SentimentModel), TrainError> {
    let (train, validation) = (reviews(96, 1), reviews(32, 2));
    let loader = LoaderConfig {
        seed: 7,
        ..LoaderConfig::new(16)
    };
    let train = DataLoader::new(&train, loader).unwrap();
    let validation = DataLoader::new(&validation, LoaderConfig::evaluation(16)).unwrap();
    let mut model = model();
    let mut adam = Adam::new(lr);
    let mut trainer = Trainer::new(trainer_config(epochs, dir, resume))?;
    let report = trainer.fit(
        &mut model,
        &mut adam,
        &train,
        Some(&validation),
        &sentiment_step,
    )?;
    Ok((report, model))
}

fn file_tensors(path: &Path) -> BTreeMap<String, Tensor<f32>> {
    nn::checkpoint::read(path).unwrap().tensors
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one_bit_for_bit() {
    let whole = tempfile::tempdir().unwrap();
    let (straight, straight_model) = run(whole.path(), 3, false, 1e-2).unwrap();
    assert_eq!(straight.history.epochs(), 3);
    let losses = straight.history.get("loss").unwrap();
    assert!(losses[2] < losses[0], "the model learns: {losses:?}");

    let split = tempfile::tempdir().unwrap();
    let (first, _) = run(split.path(), 1, false, 1e-2).unwrap();
    assert_eq!(first.epochs_trained, 1);
    let (resumed, resumed_model) = run(split.path(), 3, true, 1e-2).unwrap();
    assert_eq!(resumed.epochs_trained, 2);
    assert_eq!(resumed.history.to_csv(), straight.history.to_csv());
    assert_eq!(resumed.best, straight.best);
    assert_eq!(resumed_model.state_dict(), straight_model.state_dict());
    for file in ["last.safetensors", "best.safetensors"] {
        assert_eq!(
            file_tensors(&split.path().join(file)),
            file_tensors(&whole.path().join(file)),
            "{file}: weights and optimizer state"
        );
    }
    assert_eq!(
        std::fs::read_to_string(split.path().join("history.csv")).unwrap(),
        straight.history.to_csv()
    );

    // The best checkpoint of this run loads, and a run that is already complete trains nothing.
    let mut loaded = model();
    trainer::load_best(&mut loaded, &resumed).unwrap();
    let (again, _) = run(split.path(), 3, true, 1e-2).unwrap();
    assert_eq!(again.epochs_trained, 0);
}

/// A run with no validation whose epoch ends on the update that ruins the
/// weights (one batch, so no later step sees a NaN loss): the weights are
/// checked before anything is saved, and the good checkpoints stay.
#[test]
fn a_run_without_validation_ruined_by_its_last_update_keeps_the_good_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let one_batch = reviews(16, 1);
    let train = DataLoader::new(&one_batch, LoaderConfig::new(16)).unwrap();
    // The loss times `scale`: a finite loss and finite gradients of 1e28 or so,
    // which an SGD step of 1e10 turns into infinite weights.
    let fit = |lr: f64, scale: f32, epochs: usize, resume: bool| {
        let task = |model: &SentimentModel, tape: &autograd::Tape, batch: &train::data::Batch| {
            let output = sentiment_step(model, tape, batch);
            let loss = output.loss.mul_scalar(scale);
            trainer::StepOutput { loss, ..output }
        };
        let config = TrainerConfig {
            clip_norm: None,
            ..trainer_config(epochs, dir.path(), resume)
        };
        Trainer::new(config)?.fit(&mut model(), &mut Sgd::new(lr), &train, None, &task)
    };
    fit(1e-2, 1.0, 1, false).unwrap();
    let files = ["best.safetensors", "last.safetensors", "history.csv"];
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();
    let error = fit(1e10, 1e30, 2, true).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            TrainError::Diverged {
                epoch: 2,
                step: 1,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("hold NaN or infinite values after the update"),
        "{message}"
    );
    assert!(message.contains("no checkpoint was replaced"), "{message}");
    let after: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();
    assert!(before == after, "the good files are untouched");
}

/// An empty training set is refused before anything trains; an empty
/// validation set is no validation set (not a NaN loss called divergence).
#[test]
fn empty_splits_are_refused_or_skipped_not_called_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let (none, some) = (Vec::<Review>::new(), reviews(16, 1));
    let empty = DataLoader::new(&none, LoaderConfig::new(16)).unwrap();
    let train = DataLoader::new(&some, LoaderConfig::new(16)).unwrap();
    let mut trainer = Trainer::new(trainer_config(1, dir.path(), false)).unwrap();
    let mut fit = |source, validation| {
        trainer.fit(
            &mut model(),
            &mut Adam::new(1e-2),
            source,
            validation,
            &sentiment_step,
        )
    };
    let error = fit(&empty, Some(&train)).unwrap_err().to_string();
    assert!(error.contains("the training set has no batches"), "{error}");
    let report = fit(&train, Some(&empty)).unwrap();
    assert_eq!(report.history.names(), ["loss", "accuracy"]);
    assert_eq!(report.monitored, "loss");
}

#[test]
fn a_diverging_run_names_the_epoch_and_step_and_keeps_the_good_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 1, false, 1e-2).unwrap();
    let best = std::fs::read(dir.path().join("best.safetensors")).unwrap();
    let last = std::fs::read(dir.path().join("last.safetensors")).unwrap();

    // A new run into the same directory, plain SGD at a huge learning rate: the weights overflow.
    let (train, validation) = (reviews(96, 1), reviews(32, 2));
    let train = DataLoader::new(
        &train,
        LoaderConfig {
            seed: 7,
            ..LoaderConfig::new(16)
        },
    )
    .unwrap();
    let validation = DataLoader::new(&validation, LoaderConfig::evaluation(16)).unwrap();
    let mut model = model();
    let mut trainer = Trainer::new(TrainerConfig {
        clip_norm: None,
        ..trainer_config(3, dir.path(), false)
    })
    .unwrap();
    let mut sgd = Sgd::new(1e38);
    let error = trainer
        .fit(
            &mut model,
            &mut sgd,
            &train,
            Some(&validation),
            &sentiment_step,
        )
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, TrainError::Diverged { epoch: 1, .. }),
        "{message}"
    );
    assert!(
        message.contains("training diverged at epoch 1, step "),
        "{message}"
    );
    assert!(
        message.contains("is NaN") || message.contains("is inf"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("best.safetensors")).unwrap(),
        best
    );
    assert_eq!(
        std::fs::read(dir.path().join("last.safetensors")).unwrap(),
        last
    );
}

/// A resume is checked before anything is written: with no run to continue
/// the directory stays empty, and a run made with other settings is refused,
/// naming each one that differs (only the number of epochs may change).
#[test]
fn resuming_checks_the_run_it_continues() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let error = run(&out, 2, true, 1e-2).unwrap_err().to_string();
    assert!(error.contains("there is no run to continue"), "{error}");
    assert!(!out.exists(), "a refused resume writes nothing");

    run(&out, 1, false, 1e-2).unwrap();
    let before = common::file_names(&out);
    let other_model = SentimentConfig {
        hidden_size: 9,
        ..config()
    };
    let base = trainer_config(2, &out, true);
    let changes: [(&str, TrainerConfig); 8] = [
        (
            "hidden_size: \"8\" in the checkpoint, \"9\" now",
            TrainerConfig {
                metadata: other_model.to_metadata(),
                ..base.clone()
            },
        ),
        (
            "loop.seed: \"7\" in the checkpoint, \"8\" now",
            TrainerConfig {
                seed: 8,
                ..base.clone()
            },
        ),
        (
            "loop.clip_norm: \"1\" in the checkpoint, \"none\" now",
            TrainerConfig {
                clip_norm: None,
                ..base.clone()
            },
        ),
        (
            "loop.patience: \"none\" in the checkpoint, \"2\" now",
            TrainerConfig {
                patience: Some(2),
                ..base.clone()
            },
        ),
        (
            "loop.monitor: \"val_loss\" in the checkpoint, \"val_accuracy\" now",
            TrainerConfig {
                monitor: Monitor::ValidationAccuracy,
                ..base.clone()
            },
        ),
        (
            "loop.lr_schedule: \"constant\" in the checkpoint, \"cosine\" now",
            TrainerConfig {
                lr_schedule: LrSchedule::new(LrShape::Cosine, 0.0),
                ..base.clone()
            },
        ),
        (
            "loop.warmup_steps: (not set) in the checkpoint, \"3\" now",
            TrainerConfig {
                lr_schedule: LrSchedule {
                    warmup_steps: 3,
                    ..LrSchedule::default()
                },
                ..base.clone()
            },
        ),
        (
            "loop.plateau_patience: (not set) in the checkpoint, \"2\" now",
            TrainerConfig {
                lr_plateau: Some(ReduceOnPlateau::new(0.5, 2)),
                ..base.clone()
            },
        ),
    ];
    for (expected, changed) in changes {
        let error = Trainer::new(changed).err().expect("refused").to_string();
        assert!(error.contains(expected), "{expected}: {error}");
    }
    assert_eq!(
        common::file_names(&out),
        before,
        "refused resumes change nothing"
    );
    run(&out, 2, true, 1e-2).expect("only the epochs changed");
}

#[test]
fn a_second_run_cannot_write_into_a_locked_directory_and_leftovers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir.path().join(".last.safetensors.999999.tapegrad.part");
    std::fs::write(&leftover, b"half a checkpoint").unwrap();
    // A file of the user's that only looks like a temporary one stays.
    let notes = dir.path().join(".tmp-notes.txt");
    std::fs::write(&notes, b"my notes").unwrap();
    let first = Trainer::new(trainer_config(1, dir.path(), false)).unwrap();
    assert!(
        !leftover.exists(),
        "a killed write's temporary file is removed"
    );
    assert!(notes.exists(), "the user's file is kept");
    let error = Trainer::new(trainer_config(1, dir.path(), false))
        .err()
        .expect("the directory is locked")
        .to_string();
    assert!(error.contains("another run is writing into"), "{error}");
    drop(first);
    Trainer::new(trainer_config(1, dir.path(), false)).unwrap();
}

#[test]
fn early_stopping_ends_the_run_after_patience_epochs_without_improvement() {
    let dir = tempfile::tempdir().unwrap();
    let (train, validation) = (reviews(32, 1), reviews(16, 2));
    let train = DataLoader::new(&train, LoaderConfig::new(16)).unwrap();
    let validation = DataLoader::new(&validation, LoaderConfig::evaluation(16)).unwrap();
    let mut model = model();
    let mut trainer = Trainer::new(TrainerConfig {
        patience: Some(2),
        ..trainer_config(50, dir.path(), false)
    })
    .unwrap();
    // A learning rate of (almost) zero: the validation loss never improves after epoch 1.
    let report = trainer
        .fit(
            &mut model,
            &mut Sgd::new(1e-30),
            &train,
            Some(&validation),
            &sentiment_step,
        )
        .unwrap();
    assert!(report.stopped_early);
    assert_eq!(
        report.history.epochs(),
        3,
        "1 best epoch + 2 without improvement"
    );
    assert_eq!(report.best.unwrap().0, 1);
}

/// A checkpoint of the loop whose checksum key was damaged reads as a file
/// from another program (`verified == false`); its content cannot be trusted,
/// so resuming from it is refused, naming the file.
#[test]
fn resuming_from_a_checkpoint_without_its_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 1, false, 1e-2).unwrap();
    let last = dir.path().join("last.safetensors");
    let mut bytes = std::fs::read(&last).unwrap();
    let key = nn::checkpoint::CHECKSUM_KEY.as_bytes();
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    bytes[at + key.len() - 1] = b'w'; // "tapegrad.crc32" -> "tapegrad.crc3w"
    std::fs::write(&last, &bytes).unwrap();
    assert!(!nn::checkpoint::read::<f32>(&last).unwrap().verified);
    let message = run(dir.path(), 2, true, 1e-2).unwrap_err().to_string();
    assert!(
        message.contains("last.safetensors has no content checksum (tapegrad.crc32)"),
        "{message}"
    );
}

/// Accuracy computed from NaN outputs is shown as NaN, never as a number:
/// before, a model with NaN weights scored 1.0000 on a test set of negatives.
#[test]
fn evaluating_a_model_with_nan_weights_reports_nan_not_an_accuracy() {
    let negatives: Vec<Review> = reviews(64, 3)
        .into_iter()
        .filter(|r| r.sentiment == Sentiment::Negative)
        .collect();
    let source = DataLoader::new(&negatives, LoaderConfig::evaluation(16)).unwrap();
    let mut poisoned = model();
    let mut state: BTreeMap<String, Tensor<f32>> = poisoned.state_dict().into_iter().collect();
    let weight = state.get_mut("fc.weight").unwrap();
    *weight = Tensor::full(weight.shape(), f32::NAN);
    poisoned.load_state_dict(&state, true).unwrap();
    let metrics = trainer::evaluate(&poisoned, &source, &sentiment_step, &trainer::WholeBatch);
    assert!(metrics.loss.is_nan());
    let accuracy = metrics.accuracy.unwrap();
    assert!(accuracy.is_nan(), "accuracy {accuracy}");
}

/// A loader that panics when epoch `stop_at` is asked for: a run killed
/// after the checkpoints of the epochs before it.
struct StopsAt<'a> {
    inner: DataLoader<'a, Review>,
    stop_at: Option<u64>,
}

impl train::trainer::BatchSource for StopsAt<'_> {
    type Batch = train::data::Batch;

    fn num_batches(&self) -> usize {
        self.inner.num_batches()
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = train::data::Batch> + '_ {
        assert_ne!(
            Some(epoch),
            self.stop_at,
            "killed before epoch {}",
            epoch + 1
        );
        self.inner.batches(epoch)
    }
}

/// Trains 3 epochs with a linear schedule (stopping at `stop_at`, resuming
/// when asked); returns the history, the model and the optimizer's final rate.
fn scheduled_run(dir: &Path, resume: bool, stop_at: Option<u64>) -> (String, SentimentModel, f64) {
    let (train, validation) = (reviews(96, 1), reviews(32, 2));
    let loader = LoaderConfig {
        seed: 7,
        ..LoaderConfig::new(16)
    };
    let train = StopsAt {
        inner: DataLoader::new(&train, loader).unwrap(),
        stop_at,
    };
    let validation = StopsAt {
        inner: DataLoader::new(&validation, LoaderConfig::evaluation(16)).unwrap(),
        stop_at: None,
    };
    let mut model = model();
    let mut adam = Adam::new(1e-2);
    let mut trainer = Trainer::new(TrainerConfig {
        lr_schedule: schedule(),
        lr_plateau: Some(plateau()),
        ..trainer_config(3, dir, resume)
    })
    .unwrap();
    let report = trainer
        .fit(
            &mut model,
            &mut adam,
            &train,
            Some(&validation),
            &sentiment_step,
        )
        .unwrap();
    (report.history.to_csv(), model, adam.learning_rate())
}

/// A linear schedule after a warm-up of 4 updates.
fn schedule() -> LrSchedule {
    LrSchedule {
        warmup_steps: 4,
        ..LrSchedule::new(LrShape::Linear, 0.1)
    }
}

/// A plateau that no later epoch beats (an improvement would have to be
/// below 0): with no patience, the rate halves after every epoch but the
/// first.
fn plateau() -> ReduceOnPlateau {
    ReduceOnPlateau {
        threshold: 1.0,
        ..ReduceOnPlateau::new(0.5, 0)
    }
}

#[test]
fn a_learning_rate_schedule_follows_the_run_across_a_resume() {
    let whole = tempfile::tempdir().unwrap();
    let (history, straight, final_rate) = scheduled_run(whole.path(), false, None);
    // 3 epochs of 6 batches: the last update is number 17 of 18, in the
    // third epoch, after one reduction on plateau (after epoch 2).
    let expected = 1e-2 * 0.5 * schedule().factor(17, 18, 2);
    assert!(
        (final_rate - expected).abs() < 1e-15,
        "{final_rate} vs {expected}"
    );

    let split = tempfile::tempdir().unwrap();
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scheduled_run(split.path(), false, Some(1))
    }));
    assert!(killed.is_err(), "the first try stops in epoch 2");
    let (resumed_history, resumed, resumed_rate) = scheduled_run(split.path(), true, None);
    assert_eq!(resumed_history, history);
    assert_eq!(resumed.state_dict(), straight.state_dict());
    assert_eq!(resumed_rate, final_rate);

    // A constant rate would have ended elsewhere: the schedule did something.
    let constant = tempfile::tempdir().unwrap();
    let (_, constant_model) = run(constant.path(), 3, false, 1e-2).unwrap();
    assert_ne!(constant_model.state_dict(), straight.state_dict());
}

/// With `save_every_epoch` each epoch's weights stay, as `epoch_<n>`: the
/// last of them is the last checkpoint's weights.
#[test]
fn every_epochs_weights_can_be_kept() {
    let dir = tempfile::tempdir().unwrap();
    let some = reviews(32, 1);
    let train = DataLoader::new(&some, LoaderConfig::new(16)).unwrap();
    let config = TrainerConfig {
        save_every_epoch: true,
        ..trainer_config(2, dir.path(), false)
    };
    let mut model = model();
    Trainer::new(config)
        .unwrap()
        .fit(
            &mut model,
            &mut Adam::new(1e-2),
            &train,
            None,
            &sentiment_step,
        )
        .unwrap();
    let names = common::file_names(dir.path());
    assert!(
        names.contains(&"epoch_1.safetensors".to_string()),
        "{names:?}"
    );
    let epoch_2 = nn::checkpoint::read::<f32>(&dir.path().join("epoch_2.safetensors")).unwrap();
    let weights: BTreeMap<String, Tensor<f32>> = model.state_dict().into_iter().collect();
    assert_eq!(epoch_2.tensors, weights);
}

//! The training loop: the one every program in this project runs.
//!
//! ```text
//! for epoch in 1..=epochs:
//!     for each batch:                                    (train.epoch(epoch): a fixed order per epoch)
//!         tape = Tape::training(seed of (epoch, step))   fresh graph; this step's dropout masks
//!         loss = task.step(model, tape, batch)           the forward pass, recorded
//!         grads = tape.backward(loss); drop the tape     the graph is freed here, every step
//!         clip grads to a global norm; stop on NaN/inf
//!         optimizer.step(model, grads)                   weights updated in place
//!     evaluate on the validation batches (no tape recording)
//!     write history.csv and the curves; save best.safetensors if the
//!     monitored metric improved, and last.safetensors (weights, optimizer
//!     state, epoch, history) every epoch; stop early after `patience`
//!     epochs without improvement
//! ```
//!
//! What a problem adds to this is a [`Task`]: how one batch becomes a loss
//! (a closure is enough). Where batches come from is a [`BatchSource`]: an
//! epoch's batches depend only on the epoch number, so a run stopped after
//! epoch `k` and resumed ([`TrainerConfig::resume`]) sees exactly the batches
//! and dropout masks an uninterrupted run would: the numbers come out bit
//! for bit the same.
//!
//! Every file is written atomically (a temporary file renamed over the
//! target), so a crash leaves the previous version or the new one. A
//! `.lock` file keeps two runs from writing into one directory.

mod files;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autograd::{BackwardError, Tape, Var};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nn::{CheckpointError, Metadata, Module};

use crate::history::History;
use crate::metrics::RunningMean;
use crate::optim::{clip_grad_norm, global_norm, ClipError, OptimError, Optimizer};

pub use files::{RunDirectory, BEST_CHECKPOINT, LAST_CHECKPOINT};

/// What one batch's forward pass gives the loop.
pub struct StepOutput {
    /// The batch's mean loss, recorded on the step's tape.
    pub loss: Var<f32>,
    /// How many examples the batch holds (the loss's weight in the epoch's mean).
    pub examples: usize,
    /// How many of them the model got right, for tasks with an accuracy.
    pub correct: Option<usize>,
    /// How many tokens the batch holds, for the tokens/s figure (0 if not counted).
    pub tokens: usize,
}

/// A problem the loop can train on: how a batch becomes a loss.
///
/// Any closure `FnMut(&Model, &Tape<f32>, &Batch) -> StepOutput` is a task.
pub trait Task<M, B> {
    /// Runs the forward pass of `batch` on `tape` and returns its loss.
    fn step(&mut self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput;

    /// Called before each training epoch and each evaluation pass: a task
    /// whose model carries state from batch to batch resets it here.
    fn reset(&mut self, _model: &M) {}
}

impl<M, B, F> Task<M, B> for F
where
    F: FnMut(&M, &Tape<f32>, &B) -> StepOutput,
{
    fn step(&mut self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput {
        self(model, tape, batch)
    }
}

/// Where an epoch's batches come from. The batches of an epoch must depend
/// only on the epoch number, so a resumed run sees the same ones.
pub trait BatchSource {
    /// One batch.
    type Batch;

    /// The number of batches in an epoch.
    fn num_batches(&self) -> usize;

    /// The batches of epoch `epoch` (counted from 0), in order.
    fn epoch(&self, epoch: u64) -> impl Iterator<Item = Self::Batch> + '_;
}

impl<E: crate::data::loader::SequenceExample> BatchSource for crate::data::DataLoader<'_, E> {
    type Batch = crate::data::Batch;

    fn num_batches(&self) -> usize {
        crate::data::DataLoader::num_batches(self)
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = crate::data::Batch> + '_ {
        self.batches(epoch)
    }
}

/// Which validation figure picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss, lower is better (Keras' default `val_loss`).
    #[default]
    ValidationLoss,
    /// The validation accuracy, higher is better.
    ValidationAccuracy,
}

impl Monitor {
    /// The metric's name in the history.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValidationLoss => "val_loss",
            Monitor::ValidationAccuracy => "val_accuracy",
        }
    }

    fn improves(self, value: f64, best: Option<f64>) -> bool {
        match best {
            None => true,
            Some(best) => match self {
                Monitor::ValidationLoss => value < best,
                Monitor::ValidationAccuracy => value > best,
            },
        }
    }
}

/// How a [`Trainer`] runs.
#[derive(Clone, Debug)]
pub struct TrainerConfig {
    /// Passes over the training set (at least 1).
    pub epochs: usize,
    /// Where history, curves and checkpoints go.
    pub out_dir: PathBuf,
    /// The seed of the step seeds (dropout masks); give the loaders the same.
    pub seed: u64,
    /// Rescale gradients whose global norm is above this (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Stop after this many epochs without improvement of `monitor`.
    pub patience: Option<usize>,
    /// What "improvement" means.
    pub monitor: Monitor,
    /// Continue the run whose `last.safetensors` is in `out_dir`.
    pub resume: bool,
    /// Print a progress bar and a line per epoch.
    pub verbose: bool,
    /// Written into every checkpoint: what rebuilds the model (its
    /// configuration, a vocabulary). A resumed run must have the same.
    pub metadata: Metadata,
}

impl TrainerConfig {
    /// `epochs` epochs into `out_dir`, seed 0, no clipping or early stopping, verbose.
    pub fn new(epochs: usize, out_dir: impl Into<PathBuf>) -> Self {
        TrainerConfig {
            epochs,
            out_dir: out_dir.into(),
            seed: 0,
            clip_norm: None,
            patience: None,
            monitor: Monitor::default(),
            resume: false,
            verbose: true,
            metadata: Metadata::new(),
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Config(message));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if let Some(clip) = self.clip_norm {
            if !(clip > 0.0 && clip.is_finite()) {
                return bad(format!("clip_norm must be a positive number, got {clip}"));
            }
        }
        if self.patience == Some(0) {
            return bad("patience must be at least 1".into());
        }
        if self.out_dir.as_os_str().is_empty() {
            return bad("the output directory is empty; give a path".into());
        }
        Ok(())
    }
}

/// Why a run stopped with an error.
#[derive(Debug)]
pub enum TrainError {
    /// A setting is out of range.
    Config(String),
    /// A file could not be read or written.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process is training into the same directory.
    Locked(PathBuf),
    /// A checkpoint could not be written or read.
    Checkpoint(CheckpointError),
    /// The run cannot be resumed as asked.
    Resume(String),
    /// The loss or the gradients stopped being finite.
    Diverged {
        /// The epoch (from 1).
        epoch: usize,
        /// The step in the epoch (from 1).
        step: usize,
        /// What is not finite.
        what: String,
    },
    /// Backpropagation failed (a loss that depends on no parameter, say).
    Backward(BackwardError),
    /// The optimizer refused the update.
    Optimizer(OptimError),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Config(message) => write!(f, "{message}"),
            TrainError::Io {
                path,
                action,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            TrainError::Locked(path) => write!(
                f,
                "another run is writing into {} (it holds {}); wait for it or choose another output directory",
                path.parent().unwrap_or(path).display(),
                path.display()
            ),
            TrainError::Checkpoint(error) => write!(f, "{error}"),
            TrainError::Resume(message) => write!(f, "cannot resume: {message}"),
            TrainError::Diverged { epoch, step, what } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: {what}; stopped before \
                 updating the weights, and no checkpoint was replaced (lower the learning \
                 rate, or clip the gradients)"
            ),
            TrainError::Backward(error) => write!(f, "{error}"),
            TrainError::Optimizer(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<CheckpointError> for TrainError {
    fn from(error: CheckpointError) -> Self {
        TrainError::Checkpoint(error)
    }
}

impl From<OptimError> for TrainError {
    fn from(error: OptimError) -> Self {
        TrainError::Optimizer(error)
    }
}

/// Mean loss, accuracy and throughput over a pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochMetrics {
    /// The loss, averaged over examples.
    pub loss: f64,
    /// The fraction of correct predictions, for tasks that count them.
    pub accuracy: Option<f64>,
    /// Examples seen.
    pub examples: usize,
    /// Tokens seen.
    pub tokens: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Accumulates a pass's step outputs into [`EpochMetrics`].
#[derive(Default)]
struct Meter {
    loss: RunningMean,
    correct: usize,
    counted: bool,
    examples: usize,
    tokens: usize,
}

impl Meter {
    fn add(&mut self, loss: f64, output: &StepOutput) {
        self.loss.add(loss, output.examples);
        self.examples += output.examples;
        self.tokens += output.tokens;
        if let Some(correct) = output.correct {
            self.correct += correct;
            self.counted = true;
        }
    }

    /// The fraction correct; NaN when the loss is not finite, because then
    /// the predictions counted came from NaN outputs (`NaN > 0.5` is false, so
    /// every one of them was counted as "negative").
    fn accuracy(&self) -> Option<f64> {
        self.counted.then(|| {
            if self.loss.mean().is_finite() {
                self.correct as f64 / self.examples.max(1) as f64
            } else {
                f64::NAN
            }
        })
    }

    fn finish(&self, started: Instant) -> EpochMetrics {
        EpochMetrics {
            loss: self.loss.mean(),
            accuracy: self.accuracy(),
            examples: self.examples,
            tokens: self.tokens,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// Runs `task` over every batch of `source` without recording (`no_grad`
/// tapes, dropout off) and averages its loss and accuracy.
pub fn evaluate<M, S, K>(model: &M, source: &S, task: &mut K) -> EpochMetrics
where
    S: BatchSource,
    K: Task<M, S::Batch>,
{
    let started = Instant::now();
    let mut meter = Meter::default();
    task.reset(model);
    for batch in source.epoch(0) {
        let tape = Tape::no_grad();
        let output = task.step(model, &tape, &batch);
        meter.add(f64::from(output.loss.item()), &output);
    }
    meter.finish(started)
}

/// The seed of one training step's tape: distinct for every (seed, epoch, step).
fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    // SplitMix64's finalizer over the three numbers.
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (step as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch's metrics (resumed runs included).
    pub history: History,
    /// The epoch (from 1) whose weights are in `best.safetensors`, and its monitored value.
    pub best: Option<(usize, f64)>,
    /// The run's best checkpoint.
    pub best_checkpoint: PathBuf,
    /// The run's last checkpoint.
    pub last_checkpoint: PathBuf,
    /// Whether early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// The epochs this call trained (0 if a resumed run was already complete).
    pub epochs_trained: usize,
}

/// The training loop, bound to an output directory (see the [module docs](self)).
pub struct Trainer {
    config: TrainerConfig,
    directory: RunDirectory,
}

impl Trainer {
    /// Checks the configuration, creates the output directory, takes its lock
    /// and removes temporary files an interrupted run left there.
    ///
    /// # Errors
    /// A setting out of range, a directory that cannot be created, or one
    /// another run is writing into.
    pub fn new(config: TrainerConfig) -> Result<Trainer, TrainError> {
        config.validate()?;
        let directory = RunDirectory::open(&config.out_dir)?;
        Ok(Trainer { config, directory })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        self.directory.path()
    }

    /// Trains `model` with `optimizer` on `train`, validating on
    /// `validation` after every epoch (see the [module docs](self)).
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::{Embedding, Linear, Lstm, Module};
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use tensor::{Indices, Tensor};
    /// use train::data::{DataLoader, LoaderConfig, Review, Sentiment};
    /// use train::optim::Adam;
    /// use train::trainer::{StepOutput, Trainer, TrainerConfig};
    ///
    /// // Embedding -> LSTM -> Linear, by hand: names come from the fields.
    /// struct Classifier { embedding: Embedding, lstm: Lstm, fc: Linear }
    /// nn::module!(Classifier { embedding, lstm, fc });
    ///
    /// let rng = &mut StdRng::seed_from_u64(0);
    /// let mut model = Classifier {
    ///     embedding: Embedding::new(10, 8, rng),
    ///     lstm: Lstm::new(8, 16, rng),
    ///     fc: Linear::new(16, 1, rng),
    /// };
    /// let review = |ids: &[usize], sentiment| Review { token_ids: ids.to_vec(), sentiment, rating: 1 };
    /// let reviews = [review(&[2, 3, 4], Sentiment::Positive), review(&[5, 6], Sentiment::Negative)];
    /// let loader = DataLoader::new(&reviews, LoaderConfig::new(2)).unwrap();
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut trainer = Trainer::new(TrainerConfig { verbose: false, ..TrainerConfig::new(3, dir.path()) }).unwrap();
    /// let mut adam = Adam::new(1e-2);
    /// let report = trainer.fit(&mut model, &mut adam, &loader, Some(&loader), &mut |model: &Classifier, tape: &Tape, batch: &train::data::Batch| {
    ///     let x = model.embedding.forward(tape, &batch.token_ids);
    ///     let h = model.lstm.forward(tape, &x).final_hidden();
    ///     let logits = model.fc.forward(tape, &h).reshape(&[batch.len()]);
    ///     let loss = logits.binary_cross_entropy_with_logits(&batch.labels, None, autograd::Reduction::Mean);
    ///     StepOutput { loss, examples: batch.len(), correct: None, tokens: 0 }
    /// }).unwrap();
    /// assert_eq!(report.history.epochs(), 3);
    /// ```
    ///
    /// # Errors
    /// A [`TrainError`]: a checkpoint or history that cannot be written, a
    /// run that cannot be resumed, a loss or gradient that is not finite
    /// (the message names the epoch and step), or an optimizer that refuses.
    pub fn fit<M, S, K>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer<f32>,
        train: &S,
        validation: Option<&S>,
        task: &mut K,
    ) -> Result<FitReport, TrainError>
    where
        M: Module<f32>,
        S: BatchSource,
        K: Task<M, S::Batch>,
    {
        let config = self.config.clone();
        let mut run = if config.resume {
            let run = self.directory.resume(&config, model, optimizer)?;
            if config.verbose {
                println!(
                    "resuming {} after epoch {} of {}",
                    self.directory.path().display(),
                    run.epochs_done,
                    config.epochs
                );
            }
            run
        } else {
            files::RunState::fresh(config.seed)
        };
        let first_epoch = run.epochs_done;
        let mut stopped_early = false;
        for epoch in first_epoch..config.epochs {
            if config.patience.is_some_and(|p| run.stale_epochs >= p) {
                stopped_early = true;
                break;
            }
            let trained = self.train_epoch(epoch, model, optimizer, train, task)?;
            let validated = validation.map(|source| evaluate(model, source, task));
            let mut metrics: Vec<(&str, f64)> = vec![("loss", trained.loss)];
            if let Some(accuracy) = trained.accuracy {
                metrics.push(("accuracy", accuracy));
            }
            if let Some(validated) = &validated {
                metrics.push(("val_loss", validated.loss));
                if let Some(accuracy) = validated.accuracy {
                    metrics.push(("val_accuracy", accuracy));
                }
            }
            if let Some(bad) = metrics.iter().find(|(_, value)| !value.is_finite()) {
                return Err(TrainError::Diverged {
                    epoch: epoch + 1,
                    step: train.num_batches(),
                    what: format!("{} is {}", bad.0, bad.1),
                });
            }
            run.history.record(&metrics);
            run.epochs_done = epoch + 1;
            let monitored = match (config.monitor, &validated) {
                (_, None) => trained.loss,
                (Monitor::ValidationLoss, Some(v)) => v.loss,
                (Monitor::ValidationAccuracy, Some(v)) => v.accuracy.unwrap_or(f64::NAN),
            };
            let improved = match validated {
                None => true,
                Some(_) => config.monitor.improves(monitored, run.best.map(|(_, v)| v)),
            };
            if improved {
                run.best = Some((epoch + 1, monitored));
                run.stale_epochs = 0;
                self.directory.save_best(&config, &run, model)?;
            } else {
                run.stale_epochs += 1;
            }
            self.directory.save_history(&run.history)?;
            self.directory.save_last(&config, &run, model, optimizer)?;
            if config.verbose {
                print_epoch(epoch, config.epochs, &trained, validated.as_ref(), improved);
            }
        }
        if config.verbose && stopped_early {
            println!(
                "early stop: {} epochs without a better {}",
                run.stale_epochs,
                config.monitor.name()
            );
        }
        Ok(FitReport {
            history: run.history,
            best: run.best,
            best_checkpoint: self.directory.path().join(BEST_CHECKPOINT),
            last_checkpoint: self.directory.path().join(LAST_CHECKPOINT),
            stopped_early,
            epochs_trained: run.epochs_done - first_epoch,
        })
    }

    /// One pass over the training batches, updating the weights after each.
    fn train_epoch<M, S, K>(
        &mut self,
        epoch: usize,
        model: &mut M,
        optimizer: &mut dyn Optimizer<f32>,
        train: &S,
        task: &mut K,
    ) -> Result<EpochMetrics, TrainError>
    where
        M: Module<f32>,
        S: BatchSource,
        K: Task<M, S::Batch>,
    {
        let config = &self.config;
        let bar = progress_bar(config, epoch, train.num_batches());
        let started = Instant::now();
        let mut meter = Meter::default();
        task.reset(model);
        for (step, batch) in train.epoch(epoch as u64).enumerate() {
            let diverged = |what: String| TrainError::Diverged {
                epoch: epoch + 1,
                step: step + 1,
                what,
            };
            let tape = Tape::training(step_seed(config.seed, epoch, step));
            let output = task.step(model, &tape, &batch);
            let loss = f64::from(output.loss.item());
            if !loss.is_finite() {
                return Err(diverged(format!("the loss is {loss}")));
            }
            let mut grads = tape.backward(&output.loss).map_err(TrainError::Backward)?;
            meter.add(loss, &output);
            // The graph is freed here: the weights are no longer shared and update in place.
            drop((output, tape));
            let norm = match config.clip_norm {
                Some(limit) => clip_grad_norm(&mut grads, limit).map_err(|e| match e {
                    ClipError::NonFiniteNorm(norm) => {
                        diverged(format!("the gradient norm is {norm}"))
                    }
                    other => TrainError::Config(other.to_string()),
                })?,
                None => global_norm(&grads),
            };
            if !norm.is_finite() {
                return Err(diverged(format!("the gradient norm is {norm}")));
            }
            optimizer.step(model, &grads)?;
            bar.inc(1);
            bar.set_message(progress_message(&meter, started));
        }
        bar.finish_and_clear();
        Ok(meter.finish(started))
    }
}

fn progress_bar(config: &TrainerConfig, epoch: usize, batches: usize) -> ProgressBar {
    if !config.verbose {
        return ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(batches as u64);
    let style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{}/{}", epoch + 1, config.epochs));
    bar
}

fn progress_message(meter: &Meter, started: Instant) -> String {
    let mut message = format!("loss {:.4}", meter.loss.mean());
    if let Some(accuracy) = meter.accuracy() {
        message.push_str(&format!(" acc {accuracy:.3}"));
    }
    if meter.tokens > 0 {
        let rate = meter.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        message.push_str(&format!(" {rate:.0} tok/s"));
    }
    message
}

fn print_epoch(
    epoch: usize,
    epochs: usize,
    trained: &EpochMetrics,
    validated: Option<&EpochMetrics>,
    improved: bool,
) {
    let mut line = format!("epoch {}/{epochs}: loss {:.4}", epoch + 1, trained.loss);
    if let Some(accuracy) = trained.accuracy {
        line.push_str(&format!(" accuracy {accuracy:.4}"));
    }
    if let Some(v) = validated {
        line.push_str(&format!(" | val_loss {:.4}", v.loss));
        if let Some(accuracy) = v.accuracy {
            line.push_str(&format!(" val_accuracy {accuracy:.4}"));
        }
    }
    line.push_str(&format!(" | {:.1} s", trained.seconds));
    if trained.tokens > 0 {
        line.push_str(&format!(
            ", {:.0} tokens/s",
            trained.tokens as f64 / trained.seconds.max(1e-9)
        ));
    }
    if improved {
        line.push_str(" | best so far, saved");
    }
    println!("{line}");
}

/// The model's weights from the run's best checkpoint, checked to belong to
/// the run that `report` describes.
///
/// # Errors
/// If the checkpoint cannot be read, belongs to another run, or does not fit the model.
pub fn load_best<M: Module<f32>>(model: &mut M, report: &FitReport) -> Result<(), TrainError> {
    files::load_checkpoint_of_run(model, &report.best_checkpoint, &report.last_checkpoint)
}

/// `(name, value)` pairs of a `Metadata`, for comparing two runs' settings.
pub(crate) fn differing_keys(ours: &Metadata, theirs: &BTreeMap<String, String>) -> Vec<String> {
    ours.iter()
        .filter(|(key, value)| theirs.get(*key) != Some(value))
        .map(|(key, _)| key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_seeds_differ_by_epoch_and_step() {
        let seeds: std::collections::BTreeSet<u64> = (0..4)
            .flat_map(|e| (0..100).map(move |s| step_seed(7, e, s)))
            .collect();
        assert_eq!(seeds.len(), 400);
        assert_ne!(step_seed(1, 0, 0), step_seed(2, 0, 0));
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let base = TrainerConfig::new(1, "x");
        for (config, expected) in [
            (
                TrainerConfig {
                    epochs: 0,
                    ..base.clone()
                },
                "epochs must be at least 1",
            ),
            (
                TrainerConfig {
                    clip_norm: Some(-1.0),
                    ..base.clone()
                },
                "clip_norm must be a positive number, got -1",
            ),
            (
                TrainerConfig {
                    clip_norm: Some(f64::NAN),
                    ..base.clone()
                },
                "clip_norm must be a positive number, got NaN",
            ),
            (
                TrainerConfig {
                    patience: Some(0),
                    ..base.clone()
                },
                "patience must be at least 1",
            ),
            (TrainerConfig::new(1, ""), "the output directory is empty"),
        ] {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}

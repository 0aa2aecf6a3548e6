//! The training loop: the one every program in this project runs.
//!
//! ```text
//! for epoch in 1..=epochs:
//!     for each batch:                                    (train.epoch(epoch): a fixed order per epoch)
//!         for each shard of the batch, at the same time: (16 rows each, one per core)
//!             tape = Tape::training(seed of (epoch, step, shard))   fresh graph; its dropout masks
//!             loss = task.step(model, tape, shard)       the forward pass, recorded
//!             grads = tape.backward(loss * shard share)  the graph is freed here, every step
//!         grads = sum of the shards' grads, in shard order
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
//!
//! # Data parallelism
//! The time loop of a recurrent network is sequential, and the products of
//! one step (`[64 x 128] @ [128 x 512]`) are too small to split well over
//! cores. The parallelism is in the batch: its 64 sequences are independent.
//! So each batch is cut into shards of [`TrainerConfig::shard_size`] rows,
//! each shard is recorded on its own tape by its own thread (tapes are per
//! thread; the weights are shared, read-only), and the shards' gradients are
//! added in shard order. The loss of a shard is weighted by its share of the
//! batch, so the sum is the gradient of the batch's mean loss. This is data
//! parallelism, the idea that spreads training over many machines, here
//! over the cores of one. Because the shards are fixed by the batch (not by
//! the number of threads) and added in a fixed order, the numbers are the
//! same, bit for bit, with 1 thread or 16.

mod files;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autograd::{BackwardError, Gradients, Tape, Var};
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
/// Any function or closure `Fn(&Model, &Tape<f32>, &Batch) -> StepOutput`
/// is a task. Shards of one batch run at the same time on several threads,
/// so a task computes from its arguments and the model only.
pub trait Task<M, B> {
    /// Runs the forward pass of `batch` on `tape` and returns its loss.
    fn step(&self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput;

    /// Called before each training epoch and each evaluation pass: a task
    /// whose model carries state from batch to batch resets it here.
    fn reset(&self, _model: &M) {}

    /// Called after each epoch (from 1) is done and saved: a language model
    /// prints a sample of its text here, as the tutorials do.
    fn after_epoch(&self, _model: &M, _epoch: usize) {}
}

impl<M, B, F> Task<M, B> for F
where
    F: Fn(&M, &Tape<f32>, &B) -> StepOutput,
{
    fn step(&self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput {
        self(model, tape, batch)
    }
}

/// A batch that can be cut into shards of rows, for data parallelism.
pub trait Split: Sized {
    /// The number of examples.
    fn examples(&self) -> usize;

    /// Consecutive pieces of at most `rows` examples, in order. A batch
    /// whose rows cannot be separated (streams carrying state from batch to
    /// batch) returns itself whole.
    fn split(&self, rows: usize) -> Vec<Self>;

    /// Roughly how much work the batch is (default: its examples); the
    /// largest shards start first, so no thread is left with a long one at
    /// the end.
    fn cost(&self) -> usize {
        self.examples()
    }
}

/// Character windows split by rows. Only for windows that do not carry state
/// from batch to batch: a stateful run keeps each batch whole
/// ([`TrainerConfig::shard_size`] `None`).
impl Split for crate::data::text::CharBatch {
    fn examples(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        let (batch, time) = (self.inputs.shape()[0], self.inputs.shape()[1]);
        (0..batch)
            .step_by(rows.max(1))
            .map(|first| {
                let end = (first + rows).min(batch);
                let cut = |ids: &tensor::Indices| {
                    tensor::Indices::new(
                        ids.values()[first * time..end * time].to_vec(),
                        &[end - first, time],
                    )
                };
                crate::data::text::CharBatch {
                    inputs: cut(&self.inputs),
                    targets: cut(&self.targets),
                }
            })
            .collect()
    }
}

impl Split for crate::data::Batch {
    fn examples(&self) -> usize {
        self.len()
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        crate::data::Batch::split(self, rows)
    }

    fn cost(&self) -> usize {
        self.len() * self.time_steps()
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

impl BatchSource for crate::data::text::CharLoader<'_> {
    type Batch = crate::data::text::CharBatch;

    fn num_batches(&self) -> usize {
        crate::data::text::CharLoader::num_batches(self)
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = crate::data::text::CharBatch> + '_ {
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

/// The default rows per shard: small enough that a batch of 64 keeps 4
/// cores busy, large enough that each step's products stay efficient.
pub const DEFAULT_SHARD_SIZE: usize = 16;

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
    /// Cut each batch into shards of this many rows, recorded at the same
    /// time on several threads (see [Data parallelism](self#data-parallelism));
    /// `None` records each batch whole on one tape. The numbers depend on the
    /// shard size, never on the number of threads.
    pub shard_size: Option<usize>,
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
            shard_size: Some(DEFAULT_SHARD_SIZE),
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
        if self.shard_size == Some(0) {
            return bad("shard_size must be at least 1".into());
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
    fn add(&mut self, shard: &ShardResult) {
        self.loss.add(shard.loss, shard.examples);
        self.examples += shard.examples;
        self.tokens += shard.tokens;
        if let Some(correct) = shard.correct {
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

/// What one shard's pass produced: its figures, and its gradients if it was recorded.
struct ShardResult {
    loss: f64,
    examples: usize,
    correct: Option<usize>,
    tokens: usize,
    grads: Option<Gradients<f32>>,
}

/// Runs `task` on each shard of `batch` at the same time, one tape per shard.
///
/// With `seed: Some(s)` the pass is a training pass (tapes made by
/// [`Tape::training`], each shard's loss weighted by its share of the batch
/// and backpropagated); with `None` nothing is recorded. Results come back in
/// shard order.
fn run_shards<M, B, K>(
    model: &M,
    task: &K,
    batch: &B,
    shard_size: Option<usize>,
    seed: Option<u64>,
) -> Vec<Result<ShardResult, BackwardError>>
where
    M: Sync,
    B: Split + Sync,
    K: Task<M, B> + Sync,
{
    let shards = match shard_size {
        Some(rows) if rows < batch.examples() => batch.split(rows),
        _ => Vec::new(),
    };
    let pieces: &[B] = if shards.is_empty() {
        std::slice::from_ref(batch)
    } else {
        &shards
    };
    let total = pieces.iter().map(Split::examples).sum::<usize>().max(1);
    // Largest first (a stable order, so ties keep shard order); results are put back in shard order.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pieces[i].cost()));
    let run_one = |i: usize| -> Result<ShardResult, BackwardError> {
        let piece = &pieces[i];
        let tape = match seed {
            Some(seed) => Tape::training(shard_seed(seed, i)),
            None => Tape::no_grad(),
        };
        let output = task.step(model, &tape, piece);
        let loss = f64::from(output.loss.item());
        let grads = match seed {
            Some(_) if loss.is_finite() => {
                let share = output.examples as f32 / total as f32;
                let weighted = if pieces.len() == 1 {
                    output.loss.clone()
                } else {
                    output.loss.mul_scalar(share)
                };
                Some(tape.backward(&weighted)?)
            }
            _ => None,
        };
        Ok(ShardResult {
            loss,
            examples: output.examples,
            correct: output.correct,
            tokens: output.tokens,
            grads,
        })
    };
    let mut results = tensor::parallel_map(pieces.len(), |k| (order[k], run_one(order[k])));
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Runs `task` over every batch of `source` without recording (`no_grad`
/// tapes, dropout off), shards of `shard_size` rows at the same time, and
/// averages its loss and accuracy.
pub fn evaluate<M, S, K>(model: &M, source: &S, task: &K, shard_size: Option<usize>) -> EpochMetrics
where
    M: Sync,
    S: BatchSource,
    S::Batch: Split + Sync,
    K: Task<M, S::Batch> + Sync,
{
    let started = Instant::now();
    let mut meter = Meter::default();
    task.reset(model);
    for batch in source.epoch(0) {
        for shard in run_shards(model, task, &batch, shard_size, None) {
            meter.add(&shard.expect("nothing is backpropagated in evaluation"));
        }
    }
    meter.finish(started)
}

/// SplitMix64's finalizer: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of one training step: distinct for every (seed, epoch, step).
fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    mix(seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (step as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
}

/// The seed of one shard's tape within a step.
fn shard_seed(step_seed: u64, shard: usize) -> u64 {
    mix(step_seed ^ (shard as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
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
    /// let report = trainer.fit(&mut model, &mut adam, &loader, Some(&loader), &|model: &Classifier, tape: &Tape, batch: &train::data::Batch| {
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
        task: &K,
    ) -> Result<FitReport, TrainError>
    where
        M: Module<f32> + Sync,
        S: BatchSource,
        S::Batch: Split + Sync,
        K: Task<M, S::Batch> + Sync,
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
            let validated =
                validation.map(|source| evaluate(model, source, task, config.shard_size));
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
            task.after_epoch(model, epoch + 1);
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
        task: &K,
    ) -> Result<EpochMetrics, TrainError>
    where
        M: Module<f32> + Sync,
        S: BatchSource,
        S::Batch: Split + Sync,
        K: Task<M, S::Batch> + Sync,
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
            let seed = step_seed(config.seed, epoch, step);
            let shards = run_shards(&*model, task, &batch, config.shard_size, Some(seed));
            // The tapes are gone: the weights are no longer shared and update in place.
            let mut grads: Option<Gradients<f32>> = None;
            for shard in shards {
                let shard = shard.map_err(TrainError::Backward)?;
                if !shard.loss.is_finite() {
                    return Err(diverged(format!("the loss is {}", shard.loss)));
                }
                meter.add(&shard);
                let shard_grads = shard.grads.expect("a finite loss is backpropagated");
                match &mut grads {
                    None => grads = Some(shard_grads),
                    Some(total) => total.add_params(&shard_grads),
                }
            }
            let Some(mut grads) = grads else {
                continue; // an empty batch
            };
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

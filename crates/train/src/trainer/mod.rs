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
//!         set the learning rate from the schedule        (lr₀ × factor of epoch and step)
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
//!
//! # Denormal numbers
//! Gradients that fade along a long sequence become *denormal* numbers
//! (below `f32::MIN_POSITIVE`), and many CPUs take a slow microcode path for
//! every operation on one: a GRU epoch ran 4x slower on such a machine. A fit
//! therefore runs with denormals flushed to zero
//! ([`TrainerConfig::flush_denormals`], on by default; the pool's workers
//! take the same mode), as PyTorch does with `torch.set_flush_denormal(True)`.
//! The values lost are below `1e-38`: nothing a weight update can see.

mod config;
mod files;
mod shards;
mod task;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autograd::Gradients;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nn::{Metadata, Module};
use tensor::fast::denormals::flush_denormals;

use crate::history::History;
use crate::optim::{clip_grad_norm, global_norm, ClipError, Optimizer};

pub use config::{Monitor, TrainError, TrainerConfig, DEFAULT_SHARD_SIZE};
pub use files::{RunDirectory, BEST_CHECKPOINT, LAST_CHECKPOINT};
pub use shards::{evaluate, EpochMetrics};
use shards::{run_shards, step_seed, Meter};
pub use task::{BatchSource, Split, StepOutput, Task};

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
        // Freed activations and gradients stay in the process for the next step.
        tensor::fast::heap::reuse_large_buffers();
        if self.config.flush_denormals {
            flush_denormals(|| self.fit_epochs(model, optimizer, train, validation, task))
        } else {
            self.fit_epochs(model, optimizer, train, validation, task)
        }
    }

    /// [`Trainer::fit`] in the floating-point mode it chose.
    fn fit_epochs<M, S, K>(
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
        // The schedule scales the rate the optimizer came with (a resumed
        // optimizer's saved rate is overwritten before its first update).
        let base_learning_rate = optimizer.learning_rate();
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
            let trained =
                self.train_epoch(epoch, model, optimizer, base_learning_rate, train, task)?;
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
        base_learning_rate: f64,
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
            let update = epoch * train.num_batches() + step;
            let total_updates = config.epochs * train.num_batches();
            let factor = config.lr_schedule.factor(update, total_updates);
            optimizer.set_learning_rate(base_learning_rate * factor);
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

//! The training loop: the one every program in this project runs.
//!
//! ```text
//! for epoch in 1..=epochs:
//!     for each batch:                              (train.epoch(epoch): a fixed order per epoch)
//!         tape = Tape::training(seed of (epoch, step))   a fresh graph; its dropout masks
//!         loss = task.step(model, tape, batch)     the forward pass, recorded
//!         grads = tape.backward(loss)              the graph is freed here, every step
//!         clip grads to a global norm; stop on NaN/inf
//!         set the learning rate from the schedule  (lr₀ × factor of epoch and step)
//!         optimizer.step(model, grads)             weights updated in place
//!     evaluate on the validation batches (no tape recording)
//!     write history.csv and the curves; save best.safetensors if the monitored
//!     metric improved, and last.safetensors (weights, optimizer state, epoch,
//!     history) every epoch; stop early after `patience` epochs without improvement
//! ```
//!
//! What a problem adds to this is a [`Task`]: how one batch becomes a loss
//! (a closure is enough). Where batches come from is a [`BatchSource`]: an
//! epoch's batches depend only on the epoch number, so a run stopped after
//! epoch `k` and resumed ([`TrainerConfig::resume`]) sees exactly the batches
//! and dropout masks an uninterrupted run would: the numbers come out bit
//! for bit the same.
//!
//! How a batch's forward and backward run is the trainer's [`BatchRunner`]
//! (`step.rs`): [`WholeBatch`] records it on one tape, as above. The
//! appendix's [`Shards`](crate::fast) records shards of it on every
//! core and adds their gradients in shard order: opt in with
//! [`Trainer::with_runner`].
//!
//! Every file is written atomically (`tensor::durable`), so a crash leaves
//! the previous version or the new one, and a lock keeps two runs from
//! writing into one directory (`files.rs`).

mod config;
mod files;
mod step;
mod task;

use std::path::{Path, PathBuf};
use std::time::Instant;

use autograd::Gradients;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nn::Module;

use crate::history::History;
use crate::optim::{ClipError, Optimizer};

pub use config::{Monitor, TrainError, TrainerConfig};
use files::RunState;
pub use files::{load_weights, RunDirectory, BEST_CHECKPOINT, LAST_CHECKPOINT};
use step::Meter;
pub use step::{
    evaluate, record, step_seed, tape_seed, BatchRunner, EpochMetrics, TapeResult, WholeBatch,
};
pub use task::{BatchSource, StepOutput, Task};

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch's metrics (resumed runs included).
    pub history: History,
    /// The epoch (from 1) whose weights are in `best.safetensors`, and its monitored value.
    pub best: Option<(usize, f64)>,
    /// The figure that picked `best`: the monitor's (`val_loss`,
    /// `val_accuracy`), or the training `loss` when there was no validation.
    pub monitored: String,
    /// The run's best checkpoint.
    pub best_checkpoint: PathBuf,
    /// The run's last checkpoint.
    pub last_checkpoint: PathBuf,
    /// Whether early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// The epochs this call trained (0 if a resumed run was already complete).
    pub epochs_trained: usize,
}

/// The training loop, bound to an output directory (see the [module docs](self)),
/// running each batch with `R` ([`WholeBatch`] unless told otherwise).
pub struct Trainer<R = WholeBatch> {
    config: TrainerConfig,
    directory: RunDirectory,
    runner: R,
}

impl Trainer {
    /// Checks the configuration (and, to resume, that the run in the output
    /// directory has the same settings), then creates the output directory,
    /// takes its lock and removes temporary files an interrupted run left there.
    ///
    /// # Errors
    /// A setting out of range, a run that cannot be resumed with these
    /// settings, a directory that cannot be created, or one another run is
    /// writing into.
    pub fn new(config: TrainerConfig) -> Result<Trainer, TrainError> {
        config.validate()?;
        if config.resume {
            // Before the directory is made or locked: a refused resume writes nothing.
            files::check_resume(&config)?;
        }
        let directory = RunDirectory::open(&config.out_dir)?;
        Ok(Trainer {
            config,
            directory,
            runner: WholeBatch,
        })
    }
}

impl<R> Trainer<R> {
    /// The same trainer running each batch with `runner` (e.g. the appendix's
    /// [`Shards`](crate::fast): a batch on every core).
    pub fn with_runner<S>(self, runner: S) -> Trainer<S> {
        Trainer {
            config: self.config,
            directory: self.directory,
            runner,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// How each batch runs.
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        self.directory.path()
    }

    /// Trains `model` with `optimizer` on `train`, validating on
    /// `validation` after every epoch (see the [module docs](self)); a
    /// validation source with no batches counts as none.
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::{Embedding, Linear, Lstm, Module};
    /// use rand::{rngs::StdRng, SeedableRng};
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
    /// A [`TrainError`]: an empty training set, a checkpoint or history that
    /// cannot be written, a run that cannot be resumed, a loss, gradient or
    /// weight that is not finite (the message names the epoch and step; no
    /// checkpoint is replaced), or an optimizer that refuses.
    pub fn fit<M, S, K>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer<f32>,
        train: &S,
        validation: Option<&S>,
        task: &K,
    ) -> Result<FitReport, TrainError>
    where
        M: Module<f32>,
        S: BatchSource,
        K: Task<M, S::Batch>,
        R: BatchRunner<M, S::Batch, K>,
    {
        optimizer.validate()?;
        if train.num_batches() == 0 {
            return Err(TrainError::Config(
                "the training set has no batches: there is nothing to train on".into(),
            ));
        }
        // An empty validation set is no validation set (its loss would be NaN).
        let validation = validation.filter(|source| source.num_batches() > 0);
        // The schedule scales the rate the optimizer came with (a resumed
        // optimizer's saved rate is overwritten before its first update).
        let base_learning_rate = optimizer.learning_rate();
        let mut run = self.start(model, optimizer)?;
        let first_epoch = run.epochs_done;
        let mut stopped_early = false;
        let mut last_plateau = self.plateau_factor(&run, validation.is_some());
        for epoch in first_epoch..self.config.epochs {
            if self.config.patience.is_some_and(|p| run.stale_epochs >= p) {
                stopped_early = true;
                break;
            }
            let plateau = self.plateau_factor(&run, validation.is_some());
            if self.config.verbose && plateau < last_plateau {
                let rate = base_learning_rate * plateau;
                println!("reduce on plateau: the learning rate is now {rate:.3e}");
            }
            last_plateau = plateau;
            let rate = base_learning_rate * plateau;
            let trained = self.train_epoch(epoch, model, optimizer, rate, train, task)?;
            check_weights(&*model, epoch, train.num_batches())?;
            let validated = validation.map(|source| evaluate(model, source, task, &self.runner));
            let improved = self.end_epoch(&mut run, epoch, &trained, validated.as_ref(), train)?;
            self.save_epoch(&run, model, optimizer, improved)?;
            if self.config.verbose {
                print_epoch(
                    epoch,
                    self.config.epochs,
                    &trained,
                    validated.as_ref(),
                    improved,
                );
            }
            task.after_epoch(model, epoch + 1);
        }
        if self.config.verbose && stopped_early {
            println!(
                "early stop: {} epochs without a better {}",
                run.stale_epochs,
                self.config.monitor.name()
            );
        }
        let monitored = match validation {
            Some(_) => self.config.monitor.name(),
            None => "loss".to_string(),
        };
        Ok(FitReport {
            history: run.history,
            best: run.best,
            monitored,
            best_checkpoint: self.directory.path().join(BEST_CHECKPOINT),
            last_checkpoint: self.directory.path().join(LAST_CHECKPOINT),
            stopped_early,
            epochs_trained: run.epochs_done - first_epoch,
        })
    }

    /// The factor [`TrainerConfig::lr_plateau`] puts on the learning rate
    /// after the epochs in `run`'s history (1 without one): computed from the
    /// monitored figures alone, so a resumed run gets the same.
    fn plateau_factor(&self, run: &RunState, validated: bool) -> f64 {
        let Some(plateau) = &self.config.lr_plateau else {
            return 1.0;
        };
        let (name, lower_is_better) = match (validated, self.config.monitor) {
            (false, _) => ("loss".to_string(), true),
            (true, monitor) => (monitor.name(), monitor == Monitor::ValidationLoss),
        };
        plateau.factor(run.history.get(&name).unwrap_or(&[]), lower_is_better)
    }

    /// A fresh run's state, or the state of the run being resumed (with the
    /// model's weights and the optimizer's state from its last checkpoint).
    fn start<M: Module<f32>>(
        &mut self,
        model: &mut M,
        optimizer: &mut dyn Optimizer<f32>,
    ) -> Result<RunState, TrainError> {
        if !self.config.resume {
            return Ok(RunState::fresh(self.config.seed));
        }
        let run = self.directory.resume(&self.config, model, optimizer)?;
        if self.config.verbose {
            println!(
                "resuming {} after epoch {} of {}",
                self.directory.path().display(),
                run.epochs_done,
                self.config.epochs
            );
        }
        Ok(run)
    }

    /// Records epoch `epoch`'s figures in the run's history and decides
    /// whether it is the best so far; returns whether it is.
    ///
    /// # Errors
    /// [`TrainError::Diverged`] if a figure is not finite.
    fn end_epoch<S: BatchSource>(
        &self,
        run: &mut RunState,
        epoch: usize,
        trained: &EpochMetrics,
        validated: Option<&EpochMetrics>,
        train: &S,
    ) -> Result<bool, TrainError> {
        let mut metrics: Vec<(&str, f64)> = vec![("loss", trained.loss)];
        metrics.extend(trained.accuracy.map(|a| ("accuracy", a)));
        if let Some(validated) = validated {
            metrics.push(("val_loss", validated.loss));
            metrics.extend(validated.accuracy.map(|a| ("val_accuracy", a)));
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
        let monitored = match (self.config.monitor, validated) {
            (_, None) => trained.loss,
            (Monitor::ValidationLoss, Some(v)) => v.loss,
            (Monitor::ValidationAccuracy, Some(v)) => v.accuracy.unwrap_or(f64::NAN),
        };
        let improved = validated.is_none()
            || self
                .config
                .monitor
                .improves(monitored, run.best.map(|(_, v)| v));
        if improved {
            run.best = Some((epoch + 1, monitored));
            run.stale_epochs = 0;
        } else {
            run.stale_epochs += 1;
        }
        Ok(improved)
    }

    /// Writes the epoch's files: the best checkpoint if it `improved`, the
    /// epoch's own if every epoch is kept, the history and its curves, and
    /// the last checkpoint.
    fn save_epoch<M: Module<f32>>(
        &self,
        run: &RunState,
        model: &M,
        optimizer: &dyn Optimizer<f32>,
        improved: bool,
    ) -> Result<(), TrainError> {
        if improved {
            self.directory.save_best(&self.config, run, model)?;
        }
        if self.config.save_every_epoch {
            self.directory
                .save_epoch(&self.config, run, model, run.epochs_done)?;
        }
        self.directory.save_history(&run.history)?;
        self.directory
            .save_last(&self.config, run, model, optimizer)
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
        M: Module<f32>,
        S: BatchSource,
        K: Task<M, S::Batch>,
        R: BatchRunner<M, S::Batch, K>,
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
            let tapes = self.runner.train(&*model, task, &batch, seed);
            let Some(mut grads) =
                gather(&self.runner, tapes, &mut meter).map_err(|e| e.at(diverged))?
            else {
                continue; // an empty batch
            };
            let norm = self
                .runner
                .clip_gradients(&mut grads, config.clip_norm)
                .map_err(|e| match e {
                    ClipError::NonFiniteNorm(norm) => {
                        diverged(format!("the gradient norm is {norm}"))
                    }
                    other => TrainError::Config(other.to_string()),
                })?;
            if !norm.is_finite() {
                return Err(diverged(format!("the gradient norm is {norm}")));
            }
            let update = epoch * train.num_batches() + step;
            let total_updates = config.epochs * train.num_batches();
            let factor = config.lr_schedule.factor(update, total_updates, epoch);
            optimizer.set_learning_rate(base_learning_rate * factor);
            optimizer.step(model, &grads)?;
            bar.inc(1);
            bar.set_message(progress_message(&meter, started));
        }
        bar.finish_and_clear();
        Ok(meter.finish(started))
    }
}

/// Checks, after epoch `epoch`'s updates and before anything is saved,
/// that every weight of `model` is finite.
///
/// # Errors
/// [`TrainError::Diverged`] naming the first parameter that is not.
fn check_weights<M: Module<f32>>(model: &M, epoch: usize, steps: usize) -> Result<(), TrainError> {
    let bad = model
        .named_params()
        .into_iter()
        .find(|(_, param)| param.value().to_vec().iter().any(|x| !x.is_finite()));
    match bad {
        None => Ok(()),
        Some((name, _)) => Err(TrainError::Diverged {
            epoch: epoch + 1,
            step: steps,
            what: format!("the weights {name} hold NaN or infinite values after the update"),
        }),
    }
}

/// What stopped a step before its update.
enum StepProblem {
    /// Backpropagation failed.
    Backward(autograd::BackwardError),
    /// A tape's loss is not finite.
    Loss(f64),
}

impl StepProblem {
    /// The error, with `diverged` naming the epoch and step of a non-finite loss.
    fn at(self, diverged: impl Fn(String) -> TrainError) -> TrainError {
        match self {
            StepProblem::Backward(error) => TrainError::Backward(error),
            StepProblem::Loss(loss) => diverged(format!("the loss is {loss}")),
        }
    }
}

/// Meters each of a step's tapes and adds their gradients, in tape order,
/// as `runner` adds them; `None` for a step that recorded nothing (an empty
/// batch).
fn gather<M, B, K>(
    runner: &impl BatchRunner<M, B, K>,
    tapes: Vec<Result<TapeResult, autograd::BackwardError>>,
    meter: &mut Meter,
) -> Result<Option<Gradients<f32>>, StepProblem> {
    let mut grads: Option<Gradients<f32>> = None;
    for tape in tapes {
        let tape = tape.map_err(StepProblem::Backward)?;
        if !tape.loss.is_finite() {
            return Err(StepProblem::Loss(tape.loss));
        }
        meter.add(&tape);
        let tape_grads = tape.grads.expect("a finite loss is backpropagated");
        match &mut grads {
            None => grads = Some(tape_grads),
            Some(total) => runner.add_gradients(total, &tape_grads),
        }
    }
    Ok(grads)
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

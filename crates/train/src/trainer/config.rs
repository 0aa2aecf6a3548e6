//! How a run is set up ([`TrainerConfig`], [`Monitor`]) and what can stop it ([`TrainError`]).

use std::fmt;
use std::path::PathBuf;

use autograd::BackwardError;
use nn::{CheckpointError, Metadata};
use tensor::durable::LockError;

#[cfg(doc)]
use super::Trainer;
use crate::optim::{LrSchedule, OptimError, ReduceOnPlateau};

/// Which validation figure picks the best checkpoint and drives early stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Monitor {
    /// The validation loss, lower is better (Keras' default)
    #[default]
    #[value(name = "val_loss")]
    ValidationLoss,
    /// The validation accuracy, higher is better
    #[value(name = "val_accuracy")]
    ValidationAccuracy,
}

crate::text_as_choice!(Monitor);

impl Monitor {
    /// The metric's name in the history (`val_loss`, `val_accuracy`).
    pub fn name(self) -> String {
        self.to_string()
    }

    pub(super) fn improves(self, value: f64, best: Option<f64>) -> bool {
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
    /// How the learning rate falls over the run, as a factor of the
    /// optimizer's rate when [`Trainer::fit`](super::Trainer::fit) is called;
    /// set before every update from the epoch and step alone.
    pub lr_schedule: LrSchedule,
    /// Lower the learning rate when the monitored figure stops improving
    /// (`None`: never); on top of `lr_schedule`.
    pub lr_plateau: Option<ReduceOnPlateau>,
    /// Continue the run whose `last.safetensors` is in `out_dir`; refused,
    /// before anything is written, if a setting other than `epochs` differs.
    pub resume: bool,
    /// Print a progress bar and a line per epoch.
    pub verbose: bool,
    /// Also keep each epoch's weights, as `epoch_<n>.safetensors` (Keras'
    /// `ModelCheckpoint("ckpt_{epoch}")`); off by default.
    pub save_every_epoch: bool,
    /// Written into every checkpoint: what rebuilds the model (its
    /// configuration, a vocabulary) and the settings that define the run
    /// (the data, the batch size, the learning rate). A resumed run must
    /// have the same, as it must have the same [`TrainerConfig::settings`].
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
            lr_schedule: LrSchedule::default(),
            lr_plateau: None,
            resume: false,
            verbose: true,
            save_every_epoch: false,
            metadata: Metadata::new(),
        }
    }

    /// The loop's own settings as checkpoint metadata (`loop.seed`,
    /// `loop.clip_norm`, ...): a resumed run must have the same, as it must
    /// have the same [`TrainerConfig::metadata`]. Only `epochs` may change.
    pub fn settings(&self) -> Metadata {
        let none = || "none".to_string();
        [
            ("loop.seed", self.seed.to_string()),
            (
                "loop.clip_norm",
                self.clip_norm.map_or_else(none, |c| c.to_string()),
            ),
            (
                "loop.patience",
                self.patience.map_or_else(none, |p| p.to_string()),
            ),
            ("loop.monitor", self.monitor.name()),
            ("loop.lr_schedule", self.lr_schedule.shape.to_string()),
            ("loop.final_lr", self.lr_schedule.final_factor.to_string()),
        ]
        .into_iter()
        .chain(self.optional_settings())
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// The settings of the features that are off by default, written only
    /// when on (so the checkpoints of runs without them keep resuming).
    fn optional_settings(&self) -> Vec<(&'static str, String)> {
        let schedule = &self.lr_schedule;
        let mut settings = Vec::new();
        if schedule.warmup_steps > 0 {
            settings.push(("loop.warmup_steps", schedule.warmup_steps.to_string()));
            settings.push(("loop.warmup_start", schedule.warmup_start.to_string()));
        }
        if schedule.shape == crate::optim::LrShape::Step {
            settings.push(("loop.step_epochs", schedule.step_epochs.to_string()));
            settings.push(("loop.gamma", schedule.gamma.to_string()));
        }
        if let Some(plateau) = &self.lr_plateau {
            settings.push(("loop.plateau_factor", plateau.factor.to_string()));
            settings.push(("loop.plateau_patience", plateau.patience.to_string()));
            settings.push(("loop.plateau_threshold", plateau.threshold.to_string()));
            settings.push(("loop.plateau_min_factor", plateau.min_factor.to_string()));
        }
        settings
    }

    /// What a checkpoint of this run must carry: [`TrainerConfig::metadata`]
    /// and [`TrainerConfig::settings`].
    pub fn run_metadata(&self) -> Metadata {
        let mut metadata = self.metadata.clone();
        metadata.extend(self.settings());
        metadata
    }

    pub(super) fn validate(&self) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Config(message));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if let Some(clip) = self.clip_norm {
            if !(clip > 0.0 && clip.is_finite()) {
                return bad(format!("clip_norm must be a positive number, got {clip}"));
            }
        }
        self.lr_schedule.validate().map_err(TrainError::Config)?;
        if let Some(plateau) = &self.lr_plateau {
            plateau.validate().map_err(TrainError::Config)?;
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
    /// Another process is training into the same directory (it holds this lock file).
    Locked(PathBuf),
    /// A checkpoint could not be written or read.
    Checkpoint(CheckpointError),
    /// The run cannot be resumed as asked.
    Resume(String),
    /// A checkpoint's weights do not fit the model (every problem named).
    Load(String),
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
            TrainError::Load(message) => write!(f, "{message}"),
            TrainError::Diverged { epoch, step, what } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: {what}; no checkpoint \
                 was replaced (lower the learning rate, or clip the gradients)"
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

impl From<LockError> for TrainError {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Held(path) => TrainError::Locked(path),
            LockError::Io { path, source } => TrainError::Io {
                path,
                action: "cannot lock",
                source,
            },
        }
    }
}

impl From<OptimError> for TrainError {
    fn from(error: OptimError) -> Self {
        TrainError::Optimizer(error)
    }
}

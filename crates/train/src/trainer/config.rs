//! How a run is set up ([`TrainerConfig`], [`Monitor`]) and what can stop it ([`TrainError`]).

use std::fmt;
use std::path::PathBuf;

use autograd::BackwardError;
use nn::{CheckpointError, Metadata};

#[cfg(doc)]
use super::Trainer;
use crate::optim::{LrSchedule, OptimError};

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
    /// How the learning rate falls over the run, as a factor of the
    /// optimizer's rate when [`Trainer::fit`](super::Trainer::fit) is called;
    /// set before every update from the epoch and step alone.
    pub lr_schedule: LrSchedule,
    /// Continue the run whose `last.safetensors` is in `out_dir`.
    pub resume: bool,
    /// Print a progress bar and a line per epoch.
    pub verbose: bool,
    /// Cut each batch into shards of this many rows, recorded at the same
    /// time on several threads (see [Data parallelism](super#data-parallelism));
    /// `None` records each batch whole on one tape. The numbers depend on the
    /// shard size, never on the number of threads.
    pub shard_size: Option<usize>,
    /// Run with denormal numbers flushed to zero (`tensor::fast::denormals`,
    /// PyTorch's `set_flush_denormal`): gradients that fade along a sequence
    /// otherwise reach the CPU's slow path for tiny numbers (4.2x slower
    /// GRU epochs measured). On by default; only values below `1.2e-38` change.
    pub flush_denormals: bool,
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
            lr_schedule: LrSchedule::Constant,
            resume: false,
            verbose: true,
            shard_size: Some(DEFAULT_SHARD_SIZE),
            flush_denormals: true,
            metadata: Metadata::new(),
        }
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

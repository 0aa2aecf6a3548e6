//! The example programs' command lines: the options of the training loop,
//! and how a program starts and ends.
//!
//! [`LoopOptions`] are the options every training program shares (epochs,
//! learning rate, clipping, ...), turned into a [`TrainerConfig`] in one
//! call. [`parse_options`] and [`exit_code`] are a program's first and last
//! lines: a user's mistake, in an option or later, ends with a message and
//! exit code 1. The checks of a value are [`options`](crate::options)'.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use nn::Metadata;

use crate::optim::{LrSchedule, LrShape, ReduceOnPlateau};
pub use crate::options::{
    at_least_one, non_empty_path, non_negative, positive, positive_fraction, probability,
};
use crate::trainer::{Monitor, TrainerConfig};

/// The training loop's options (`clap::Args`, flattened into a program's
/// options): each field's doc is its `--help`. A program changes a default
/// with `#[command(mut_arg("lr", |a| a.default_value("0.002")))]`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoopOptions {
    /// Passes over the training set
    #[arg(long, default_value = "2", value_parser = at_least_one)]
    pub epochs: usize,
    /// Examples per batch
    #[arg(long, default_value = "64", value_parser = at_least_one)]
    pub batch_size: usize,
    /// Adam's learning rate
    #[arg(long, default_value = "0.001", value_parser = positive)]
    pub lr: f64,
    /// How the learning rate falls over the run
    #[arg(long, value_enum, default_value_t = LrShape::Constant)]
    pub lr_schedule: LrShape,
    /// The learning rate at the end of a linear or cosine schedule, as a fraction of --lr
    #[arg(long, default_value = "0", value_parser = probability)]
    pub final_lr: f64,
    /// Updates of linear warm-up before the schedule (0: none)
    #[arg(long, value_name = "UPDATES", default_value = "0")]
    pub warmup_steps: usize,
    /// The warm-up's first learning rate, as a fraction of --lr
    #[arg(long, default_value = "0.1", value_parser = positive_fraction)]
    pub warmup_start: f64,
    /// The step schedule's period, in epochs
    #[arg(long, value_name = "EPOCHS", default_value = "1", value_parser = at_least_one)]
    pub step_epochs: usize,
    /// The step schedule's factor per period
    #[arg(long, default_value = "0.5", value_parser = positive_fraction)]
    pub gamma: f64,
    /// Multiply the learning rate by --plateau-factor after this many epochs
    /// without a better --monitor figure (reduce on plateau; off by default)
    #[arg(long, value_name = "EPOCHS")]
    pub plateau_patience: Option<usize>,
    /// The factor of each reduction on plateau
    #[arg(long, default_value = "0.1", value_parser = positive_fraction)]
    pub plateau_factor: f64,
    /// Clip gradients to this global norm (0 = off)
    #[arg(long, default_value = "5", value_parser = non_negative)]
    pub clip: f64,
    /// Stop after this many epochs without a better --monitor figure
    #[arg(long, value_parser = at_least_one)]
    pub patience: Option<usize>,
    /// The validation figure that picks best.safetensors and drives --patience
    #[arg(long, value_enum, default_value_t = Monitor::ValidationLoss)]
    pub monitor: Monitor,
    /// Seed of initialization, shuffles and dropout
    #[arg(long, default_value = "0")]
    pub seed: u64,
    /// Where the history, curves and checkpoints go
    #[arg(long, default_value = "runs", value_parser = non_empty_path)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (only --epochs may
    /// differ from the run's settings)
    #[arg(long)]
    pub resume: bool,
    /// Also keep each epoch's weights, as epoch_N.safetensors in --out (N the epoch)
    #[arg(long)]
    pub save_every_epoch: bool,
    /// Rows per shard: each batch is cut into shards of this many rows,
    /// recorded at the same time on the cores. The results depend on it, not
    /// on the number of threads; 16 suits 2 to 4 cores, 8 keeps 8 busy
    /// (benches/README.md, "More cores")
    #[arg(long, value_name = "ROWS", default_value_t = SHARD_ROWS, value_parser = at_least_one)]
    pub shard_rows: usize,
}

/// The default `--shard-rows` (the training appendix's
/// `fast::DEFAULT_SHARD_SIZE`).
pub const SHARD_ROWS: usize = 16;

impl LoopOptions {
    /// The trainer's configuration for these options, writing `metadata`
    /// (with the learning rate and the batch size, which a resumed run must
    /// keep) into every checkpoint.
    pub fn trainer_config(&self, mut metadata: Metadata) -> TrainerConfig {
        metadata.insert("loop.lr".into(), self.lr.to_string());
        metadata.insert("loop.batch_size".into(), self.batch_size.to_string());
        shard_rows_metadata(&mut metadata, self.shard_rows);
        TrainerConfig {
            seed: self.seed,
            clip_norm: (self.clip > 0.0).then_some(self.clip),
            patience: self.patience,
            monitor: self.monitor,
            lr_schedule: LrSchedule {
                warmup_steps: self.warmup_steps,
                warmup_start: self.warmup_start,
                step_epochs: self.step_epochs,
                gamma: self.gamma,
                ..LrSchedule::new(self.lr_schedule, self.final_lr)
            },
            lr_plateau: self
                .plateau_patience
                .map(|patience| ReduceOnPlateau::new(self.plateau_factor, patience)),
            resume: self.resume,
            save_every_epoch: self.save_every_epoch,
            metadata,
            ..TrainerConfig::new(self.epochs, &self.out)
        }
    }
}

/// Writes `loop.shard_rows` into a run's metadata when it is not the
/// default (so the checkpoints of runs with the default keep resuming): the
/// shards change the numbers, so a resumed run must keep them.
pub fn shard_rows_metadata(metadata: &mut Metadata, shard_rows: usize) {
    if shard_rows != SHARD_ROWS {
        metadata.insert("loop.shard_rows".into(), shard_rows.to_string());
    }
}

/// Parses the program's options with `clap`.
///
/// `Err` holds the code to exit with after clap has printed its text: 0 after
/// `--help` or `--version`, 1 after a bad option, the same code as every other
/// user mistake in these programs (clap's own `parse` exits with 2).
pub fn parse_options<O: clap::Parser>() -> Result<O, ExitCode> {
    // A file-size limit (`ulimit -f`) then fails a write, naming the file,
    // instead of killing the program in the middle of it.
    tensor::durable::report_file_size_limit_as_error();
    O::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// The exit code of a program's result: 0, or 1 after printing
/// `program: message` on standard error.
pub fn exit_code<E: Display>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{program}: {message}");
            ExitCode::FAILURE
        }
    }
}

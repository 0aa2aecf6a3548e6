//! The example programs' command lines: the options of the training loop,
//! checks for values, and how a program starts and ends.
//!
//! [`LoopOptions`] are the options every training program shares (epochs,
//! learning rate, clipping, ...), turned into a [`TrainerConfig`] in one
//! call. Each check is a plain `fn(&str) -> Result<T, String>`, which is
//! what a `clap` value parser takes: a bad value is reported with the
//! option's name, and the program exits with a message instead of a panic.
//! [`parse_options`] and [`exit_code`] are a program's first and last lines:
//! a user's mistake, in an option or later, ends with a message and exit code 1.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use nn::Metadata;

use crate::optim::{LrSchedule, LrShape};
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
    /// Continue the run in --out from its last checkpoint
    #[arg(long)]
    pub resume: bool,
}

impl LoopOptions {
    /// The trainer's configuration for these options, writing `metadata`
    /// into every checkpoint.
    pub fn trainer_config(&self, metadata: Metadata) -> TrainerConfig {
        TrainerConfig {
            seed: self.seed,
            clip_norm: (self.clip > 0.0).then_some(self.clip),
            patience: self.patience,
            monitor: self.monitor,
            lr_schedule: LrSchedule::new(self.lr_schedule, self.final_lr),
            resume: self.resume,
            metadata,
            ..TrainerConfig::new(self.epochs, &self.out)
        }
    }
}

/// Parses the program's options with `clap`.
///
/// `Err` holds the code to exit with after clap has printed its text: 0 after
/// `--help` or `--version`, 1 after a bad option, the same code as every other
/// user mistake in these programs (clap's own `parse` exits with 2).
pub fn parse_options<O: clap::Parser>() -> Result<O, ExitCode> {
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

/// A whole number of at least 1.
///
/// # Errors
/// If `text` is not a whole number or is 0.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// A finite number greater than 0 (a learning rate, a clipping norm).
///
/// # Errors
/// If `text` is not a number, or not finite and positive.
pub fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number greater than 0, got {x}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A finite number of at least 0 (0 can mean "off").
///
/// # Errors
/// If `text` is not a number, or negative or not finite.
pub fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Ok(x) => Err(format!("must be a finite number of at least 0, got {x}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A probability in `[0, 1)` (a dropout rate).
///
/// # Errors
/// If `text` is not a number in `[0, 1)`.
pub fn probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        Ok(p) => Err(format!("must be in [0, 1), got {p}")),
        Err(_) => Err(format!("{text:?} is not a number")),
    }
}

/// A path that is not empty.
///
/// # Errors
/// If `text` is empty.
pub fn non_empty_path(text: &str) -> Result<std::path::PathBuf, String> {
    if text.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(text.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert_eq!(at_least_one("0").unwrap_err(), "must be at least 1");
        assert!(at_least_one("-1")
            .unwrap_err()
            .contains("not a whole number"));
        assert_eq!(positive("1e-3"), Ok(1e-3));
        for bad in ["0", "-1", "NaN", "inf"] {
            assert!(
                positive(bad).unwrap_err().contains("greater than 0"),
                "{bad}"
            );
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.5").is_err());
        assert_eq!(probability("0.5"), Ok(0.5));
        for bad in ["1", "1.5", "-0.1", "NaN"] {
            assert!(probability(bad).unwrap_err().contains("[0, 1)"), "{bad}");
        }
        assert!(non_empty_path("").is_err());
    }
}

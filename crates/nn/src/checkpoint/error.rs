//! What can be wrong with a checkpoint: each [`Problem`], and the one
//! [`CheckpointError`] that lists all of them with the file they were found in.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file could not be read, written or renamed.
    Io(String),
    /// The bytes are not a valid safetensors file (truncated, bad header, ...).
    Corrupt(String),
    /// The model has a parameter the file lacks.
    Missing {
        /// The parameter's name.
        name: String,
        /// Its shape in the model.
        shape: Vec<usize>,
    },
    /// The file has a tensor the model does not.
    Unexpected {
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// A tensor's shape differs from the parameter's.
    Shape {
        /// The tensor's name.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor the model needs is not floating-point in the file.
    Dtype {
        /// The tensor's name.
        name: String,
        /// The model's type (`F32`).
        expected: String,
        /// The type in the file.
        found: String,
    },
    /// A tensor holds NaN or infinite values (after conversion to the
    /// model's element type: a float64 `1e300` is infinite as float32).
    NonFinite {
        /// The tensor's name.
        name: String,
        /// How many of its values are NaN or infinite.
        count: usize,
        /// The row-major position of the first one.
        first: usize,
    },
    /// The content does not hash to the CRC-32 stored in the file's metadata:
    /// the file was damaged after it was written.
    Checksum {
        /// The CRC-32 the file says it has (as written: 8 hex digits, or not).
        stored: String,
        /// The CRC-32 of what was read, as 8 hex digits.
        computed: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Io(message) => write!(f, "i/o error: {message}"),
            Problem::Corrupt(message) => write!(f, "not a valid safetensors file: {message}"),
            Problem::Missing { name, shape } => write!(
                f,
                "missing tensor {name:?} (the model expects shape {shape:?})"
            ),
            Problem::Unexpected { name, shape } => write!(
                f,
                "unexpected tensor {name:?} of shape {shape:?} (the model has no such parameter)"
            ),
            Problem::Shape {
                name,
                expected,
                found,
            } => {
                write!(f, "tensor {name:?} has shape {found:?} in the file, the model expects {expected:?}")
            }
            Problem::Dtype {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor {name:?} has dtype {found} in the file, the model expects {expected}"
                )
            }
            Problem::NonFinite { name, count, first } => write!(
                f,
                "tensor {name:?} holds {count} NaN or infinite value{} (the first at position {first})",
                if *count == 1 { "" } else { "s" }
            ),
            Problem::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: the file says its content has CRC-32 {stored:?}, \
                 what was read has {computed}; the file was damaged after it was written"
            ),
        }
    }
}

/// Why a checkpoint could not be saved or loaded: the file and every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointError {
    /// `"save"` or `"load"`.
    pub operation: &'static str,
    /// The checkpoint file.
    pub path: PathBuf,
    /// Everything wrong, in a stable order (file problems, then by tensor name).
    pub problems: Vec<Problem>,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "cannot {} checkpoint {}: {count} problem{}",
            self.operation,
            self.path.display(),
            if count == 1 { "" } else { "s" }
        )?;
        if self.operation == "load" {
            write!(f, " (nothing was loaded)")?;
        }
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        let names = |wanted: fn(&Problem) -> Option<&String>| -> Vec<String> {
            self.problems.iter().filter_map(wanted).cloned().collect()
        };
        let missing = names(|p| match p {
            Problem::Missing { name, .. } => Some(name),
            _ => None,
        });
        let unexpected = names(|p| match p {
            Problem::Unexpected { name, .. } => Some(name),
            _ => None,
        });
        if let Some(hint) = super::prefix::prefix_hint(&missing, &unexpected) {
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CheckpointError {}

/// A [`CheckpointError`] of `operation` on `path`.
pub(super) fn error(
    operation: &'static str,
    path: &Path,
    problems: Vec<Problem>,
) -> CheckpointError {
    CheckpointError {
        operation,
        path: path.to_path_buf(),
        problems,
    }
}

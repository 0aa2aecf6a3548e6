//! Checkpoints: every parameter in a `safetensors` file, under PyTorch's names.
//!
//! A safetensors file is an 8-byte header length, a JSON header mapping each
//! tensor's name to its dtype, shape and byte range, then the raw
//! little-endian data. It holds no code (unlike a pickle), so loading one is
//! safe, and PyTorch reads and writes it with
//! `safetensors.torch.save_file(model.state_dict(), path)`. Because our
//! parameter names are PyTorch's (`embedding.weight`, `lstm.weight_ih_l0`,
//! `lstm.bias_hh_l0_reverse`, `fc.weight`, ...), a PyTorch model's state dict
//! loads into the same architecture here, and back.
//!
//! Three promises:
//! - **Loading is all or nothing.** The file is read and every tensor checked
//!   (present, expected, right shape) before any parameter changes. Any
//!   problem gives one [`CheckpointError`] listing *all* of them, with the
//!   file and the tensor names. Strict loading (the default, [`load`])
//!   wants exactly the model's parameters; [`load_with`] can also take a
//!   file with more or fewer tensors (PyTorch's `strict=False`) and reports
//!   what it left out.
//! - **Any floating-point file loads.** `float32`, `float64`, `float16` and
//!   `bfloat16` tensors are converted to the model's element type, as
//!   PyTorch's `load_state_dict` converts; tensors of other types (a PyTorch
//!   model's integer counters, say) are listed as skipped, not fatal.
//! - **Saving is atomic.** The bytes go to a temporary file in the same
//!   directory, which is flushed to disk and then renamed over the target: a
//!   crash leaves either the old checkpoint or the new one, never half of one.
//!
//! The file's metadata (string pairs in its header) can carry what rebuilds
//! the model: its configuration ([`ModelConfig`](crate::models::ModelConfig))
//! and, say, the vocabulary; see [`save_with_metadata`] and [`read`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tensor::{Element, Tensor};

use crate::models::config::Metadata;
use crate::module::{LoadReport, Module};

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
        Ok(())
    }
}

impl std::error::Error for CheckpointError {}

/// The safetensors dtype of our element type.
fn dtype_of<T: Element>() -> Dtype {
    if T::BYTES == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// Little-endian bytes of a tensor's elements.
fn to_bytes<T: Element>(t: &Tensor<T>) -> Vec<u8> {
    let values = t.to_vec();
    if T::BYTES == 4 {
        values
            .iter()
            .flat_map(|x| (x.to_f64() as f32).to_le_bytes())
            .collect()
    } else {
        values
            .iter()
            .flat_map(|x| x.to_f64().to_le_bytes())
            .collect()
    }
}

/// `f16` bits to the `f64` they mean (every `f16` is exact in `f64`).
fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + fraction / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// A tensor of our element type from a floating-point view, or `None` for
/// another dtype (integers, booleans).
fn from_view<T: Element>(view: &TensorView<'_>) -> Option<Tensor<T>> {
    let bytes = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16_to_f64(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([b[0], b[1]])) << 16,
                ))
            })
            .collect(),
        _ => return None,
    };
    Some(Tensor::from_vec(
        values.into_iter().map(T::from_f64).collect(),
        view.shape(),
    ))
}

/// Serializes named tensors and metadata to safetensors bytes (with
/// `{"format": "pt"}` added, as PyTorch writes).
///
/// # Panics
/// If a name repeats.
pub fn to_safetensors<T: Element>(tensors: &[(String, Tensor<T>)], metadata: &Metadata) -> Vec<u8> {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), to_bytes(t), t.shape().to_vec()))
        .collect();
    let mut views = BTreeMap::new();
    for (name, bytes, shape) in &data {
        let view = TensorView::new(dtype_of::<T>(), shape.clone(), bytes)
            .expect("byte length matches the shape");
        assert!(
            views.insert(name.clone(), view).is_none(),
            "to_safetensors: the name {name:?} appears twice"
        );
    }
    let mut header: HashMap<String, String> = metadata.clone().into_iter().collect();
    header.insert("format".to_string(), "pt".to_string());
    safetensors::serialize(views, &Some(header)).expect("serializing in-memory tensors cannot fail")
}

/// The prefix of the temporary files [`write_atomically`] writes beside its target.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` atomically: a temporary file beside it
/// (`.tmp-<name>-<pid>-<n>`), flushed, then renamed over `path`.
///
/// # Errors
/// If the temporary file cannot be written or renamed (it is removed then).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let temporary = directory.join(format!(
        "{TEMPORARY_PREFIX}{file_name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // Make the rename itself durable (best effort: not every platform can open a directory).
        if let Ok(dir) = fs::File::open(&directory) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn error(operation: &'static str, path: &Path, problems: Vec<Problem>) -> CheckpointError {
    CheckpointError {
        operation,
        path: path.to_path_buf(),
        problems,
    }
}

/// Saves named tensors (any, not only a module's) with metadata to a
/// safetensors file, atomically.
///
/// # Errors
/// If the file cannot be written.
pub fn save_tensors<T: Element>(
    tensors: &[(String, Tensor<T>)],
    metadata: &Metadata,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    write_atomically(path, &to_safetensors(tensors, metadata))
        .map_err(|e| error("save", path, vec![Problem::Io(e.to_string())]))
}

/// Saves every parameter of `module` under its dotted name, atomically.
///
/// ```
/// use nn::{checkpoint, Linear};
/// use rand::{rngs::StdRng, SeedableRng};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("fc.safetensors");
/// let layer = Linear::<f32>::new(4, 2, &mut StdRng::seed_from_u64(0));
/// checkpoint::save(&layer, &path).unwrap();
/// let mut other = Linear::<f32>::new(4, 2, &mut StdRng::seed_from_u64(1));
/// checkpoint::load(&mut other, &path).unwrap();
/// assert_eq!(other.weight().value(), layer.weight().value());
/// ```
///
/// # Errors
/// If the file cannot be written.
///
/// # Panics
/// If two parameters have the same name (see [`Module::state_dict`]).
pub fn save<T: Element>(
    module: &impl Module<T>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    save_with_metadata(module, &Metadata::new(), path)
}

/// [`save`] with metadata: a model configuration, a vocabulary, training state.
///
/// # Errors
/// If the file cannot be written.
///
/// # Panics
/// If two parameters have the same name (see [`Module::state_dict`]).
pub fn save_with_metadata<T: Element>(
    module: &impl Module<T>,
    metadata: &Metadata,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    save_tensors(&module.state_dict(), metadata, path)
}

/// A checkpoint file read into memory.
#[derive(Clone, Debug)]
pub struct Checkpoint<T: Element> {
    /// Every floating-point tensor, converted to `T`, by name.
    pub tensors: BTreeMap<String, Tensor<T>>,
    /// The header's metadata pairs (`format` included).
    pub metadata: Metadata,
    /// Tensors of other dtypes (integers, booleans), which were not read.
    pub skipped: Vec<SkippedTensor>,
}

/// A tensor [`read`] did not convert, because it is not floating-point.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SkippedTensor {
    /// Its name.
    pub name: String,
    /// Its dtype in the file (`I64`).
    pub dtype: String,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Reads a safetensors file: its floating-point tensors (converted to `T`),
/// its metadata, and the names of the tensors it skipped.
///
/// # Errors
/// If the file cannot be read or is not a valid safetensors file.
pub fn read<T: Element>(path: impl AsRef<Path>) -> Result<Checkpoint<T>, CheckpointError> {
    let path = path.as_ref();
    let bytes =
        fs::read(path).map_err(|e| error("load", path, vec![Problem::Io(e.to_string())]))?;
    let corrupt = |e: safetensors::SafeTensorError| {
        error("load", path, vec![Problem::Corrupt(format!("{e:?}"))])
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(corrupt)?;
    let file = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
    let mut checkpoint = Checkpoint {
        tensors: BTreeMap::new(),
        metadata: header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        skipped: Vec::new(),
    };
    for (name, view) in file.tensors() {
        match from_view(&view) {
            Some(tensor) => {
                checkpoint.tensors.insert(name, tensor);
            }
            None => checkpoint.skipped.push(SkippedTensor {
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
                name,
            }),
        }
    }
    checkpoint.skipped.sort();
    Ok(checkpoint)
}

/// Loads every parameter of `module` from a safetensors file, strictly: the
/// file must hold exactly the module's parameters, by name and shape.
/// Everything is checked first; on any problem nothing is changed.
///
/// # Errors
/// A [`CheckpointError`] naming the file and each missing, unexpected or
/// mis-shaped tensor, or why the file could not be read.
pub fn load<T: Element>(
    module: &mut impl Module<T>,
    path: impl AsRef<Path>,
) -> Result<LoadReport, CheckpointError> {
    load_with(module, path, true)
}

/// Loads parameters from a safetensors file; with `strict = false`,
/// parameters the file lacks keep their values and tensors the model lacks
/// (or that are not floating-point) are ignored, all listed in the report.
///
/// # Errors
/// As [`load`]; without `strict` only for unreadable files, mis-shaped
/// tensors, and non-floating-point tensors the model would need.
pub fn load_with<T: Element>(
    module: &mut impl Module<T>,
    path: impl AsRef<Path>,
    strict: bool,
) -> Result<LoadReport, CheckpointError> {
    let path = path.as_ref();
    let checkpoint = read::<T>(path)?;
    let expected: BTreeMap<String, Vec<usize>> = module
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    let mut problems = Vec::new();
    for skipped in &checkpoint.skipped {
        if expected.contains_key(&skipped.name) {
            problems.push(Problem::Dtype {
                name: skipped.name.clone(),
                expected: format!("{:?}", dtype_of::<T>()),
                found: skipped.dtype.clone(),
            });
        } else if strict {
            problems.push(Problem::Unexpected {
                name: skipped.name.clone(),
                shape: skipped.shape.clone(),
            });
        }
    }
    let wrong_dtype = |name: &String| checkpoint.skipped.iter().any(|s| &s.name == name);
    if let Err(mismatch) = module.check_state_dict(&checkpoint.tensors, strict) {
        problems.extend(
            mismatch
                .missing
                .into_iter()
                .filter(|name| !wrong_dtype(name))
                .map(|name| Problem::Missing {
                    shape: expected[&name].clone(),
                    name,
                }),
        );
        problems.extend(
            mismatch
                .unexpected
                .into_iter()
                .map(|name| Problem::Unexpected {
                    shape: checkpoint.tensors[&name].shape().to_vec(),
                    name,
                }),
        );
        problems.extend(mismatch.mismatched.into_iter().map(|m| Problem::Shape {
            name: m.name,
            expected: m.expected,
            found: m.found,
        }));
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| problem_name(a).cmp(problem_name(b)));
        return Err(error("load", path, problems));
    }
    let mut report = module
        .load_state_dict(&checkpoint.tensors, strict)
        .expect("checked above");
    report
        .unexpected
        .extend(checkpoint.skipped.iter().map(|s| s.name.clone()));
    report.unexpected.sort();
    Ok(report)
}

/// The tensor a problem is about (empty for file-level problems), for a stable order.
fn problem_name(problem: &Problem) -> &str {
    match problem {
        Problem::Io(_) | Problem::Corrupt(_) => "",
        Problem::Missing { name, .. }
        | Problem::Unexpected { name, .. }
        | Problem::Shape { name, .. }
        | Problem::Dtype { name, .. } => name,
    }
}

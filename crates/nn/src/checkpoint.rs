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
//! Two promises:
//! - **Loading is all or nothing.** The file is read and every tensor checked
//!   (present, expected, right shape, right dtype) before any parameter
//!   changes. Any problem gives one [`CheckpointError`] listing *all* of
//!   them, with the file and the tensor names.
//! - **Saving is atomic.** The bytes go to a temporary file in the same
//!   directory, which is flushed to disk and then renamed over the target: a
//!   crash leaves either the old checkpoint or the new one, never half of one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tensor::{Element, Tensor};

use crate::module::Module;

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
    /// A tensor's element type differs from the model's.
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

/// A tensor from little-endian bytes of our element type.
fn from_bytes<T: Element>(bytes: &[u8], shape: &[usize]) -> Tensor<T> {
    let values = if T::BYTES == 4 {
        bytes
            .chunks_exact(4)
            .map(|b| T::from_f64(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
            .collect()
    };
    Tensor::from_vec(values, shape)
}

/// Serializes named tensors to safetensors bytes (with `{"format": "pt"}` metadata, as PyTorch writes).
///
/// # Panics
/// If a name repeats.
pub fn to_safetensors<T: Element>(tensors: &[(String, Tensor<T>)]) -> Vec<u8> {
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
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(views, &metadata).expect("serializing in-memory tensors cannot fail")
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed, then renamed.
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
        ".{file_name}.tmp-{}-{}",
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

/// Saves named tensors (any, not only a module's) to a safetensors file, atomically.
///
/// # Errors
/// If the file cannot be written.
pub fn save_tensors<T: Element>(
    tensors: &[(String, Tensor<T>)],
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    write_atomically(path, &to_safetensors(tensors)).map_err(|e| CheckpointError {
        operation: "save",
        path: path.to_path_buf(),
        problems: vec![Problem::Io(e.to_string())],
    })
}

/// Saves every parameter of `module` under its dotted name, atomically.
///
/// # Errors
/// If the file cannot be written.
pub fn save<T: Element>(
    module: &impl Module<T>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let tensors: Vec<(String, Tensor<T>)> = module
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.value().clone()))
        .collect();
    save_tensors(&tensors, path)
}

/// Reads every tensor of a safetensors file, which must all have our element type.
///
/// # Errors
/// If the file cannot be read or parsed, or holds tensors of another dtype (all listed).
pub fn load_tensors<T: Element>(
    path: impl AsRef<Path>,
) -> Result<BTreeMap<String, Tensor<T>>, CheckpointError> {
    let path = path.as_ref();
    let error = |problems| CheckpointError {
        operation: "load",
        path: path.to_path_buf(),
        problems,
    };
    let bytes = fs::read(path).map_err(|e| error(vec![Problem::Io(e.to_string())]))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| error(vec![Problem::Corrupt(format!("{e:?}"))]))?;
    let mut tensors = BTreeMap::new();
    let mut problems = Vec::new();
    let mut entries = file.tensors();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in entries {
        if view.dtype() != dtype_of::<T>() {
            problems.push(Problem::Dtype {
                name,
                expected: format!("{:?}", dtype_of::<T>()),
                found: format!("{:?}", view.dtype()),
            });
        } else {
            tensors.insert(name, from_bytes(view.data(), view.shape()));
        }
    }
    if problems.is_empty() {
        Ok(tensors)
    } else {
        Err(error(problems))
    }
}

/// Loads every parameter of `module` from a safetensors file.
///
/// The file must hold exactly the module's parameters, by name, each with the
/// parameter's shape and the model's dtype. Everything is checked first;
/// on any problem nothing is changed and the error lists every problem.
///
/// # Errors
/// A [`CheckpointError`] naming the file and each missing, unexpected,
/// mis-shaped or wrongly typed tensor, or why the file could not be read.
pub fn load<T: Element>(
    module: &mut impl Module<T>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let error = |problems| CheckpointError {
        operation: "load",
        path: path.to_path_buf(),
        problems,
    };
    let bytes = fs::read(path).map_err(|e| error(vec![Problem::Io(e.to_string())]))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| error(vec![Problem::Corrupt(format!("{e:?}"))]))?;

    let mut problems = Vec::new();
    let expected: BTreeMap<String, Vec<usize>> = module
        .named_params()
        .into_iter()
        .map(|(name, p)| (name, p.shape().to_vec()))
        .collect();
    let mut found: BTreeMap<String, TensorView<'_>> = file.tensors().into_iter().collect();
    let mut values: HashMap<String, Tensor<T>> = HashMap::new();
    for (name, shape) in &expected {
        let Some(view) = found.remove(name) else {
            problems.push(Problem::Missing {
                name: name.clone(),
                shape: shape.clone(),
            });
            continue;
        };
        if view.dtype() != dtype_of::<T>() {
            problems.push(Problem::Dtype {
                name: name.clone(),
                expected: format!("{:?}", dtype_of::<T>()),
                found: format!("{:?}", view.dtype()),
            });
        } else if view.shape() != shape.as_slice() {
            problems.push(Problem::Shape {
                name: name.clone(),
                expected: shape.clone(),
                found: view.shape().to_vec(),
            });
        } else {
            values.insert(name.clone(), from_bytes(view.data(), shape));
        }
    }
    for (name, view) in found {
        problems.push(Problem::Unexpected {
            shape: view.shape().to_vec(),
            name,
        });
    }
    if !problems.is_empty() {
        return Err(error(problems));
    }
    for (name, param) in module.named_params_mut() {
        param.set(values.remove(&name).expect("validated above"));
    }
    Ok(())
}

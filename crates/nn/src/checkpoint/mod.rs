//! Checkpoints: every parameter in a `safetensors` file, under PyTorch's names.
//!
//! A safetensors file is an 8-byte header length, a JSON header mapping each
//! tensor's name to its dtype, shape and byte range, then the raw
//! little-endian data. It holds no code (unlike a pickle), so loading one is
//! safe, and PyTorch reads and writes it with
//! `safetensors.torch.save_file(model.state_dict(), path)`. Because our
//! parameter names are PyTorch's (`embedding.weight`, `lstm.weight_ih_l0`,
//! `lstm.bias_hh_l0_reverse`, `fc.weight`, ...), a PyTorch model's state dict
//! loads into the same architecture here, and back, **when the names match
//! exactly**: our names are the paths to our fields, so the PyTorch module's
//! attributes must be called as our fields are (`self.embedding`, `self.lstm`,
//! `self.fc`). There is no table of renamings; a file under other names
//! loads after renaming its tensors ([`strip_prefix`] and [`add_prefix`] for
//! the common case, one prefix on every name, which a failed load points
//! out), or in part with [`load_with`].
//!
//! Four promises:
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
//!   directory, which is flushed to disk and then renamed over the target
//!   (`tensor::durable`): a crash leaves either the old checkpoint or the
//!   new one, never half of one.
//! - **Damage is detected, never loaded.** Every file written here carries a
//!   CRC-32 of its content (names, dtypes, shapes, data and metadata) in its
//!   metadata, under [`CHECKSUM_KEY`]; reading verifies it, so a flipped data
//!   byte is an error, not a slightly different model. (Files from PyTorch
//!   have no checksum; they load unverified, and [`Checkpoint::verified`]
//!   says so.) A tensor holding NaN or an infinity is refused too, naming the
//!   tensor: no model can compute anything meaningful from it, and the
//!   training loop never saves one.
//!
//! The file's metadata (string pairs in its header, [`Metadata`]) can carry
//! what rebuilds the model: its configuration and, say, the vocabulary; see
//! [`save_with_metadata`] and [`read`].

mod error;
mod format;
pub mod prefix;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use safetensors::tensor::SafeTensors;
use tensor::durable::write_atomically;
use tensor::{Element, Tensor};

use crate::module::{LoadReport, Module};
use error::error;
pub use error::{CheckpointError, Problem};
use format::{content_checksum, dtype_of, from_view};
pub use format::{to_safetensors, CHECKSUM_KEY};
pub use prefix::{add_prefix, strip_prefix};

/// A checkpoint's metadata: string pairs, `key -> value`, kept in the
/// file's header beside the tensors.
pub type Metadata = BTreeMap<String, String>;

/// Saves named tensors (any, not only a module's) with metadata to a
/// safetensors file, atomically.
///
/// A tensor holding NaN or an infinity is refused, and nothing is written:
/// such a file could never be loaded, and it must not replace a good one.
///
/// # Errors
/// If a tensor is not finite ([`Problem::NonFinite`], one per tensor), or
/// the file cannot be written.
pub fn save_tensors<T: Element>(
    tensors: &[(String, Tensor<T>)],
    metadata: &Metadata,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let problems: Vec<Problem> = tensors
        .iter()
        .filter_map(|(name, tensor)| non_finite(name, tensor))
        .collect();
    if !problems.is_empty() {
        return Err(error("save", path, problems));
    }
    write_atomically(path, &to_safetensors(tensors, metadata))
        .map_err(|e| error("save", path, vec![Problem::Io(e.to_string())]))
}

/// [`Problem::NonFinite`] if `tensor` holds NaN or an infinity.
fn non_finite<T: Element>(name: &str, tensor: &Tensor<T>) -> Option<Problem> {
    let values = tensor.to_vec();
    let first = values.iter().position(|x| !x.is_finite())?;
    let count = values.iter().filter(|x| !x.is_finite()).count();
    Some(Problem::NonFinite {
        name: name.to_string(),
        count,
        first,
    })
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
    /// The header's metadata pairs (`format` included, the checksum left out).
    pub metadata: Metadata,
    /// Tensors of other dtypes (integers, booleans), which were not read.
    pub skipped: Vec<SkippedTensor>,
    /// Whether the file carried a content checksum ([`CHECKSUM_KEY`]), as
    /// every file saved here does, and it matched. `false` for a file written
    /// by another program (PyTorch's `save_file`), which is read unverified.
    pub verified: bool,
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
/// If the file cannot be read, is not a valid safetensors file, fails its
/// checksum, or holds a tensor with NaN or infinite values (see
/// [`from_safetensors`]).
pub fn read<T: Element>(path: impl AsRef<Path>) -> Result<Checkpoint<T>, CheckpointError> {
    let path = path.as_ref();
    let bytes =
        fs::read(path).map_err(|e| error("load", path, vec![Problem::Io(e.to_string())]))?;
    from_safetensors(&bytes).map_err(|problems| error("load", path, problems))
}

/// Parses the bytes of a safetensors file, as [`read`] does: the inverse of
/// [`to_safetensors`].
///
/// Never panics and never allocates more than a small multiple of
/// `bytes.len()`, whatever the bytes (`nn/tests/checkpoint_mutations.rs`
/// feeds it thousands of damaged files): every size in the header is checked
/// against the bytes that are really there before it is used.
///
/// # Errors
/// Every problem found: the bytes are not a valid safetensors file (one
/// [`Problem::Corrupt`]), the content does not match its checksum (one
/// [`Problem::Checksum`]), or tensors hold NaN or infinite values (one
/// [`Problem::NonFinite`] each, by name).
pub fn from_safetensors<T: Element>(bytes: &[u8]) -> Result<Checkpoint<T>, Vec<Problem>> {
    let corrupt = |e: safetensors::SafeTensorError| vec![Problem::Corrupt(format!("{e:?}"))];
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let file = SafeTensors::deserialize(bytes).map_err(corrupt)?;
    let mut metadata: Metadata = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut views = file.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let verified = match metadata.remove(CHECKSUM_KEY) {
        None => false,
        Some(stored) => {
            let computed = content_checksum(
                views.iter().map(|(name, view)| {
                    (
                        name.as_str(),
                        format!("{:?}", view.dtype()),
                        view.shape(),
                        view.data(),
                    )
                }),
                metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            if stored != computed {
                return Err(vec![Problem::Checksum { stored, computed }]);
            }
            true
        }
    };
    let mut checkpoint = Checkpoint {
        tensors: BTreeMap::new(),
        metadata,
        skipped: Vec::new(),
        verified,
    };
    let mut problems = Vec::new();
    for (name, view) in views {
        match from_view::<T>(&name, &view) {
            Err(problem) => problems.push(problem),
            Ok(Some(tensor)) => match non_finite(&name, &tensor) {
                Some(problem) => problems.push(problem),
                None => {
                    checkpoint.tensors.insert(name, tensor);
                }
            },
            Ok(None) => checkpoint.skipped.push(SkippedTensor {
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
                name,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
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
/// mis-shaped tensor, or why the file could not be read (damaged, or a tensor
/// holding NaN or infinite values: see [`read`]).
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
        Problem::Checksum { .. } => "",
        Problem::Missing { name, .. }
        | Problem::Unexpected { name, .. }
        | Problem::Shape { name, .. }
        | Problem::Dtype { name, .. }
        | Problem::NonFinite { name, .. } => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writer and reader agree on the content: a file reads back verified,
    /// and a one-bit change of any tensor byte, name or metadata value fails.
    #[test]
    fn the_checksum_covers_names_data_and_metadata() {
        let tensors = vec![("w".to_string(), Tensor::<f32>::ones(&[2, 2]))];
        let mut metadata = Metadata::new();
        metadata.insert("vocab".into(), "a\nb".into());
        let bytes = to_safetensors(&tensors, &metadata);
        assert!(from_safetensors::<f32>(&bytes).unwrap().verified);
        let flip = |from: &[u8], to: &[u8]| {
            let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
            let mut damaged = bytes.clone();
            damaged[at..at + to.len()].copy_from_slice(to);
            from_safetensors::<f32>(&damaged).unwrap_err()
        };
        for problems in [
            flip(b"\"w\"", b"\"v\""),
            flip(b"a\\nb", b"a\\nc"),
            flip(&1.0f32.to_le_bytes(), &1.5f32.to_le_bytes()),
        ] {
            assert!(
                matches!(problems[..], [Problem::Checksum { .. }]),
                "{problems:?}"
            );
        }
    }
}

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
//! - **Damage is detected, never loaded.** Every file written here carries a
//!   CRC-32 of its content (names, dtypes, shapes, data and metadata) in its
//!   metadata, under [`CHECKSUM_KEY`]; reading verifies it, so a flipped data
//!   byte is an error, not a slightly different model. (Files from PyTorch
//!   have no checksum; they load unverified, and [`Checkpoint::verified`]
//!   says so.) A tensor holding NaN or an infinity is refused too, naming the
//!   tensor: no model can compute anything meaningful from it, and the
//!   training loop never saves one.
//!
//! The file's metadata (string pairs in its header) can carry what rebuilds
//! the model: its configuration ([`ModelConfig`](crate::models::ModelConfig))
//! and, say, the vocabulary; see [`save_with_metadata`] and [`read`].

use std::collections::BTreeMap;
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

/// The metadata key under which a file's content checksum is stored: a CRC-32
/// as 8 lowercase hex digits.
pub const CHECKSUM_KEY: &str = "tapegrad.crc32";

/// CRC-32 as in gzip, zip and PNG (IEEE 802.3 polynomial, reflected): a
/// checksum made to catch accidental damage. Every burst of up to 32 flipped
/// bits is caught, and any other damage slips through with probability
/// 2^-32. Computed a byte at a time from a 256-entry table.
struct Crc32(u32);

impl Crc32 {
    /// Entry `i`: the CRC of the single byte `i`, worked out bit by bit.
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };

    fn new() -> Crc32 {
        Crc32(!0)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = Self::TABLE[((self.0 ^ u32::from(byte)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    /// A length-prefixed field, so that `("ab", "c")` and `("a", "bc")` differ.
    fn field(&mut self, bytes: &[u8]) {
        self.update(&(bytes.len() as u64).to_le_bytes());
        self.update(bytes);
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

/// The CRC-32 of a checkpoint's content: each tensor (sorted by name) as its
/// name, dtype, shape and raw bytes, then each metadata pair (sorted by key)
/// but the checksum's own. The JSON header's layout (key order, offsets,
/// padding) is not content, so any writer's file of the same tensors and
/// metadata has the same checksum.
fn content_checksum<'a>(
    tensors: impl IntoIterator<Item = (&'a str, String, &'a [usize], &'a [u8])>,
    metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut tensors: Vec<_> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    let mut metadata: Vec<_> = metadata
        .into_iter()
        .filter(|(key, _)| *key != CHECKSUM_KEY)
        .collect();
    metadata.sort();
    let mut crc = Crc32::new();
    crc.field(&(tensors.len() as u64).to_le_bytes());
    for (name, dtype, shape, data) in tensors {
        crc.field(name.as_bytes());
        crc.field(dtype.as_bytes());
        crc.field(&(shape.len() as u64).to_le_bytes());
        for &size in shape {
            crc.update(&(size as u64).to_le_bytes());
        }
        crc.field(data);
    }
    for (key, value) in metadata {
        crc.field(key.as_bytes());
        crc.field(value.as_bytes());
    }
    format!("{:08x}", crc.finish())
}

/// A tensor of our element type from a floating-point view, `Ok(None)` for
/// another dtype (integers, booleans), or `Err` for a shape that no tensor
/// can have (its sizes multiply past `usize::MAX`; safetensors accepts
/// `[0, 2^40, 2^40]` because it has no bytes).
fn from_view<T: Element>(name: &str, view: &TensorView<'_>) -> Result<Option<Tensor<T>>, Problem> {
    if tensor::shape::checked_numel(view.shape()).is_none() {
        return Err(Problem::Corrupt(format!(
            "tensor {name:?} has shape {:?}, whose sizes overflow",
            view.shape()
        )));
    }
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
        _ => return Ok(None),
    };
    Ok(Some(Tensor::from_vec(
        values.into_iter().map(T::from_f64).collect(),
        view.shape(),
    )))
}

/// Appends `text` to `out` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Serializes named tensors and metadata to safetensors bytes (with
/// `{"format": "pt"}` added, as PyTorch writes, and the content checksum
/// under [`CHECKSUM_KEY`]).
///
/// The header is written here rather than by the `safetensors` crate, whose
/// writer orders the metadata as a `HashMap` does, differently in every
/// process: ours sorts tensors by name and metadata by key, so the same
/// tensors and metadata always give the same bytes (two runs' checkpoints
/// compare with `cmp`, and a mutation test's seed reproduces its inputs).
/// The format, as the `safetensors` crate reads it back:
///
/// ```text
/// u64 (little-endian)   N, the header's length
/// N bytes               {"__metadata__":{...},"name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}
///                       padded with spaces so the data starts at a multiple of 8
/// the data              each tensor's bytes, in header order, back to back
/// ```
///
/// # Panics
/// If a name repeats.
pub fn to_safetensors<T: Element>(tensors: &[(String, Tensor<T>)], metadata: &Metadata) -> Vec<u8> {
    let mut sorted: BTreeMap<&str, &Tensor<T>> = BTreeMap::new();
    for (name, t) in tensors {
        assert!(
            sorted.insert(name.as_str(), t).is_none(),
            "to_safetensors: the name {name:?} appears twice"
        );
    }
    let data: Vec<(&str, Vec<u8>, &[usize])> = sorted
        .iter()
        .map(|(name, t)| (*name, to_bytes(t), t.shape()))
        .collect();
    let mut header_metadata: BTreeMap<String, String> = metadata.clone();
    header_metadata.insert("format".to_string(), "pt".to_string());
    let dtype = format!("{:?}", dtype_of::<T>());
    let checksum = content_checksum(
        data.iter()
            .map(|(name, bytes, shape)| (*name, dtype.clone(), *shape, bytes.as_slice())),
        header_metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    header_metadata.insert(CHECKSUM_KEY.to_string(), checksum);

    let mut header = String::from("{\"__metadata__\":{");
    for (i, (key, value)) in header_metadata.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        push_json_string(&mut header, key);
        header.push(':');
        push_json_string(&mut header, value);
    }
    header.push('}');
    let mut offset = 0;
    for (name, bytes, shape) in &data {
        header.push(',');
        push_json_string(&mut header, name);
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        header.push_str(&format!(
            ":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            dims.join(","),
            offset + bytes.len()
        ));
        offset += bytes.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, bytes, _) in &data {
        out.extend_from_slice(bytes);
    }
    out
}

/// The prefix of the temporary files [`write_atomically`] writes beside its target.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

/// The environment variable of the crash-test hook [`pause_point`].
pub const PAUSE_AT_ENV: &str = "TAPEGRAD_PAUSE_AT";

/// A named moment inside a write, where a crash test can stop the process.
///
/// Crash tests need to kill a program *inside* an atomic write (after the
/// temporary file is created, half-way through the bytes, before and after
/// the rename), which no timer can hit reliably. Each such moment calls
/// `pause_point("best.safetensors: synced")`, say, and the environment
/// variable [`PAUSE_AT_ENV`] picks one:
///
/// - unset (always, outside tests): nothing happens; the variable is read once
///   per process, so a call costs one atomic load;
/// - `TAPEGRAD_PAUSE_AT="<point>"` or `"<point>#<n>"`: on the first (or `n`-th)
///   time the process reaches `<point>`, it prints `tapegrad: paused at
///   <point>#<n>` on standard error and sleeps until it is killed;
/// - `TAPEGRAD_PAUSE_AT=list`: every point reached is printed
///   (`tapegrad: point <point>#<n>`) and the program runs on, so a test can
///   learn them all from one run.
///
/// The points are written `"<file name>: <stage>"`, with the stages of
/// [`write_atomically`] (`created`, `half written`, `written`, `synced`,
/// `renamed`). `train`'s dataset cache, which writes its own temporary files,
/// calls it with the same stages.
pub fn pause_point(point: &str) {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Mutex, OnceLock};
    static SPEC: OnceLock<Option<String>> = OnceLock::new();
    static SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    static ACTIVE: AtomicBool = AtomicBool::new(true);
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let Some(spec) = SPEC.get_or_init(|| std::env::var(PAUSE_AT_ENV).ok()) else {
        ACTIVE.store(false, Ordering::Relaxed);
        return;
    };
    let count = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let count = seen.entry(point.to_string()).or_insert(0);
        *count += 1;
        *count
    };
    let here = format!("{point}#{count}");
    if spec == "list" {
        eprintln!("tapegrad: point {here}");
    } else if *spec == here || (*spec == point && count == 1) {
        eprintln!("tapegrad: paused at {here}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it
/// (`.tmp-<name>-<pid>-<n>`), flushed, then renamed over `path`.
///
/// A process killed at any moment leaves `path` as it was or complete; what it
/// may leave besides is the temporary file, which the next run removes (see
/// `train::trainer::RunDirectory::open`). The stages, in order, are
/// [`pause_point`]s for crash tests: `created` (an empty temporary file),
/// `half written`, `written`, `synced` (on disk, not yet renamed) and
/// `renamed` (in place, the directory entry not yet flushed).
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
    let stage = |name: &str| pause_point(&format!("{file_name}: {name}"));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        stage("created");
        let (first, second) = bytes.split_at(bytes.len() / 2);
        file.write_all(first)?;
        file.flush()?;
        stage("half written");
        file.write_all(second)?;
        stage("written");
        file.sync_all()?;
        stage("synced");
        fs::rename(&temporary, path)?;
        stage("renamed");
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
            Ok(Some(tensor)) => {
                let values = tensor.as_slice().expect("a new tensor is contiguous");
                let first = values.iter().position(|x| !x.is_finite());
                if let Some(first) = first {
                    let count = values.iter().filter(|x| !x.is_finite()).count();
                    problems.push(Problem::NonFinite { name, count, first });
                } else {
                    checkpoint.tensors.insert(name, tensor);
                }
            }
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

    /// The standard check value of CRC-32 (the one in gzip, zip and PNG).
    #[test]
    fn crc32_of_the_check_string_is_cbf43926() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xCBF4_3926);
    }

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

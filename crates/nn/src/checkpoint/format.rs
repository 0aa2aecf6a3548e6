//! The bytes of a safetensors file: element types, the header, and the
//! checksum that covers them.
//!
//! [`to_safetensors`] writes the format; reading it back goes through the
//! `safetensors` crate, with each tensor converted by `from_view`. The file's
//! content checksum is a CRC-32 (`Crc32`, written here: a table and a loop)
//! over every name, dtype, shape, data byte and metadata pair.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, TensorView};
use tensor::durable::Crc32;
use tensor::{Element, Tensor};

use super::{Metadata, Problem};

/// The safetensors dtype of our element type.
pub(super) fn dtype_of<T: Element>() -> Dtype {
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

/// The CRC-32 of a checkpoint's content: each tensor (sorted by name) as its
/// name, dtype, shape and raw bytes, then each metadata pair (sorted by key)
/// but the checksum's own. The JSON header's layout (key order, offsets,
/// padding) is not content, so any writer's file of the same tensors and
/// metadata has the same checksum.
pub(super) fn content_checksum<'a>(
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
pub(super) fn from_view<T: Element>(
    name: &str,
    view: &TensorView<'_>,
) -> Result<Option<Tensor<T>>, Problem> {
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

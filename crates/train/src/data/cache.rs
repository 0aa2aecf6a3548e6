//! A tiny binary container for cached datasets.
//!
//! ```text
//! "TGCACHE1"            8 bytes: what this file is, and the format version
//! body                  what the dataset writes, with the helpers below
//! md5(body)             16 bytes
//! ```
//!
//! All integers are little-endian. The MD5 at the end turns every kind of
//! damage (a half-written file, a flipped bit, a file from another program)
//! into "invalid cache, rebuild" instead of a wrong dataset: a cache is never
//! trusted blindly. Atomic writes (temporary file + rename) make a half-written
//! file unlikely in the first place.

use md5::{Digest, Md5};

const MAGIC: &[u8; 8] = b"TGCACHE1";
const DIGEST_LEN: usize = 16;

/// Builds a cache file in memory.
pub(crate) struct CacheWriter {
    bytes: Vec<u8>,
}

impl CacheWriter {
    pub(crate) fn new() -> CacheWriter {
        CacheWriter {
            bytes: MAGIC.to_vec(),
        }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// A length (u32) followed by the UTF-8 bytes.
    pub(crate) fn str(&mut self, value: &str) {
        self.len(value.len());
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// A length (u32) followed by each id as a u32.
    pub(crate) fn ids(&mut self, ids: &[usize]) {
        self.len(ids.len());
        self.bytes.reserve(ids.len() * 4);
        for &id in ids {
            self.u32(u32::try_from(id).expect("token ids fit in 32 bits"));
        }
    }

    pub(crate) fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).expect("cached lengths fit in 32 bits"));
    }

    /// The finished file: magic, body, MD5 of the body.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let digest = Md5::digest(&self.bytes[MAGIC.len()..]);
        self.bytes.extend_from_slice(&digest);
        self.bytes
    }
}

/// Reads a cache file, checking every step. Errors are plain reasons
/// ("truncated", "checksum mismatch"), reported when the cache is rebuilt.
pub(crate) struct CacheReader<'a> {
    body: &'a [u8],
    position: usize,
}

impl<'a> CacheReader<'a> {
    /// Checks the magic bytes and the checksum, and starts reading the body.
    pub(crate) fn open(bytes: &'a [u8]) -> Result<CacheReader<'a>, String> {
        if bytes.len() < MAGIC.len() + DIGEST_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err("not a tapegrad cache file (or an older format)".to_string());
        }
        let (body, digest) = bytes[MAGIC.len()..].split_at(bytes.len() - MAGIC.len() - DIGEST_LEN);
        if Md5::digest(body).as_slice() != digest {
            return Err("checksum mismatch (damaged or half-written)".to_string());
        }
        Ok(CacheReader { body, position: 0 })
    }

    /// The bytes of the body not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.body.len() - self.position
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .position
            .checked_add(n)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| "truncated".to_string())?;
        let slice = &self.body[self.position..end];
        self.position = end;
        Ok(slice)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub(crate) fn len(&mut self) -> Result<usize, String> {
        Ok(self.u32()? as usize)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, String> {
        let len = self.len()?;
        std::str::from_utf8(self.take(len)?).map_err(|_| "a string is not UTF-8".to_string())
    }

    /// Reads an id list, rejecting any id `>= id_limit`.
    pub(crate) fn ids(&mut self, id_limit: usize) -> Result<Vec<usize>, String> {
        let len = self.len()?;
        let bytes = self.take(len.checked_mul(4).ok_or("length overflow")?)?;
        let ids: Vec<usize> = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        if ids.iter().any(|&id| id >= id_limit) {
            return Err(format!(
                "a token id is outside the vocabulary of {id_limit}"
            ));
        }
        Ok(ids)
    }

    /// Succeeds only if the whole body was read.
    pub(crate) fn finish(self) -> Result<(), String> {
        if self.position == self.body.len() {
            Ok(())
        } else {
            Err("unexpected bytes after the data".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut writer = CacheWriter::new();
        writer.str("key");
        writer.u8(7);
        writer.ids(&[1, 2, 300]);
        writer.finish()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut reader = CacheReader::open(&bytes).unwrap();
        assert_eq!(reader.str().unwrap(), "key");
        assert_eq!(reader.u8().unwrap(), 7);
        assert_eq!(reader.ids(301).unwrap(), [1, 2, 300]);
        reader.finish().unwrap();
    }

    #[test]
    fn any_damage_is_detected() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(CacheReader::open(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x10;
            assert!(CacheReader::open(&damaged).is_err(), "flip at {position}");
        }
    }

    #[test]
    fn ids_outside_the_vocabulary_are_rejected() {
        let bytes = sample();
        let mut reader = CacheReader::open(&bytes).unwrap();
        reader.str().unwrap();
        reader.u8().unwrap();
        assert!(reader.ids(300).is_err());
    }
}

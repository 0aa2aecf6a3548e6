//! Keeping the encoded dataset: one cache file per source and settings.
//!
//! Tokenizing 50,000 reviews takes seconds; reading them back from a cache
//! file takes a fraction of one. The file's name comes from a *key*: the
//! source's path, size and modification time (for a directory, its files'
//! count, total size and latest time), the encoding version, and every setting
//! that changes the ids. The key is also written inside the file and checked on
//! reading, and the file is a `cache.rs` container (an MD5 over the body), so
//! a stale or damaged cache is rebuilt, never trusted: every problem becomes
//! "invalid cache, rebuild", reported in [`CacheStatus`].
//!
//! ```text
//! key | vocabulary: word count, words | train: count, (label, rating, ids)... | test: the same
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use md5::{Digest, Md5};

use super::{Imdb, ImdbConfig, Review, Sentiment};
use crate::data::cache::{CacheReader, CacheWriter};
use crate::data::{DataError, Vocabulary};

/// Where an [`Imdb`] came from and what the cache did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Read from this cache file.
    Hit(PathBuf),
    /// Built from the source and written to this cache file.
    Written(PathBuf),
    /// The cache file was invalid (the reason), so it was rebuilt.
    Rebuilt {
        /// The cache file.
        path: PathBuf,
        /// Why the old one was not used.
        reason: String,
    },
    /// Built from the source; writing the cache failed (the reason), which is not fatal.
    NotWritten(String),
    /// Built from the source; caching was off or there is no cache directory.
    Off,
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheStatus::Hit(path) => write!(f, "read from cache {}", path.display()),
            CacheStatus::Written(path) => write!(f, "built; cached in {}", path.display()),
            CacheStatus::Rebuilt { path, reason } => {
                write!(
                    f,
                    "cache {} was invalid ({reason}); rebuilt",
                    path.display()
                )
            }
            CacheStatus::NotWritten(reason) => write!(f, "built; not cached: {reason}"),
            CacheStatus::Off => write!(f, "built; caching off"),
        }
    }
}

pub(super) fn hex_md5(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// Bumped whenever the tokenizer or the encoding changes, so old caches are not reused.
const ENCODING_VERSION: u32 = 1;

/// What the cached dataset depends on: the source (path, size, modification
/// time) and every setting that changes the encoded ids.
pub(super) fn cache_key(source: &Path, config: &ImdbConfig) -> Result<String, DataError> {
    let canonical =
        std::fs::canonicalize(source).map_err(|e| DataError::io("reading", source, e))?;
    let fingerprint = fingerprint(&canonical).map_err(|e| DataError::io("reading", source, e))?;
    Ok(format!(
        "imdb encoding v{ENCODING_VERSION}\nsource {}\n{fingerprint}\nvocab_size {}\nmax_len {}\ntruncating {:?}\n",
        canonical.display(),
        config.vocab_size,
        config.max_len,
        config.truncating
    ))
}

/// Size and modification time of a file; for a directory, the number of files
/// under `train/` and `test/`, their total size and latest modification time.
fn fingerprint(path: &Path) -> io::Result<String> {
    let modified_nanos = |metadata: &std::fs::Metadata| -> io::Result<u128> {
        Ok(metadata
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0))
    };
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_dir() {
        return Ok(format!(
            "file size {} modified {}",
            metadata.len(),
            modified_nanos(&metadata)?
        ));
    }
    let root = if path.join("train").is_dir() || path.join("test").is_dir() {
        path.to_path_buf()
    } else {
        path.join("aclImdb")
    };
    let (mut files, mut bytes, mut latest) = (0u64, 0u64, 0u128);
    let mut pending = vec![root.join("train"), root.join("test")];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        latest = latest.max(modified_nanos(&std::fs::metadata(&dir)?)?);
        for entry in entries {
            let entry = entry?;
            let metadata = std::fs::metadata(entry.path())?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                files += 1;
                bytes += metadata.len();
                latest = latest.max(modified_nanos(&metadata)?);
            }
        }
    }
    Ok(format!(
        "directory files {files} bytes {bytes} modified {latest}"
    ))
}

pub(super) fn write_cache(file: &Path, key: &str, imdb: &Imdb) -> Result<(), DataError> {
    crate::data::write_atomically(file, &cache_bytes(key, imdb))
}

/// The bytes of a cache file: the key, the vocabulary, both splits.
fn cache_bytes(key: &str, imdb: &Imdb) -> Vec<u8> {
    let mut writer = CacheWriter::new();
    writer.str(key);
    writer.len(imdb.vocab.num_words());
    for word in imdb.vocab.words() {
        writer.str(word);
    }
    for reviews in [&imdb.train, &imdb.test] {
        writer.len(reviews.len());
        for review in reviews {
            writer.u8(review.sentiment as u8);
            writer.u8(review.rating);
            writer.ids(&review.token_ids);
        }
    }
    writer.finish()
}

type Splits = (Vec<Review>, Vec<Review>, Vocabulary);

/// Reads a cache file written by [`write_cache`] for the same `key`;
/// any problem is a reason to rebuild.
pub(super) fn read_cache(file: &Path, key: &str) -> Result<Splits, String> {
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    parse_cache(&bytes, key)
}

/// The smallest a cached review can be: label, rating, and an id count.
const MIN_REVIEW_BYTES: usize = 1 + 1 + 4;

/// Parses the bytes of a cache file (see [`read_cache`]). Every count is
/// checked against the bytes left before anything is reserved for it.
fn parse_cache(bytes: &[u8], key: &str) -> Result<Splits, String> {
    let mut reader = CacheReader::open(bytes)?;
    if reader.str()? != key {
        return Err("made from another source or settings".to_string());
    }
    let num_words = reader.len()?;
    let words = (0..num_words)
        .map(|_| reader.str().map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    let vocab = Vocabulary::try_from_words(words)?;
    let mut splits = Vec::with_capacity(2);
    for _ in 0..2 {
        let len = reader.len()?;
        // A count of 2^32 - 1 reviews must not reserve 2^32 reviews: at most
        // as many as the bytes left could hold.
        let mut reviews = Vec::with_capacity(len.min(reader.remaining() / MIN_REVIEW_BYTES));
        for _ in 0..len {
            let sentiment = match reader.u8()? {
                0 => Sentiment::Negative,
                1 => Sentiment::Positive,
                other => return Err(format!("bad label {other}")),
            };
            let rating = reader.u8()?;
            let token_ids = reader.ids(vocab.len())?;
            reviews.push(Review {
                token_ids,
                sentiment,
                rating,
            });
        }
        splits.push(reviews);
    }
    reader.finish()?;
    let test = splits.pop().unwrap_or_default();
    let train = splits.pop().unwrap_or_default();
    Ok((train, test, vocab))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imdb::{RawImdb, RawReview};
    use crate::mutation::{self, Field, Limits, Verdict};

    /// A small encoded dataset, as `Imdb::load` would cache it.
    fn tiny_imdb() -> Imdb {
        let review = |id, rating, sentiment, text: &str| RawReview {
            id,
            rating,
            sentiment,
            text: text.to_string(),
        };
        let mut train = vec![
            review(0, 2, Sentiment::Negative, "a bad movie, bad acting"),
            review(1, 9, Sentiment::Positive, "a great movie, great fun"),
            review(2, 1, Sentiment::Negative, ""),
        ];
        // Enough reviews that a count trusted blindly would reserve far more
        // than the file holds (a review in memory is ~32 bytes, ~10 on disk).
        for id in 3..300 {
            train.push(review(id, 7, Sentiment::Positive, "fun"));
        }
        let raw = RawImdb {
            source: PathBuf::from("tiny.tar.gz"),
            train,
            test: vec![review(0, 8, Sentiment::Positive, "great zebra")],
        };
        let config = ImdbConfig {
            vocab_size: 6,
            ..ImdbConfig::default()
        };
        Imdb::encode(&raw, &config).unwrap()
    }

    /// The offsets of every length field of a cache file: the key's and each
    /// word's length, the number of words, of reviews per split, of ids per review.
    fn length_fields(bytes: &[u8]) -> Vec<Field> {
        let mut at = 8; // after the magic
        let mut fields = Vec::new();
        let u32_at = |at: &mut usize, fields: &mut Vec<Field>| {
            fields.push(Field::LeU32(*at));
            let value = u32::from_le_bytes(bytes[*at..*at + 4].try_into().unwrap()) as usize;
            *at += 4;
            value
        };
        let key_len = u32_at(&mut at, &mut fields);
        at += key_len;
        for _ in 0..u32_at(&mut at, &mut fields) {
            let word_len = u32_at(&mut at, &mut fields);
            at += word_len;
        }
        for _ in 0..2 {
            for _ in 0..u32_at(&mut at, &mut fields) {
                at += 2; // label, rating
                let ids = u32_at(&mut at, &mut fields);
                at += 4 * ids;
            }
        }
        assert_eq!(at + 16, bytes.len(), "walked the whole body");
        fields
    }

    /// Thousands of damaged cache files: each is refused (and the cache
    /// rebuilt), never read as a different dataset, never a panic or a huge
    /// allocation. First as they are (the MD5 catches nearly everything),
    /// then with the MD5 recomputed after the damage, so that the body's
    /// parser itself meets every truncation and length field of 2^32 - 1:
    /// what it accepts then must be a valid cache of exactly those bytes.
    #[test]
    fn a_damaged_cache_is_refused_or_read_as_exactly_what_it_says() {
        const MUTATIONS: usize = 10_000;
        let imdb = tiny_imdb();
        let key = "imdb encoding v1\nsource tiny\n";
        let base = cache_bytes(key, &imdb);
        let fields = length_fields(&base);
        let original = (imdb.train.clone(), imdb.test.clone(), imdb.vocab.clone());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        // The parser needs a few hundred bytes besides its output; a count
        // trusted blindly (`with_capacity(count)`) would show up here.
        let limits = Limits {
            per_byte: 16,
            fixed: 16 << 10,
            ..Limits::default()
        };

        let as_written = |bytes: &[u8]| -> Result<Verdict, String> {
            match parse_cache(bytes, key) {
                Ok(splits) if splits == original => Ok(Verdict::Same),
                Ok(_) => Err("read as another dataset".to_string()),
                Err(reason) if reason.is_empty() => Err("refused without a reason".to_string()),
                Err(_) => Ok(Verdict::Rejected),
            }
        };
        let report = mutation::run(
            "cache",
            manifest,
            &base,
            &fields,
            MUTATIONS,
            56,
            &limits,
            &as_written,
        );
        eprintln!("dataset cache (MD5 kept): {report}");
        assert_eq!(report.changed, 0, "{report}");

        let body = &base[..base.len() - 16];
        let resigned = |body: &[u8]| -> Result<Verdict, String> {
            let mut bytes = body.to_vec();
            if bytes.len() >= 8 {
                let digest = Md5::digest(&bytes[8..]);
                bytes.extend_from_slice(&digest);
            }
            match parse_cache(&bytes, key) {
                Ok(splits) if splits == original => Ok(Verdict::Same),
                Ok((train, test, vocab)) => {
                    let again = Imdb {
                        train,
                        test,
                        vocab,
                        source: PathBuf::new(),
                        cache: CacheStatus::Off,
                    };
                    if cache_bytes(key, &again) == bytes {
                        Ok(Verdict::Changed)
                    } else {
                        Err("accepted bytes that do not re-encode to themselves".to_string())
                    }
                }
                Err(reason) if reason.is_empty() => Err("refused without a reason".to_string()),
                Err(_) => Ok(Verdict::Rejected),
            }
        };
        let report = mutation::run(
            "cache-resigned",
            manifest,
            body,
            &fields,
            MUTATIONS,
            78,
            &limits,
            &resigned,
        );
        eprintln!("dataset cache (MD5 recomputed): {report}");
    }
}

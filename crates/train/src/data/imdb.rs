//! The IMDB movie-review dataset: 25,000 training and 25,000 test reviews,
//! half positive, half negative (Maas et al., "Learning Word Vectors for
//! Sentiment Analysis", ACL 2011).
//!
//! # Layout
//!
//! ```text
//! aclImdb/
//!   train/pos/<id>_<rating>.txt    12,500 reviews rated 7-10 stars
//!   train/neg/<id>_<rating>.txt    12,500 reviews rated 1-4 stars
//!   train/unsup/                   50,000 unlabelled reviews (skipped)
//!   train/labeledBow.feat, urls_*.txt, ...   precomputed features (skipped)
//!   test/pos/, test/neg/           the same for the test split
//! ```
//!
//! The label comes from the directory, the star rating from the file name;
//! both are kept.
//!
//! # Reading
//!
//! [`read_raw`] takes the official `aclImdb_v1.tar.gz`, any `.tar.gz` with the
//! same layout, or an extracted directory. An archive is *streamed*: bytes
//! flow from the file through a gzip decoder (`flate2`) into a tar reader
//! (`tar`), which hands us one member at a time, in one pass, with nothing
//! unpacked to disk. The 50,000 unlabelled reviews stream past unread.
//!
//! Policies, so that a dataset is either right or an error, never silently smaller:
//! - a review that is not valid UTF-8 is an **error** naming the file inside
//!   the archive (the real dataset is all UTF-8; lossy decoding would hide a
//!   damaged file);
//! - a truncated or damaged archive, a missing `train/` or `test/`, a split or
//!   label with no reviews, an unknown label directory, and a file name that
//!   is not `<id>_<rating>.txt` are errors;
//! - hidden files (names starting with `.`, such as macOS' `.DS_Store`) are not
//!   reviews and are ignored;
//! - reviews are sorted by label then id, so a tarball and its extracted
//!   directory give identical datasets whatever order their files come in.
//!
//! # Encoding and caching
//!
//! [`Imdb::encode`] builds a [`Vocabulary`] from the training reviews only,
//! encodes both splits and truncates each review to `max_len` tokens
//! (unpadded: the [`loader`](super::loader) pads each batch). [`Imdb::load`]
//! does all of it, keeping the result in the cache directory keyed by the
//! source file (path, size, modification time) and the settings, so a second
//! run starts in about a second. Each combination of settings has its own
//! cache file (about 32 MB at the defaults); delete the directory to reclaim them.
//!
//! Measured on the 2-core development machine (`load_imdb` example, the
//! 28 MB `aclImdb_labeled.tar.gz`): reading, tokenizing and encoding all
//! 50,000 reviews takes about 2.5 s; a load from the cache about 0.2 s.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use flate2::read::GzDecoder;
use md5::{Digest, Md5};

use super::cache::{CacheReader, CacheWriter};
use super::loader::SequenceExample;
use super::tokenizer::{truncate, Side};
use super::vocab::Vocabulary;
use super::{CacheMode, DataError, DataPaths, RemoteFile};

/// The official archive's address.
pub const URL: &str = "http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";
/// The official archive's MD5.
pub const MD5: &str = "7c2ac02c03563afcf9b574c7e56c153a";
/// The official archive's file name.
pub const FILE_NAME: &str = "aclImdb_v1.tar.gz";

/// The IMDB archive: where to download it and the names it may have locally
/// (`aclImdb_v1.tar.gz`, a repacked `aclImdb_labeled.tar.gz`, or an extracted `aclImdb/`).
pub fn remote_file() -> RemoteFile {
    RemoteFile {
        dataset: "IMDB movie reviews".to_string(),
        url: URL.to_string(),
        file_name: FILE_NAME.to_string(),
        md5: Some(MD5.to_string()),
        other_names: vec!["aclImdb_labeled.tar.gz".to_string(), "aclImdb".to_string()],
    }
}

/// A review's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sentiment {
    /// From `neg/`: rated 1-4 stars. Label 0.
    Negative,
    /// From `pos/`: rated 7-10 stars. Label 1.
    Positive,
}

impl Sentiment {
    /// Both labels, in label order.
    pub const ALL: [Sentiment; 2] = [Sentiment::Negative, Sentiment::Positive];

    /// The label a binary classifier learns: 0.0 or 1.0.
    pub fn label(self) -> f32 {
        match self {
            Sentiment::Negative => 0.0,
            Sentiment::Positive => 1.0,
        }
    }

    /// The directory the reviews are in: `"neg"` or `"pos"`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Sentiment::Negative => "neg",
            Sentiment::Positive => "pos",
        }
    }
}

/// One of the dataset's two halves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// `train/`.
    Train,
    /// `test/`.
    Test,
}

impl Split {
    /// Both splits.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// `"train"` or `"test"`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn from_dir_name(name: &str) -> Option<Split> {
        Split::ALL
            .into_iter()
            .find(|split| split.dir_name() == name)
    }
}

/// A review as read from disk, before tokenizing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReview {
    /// The number before the `_` in the file name.
    pub id: u32,
    /// The star rating after the `_` (1-10).
    pub rating: u8,
    /// The label, from the directory.
    pub sentiment: Sentiment,
    /// The review, HTML line breaks and all.
    pub text: String,
}

/// Both splits as read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawImdb {
    /// The archive or directory read.
    pub source: PathBuf,
    /// Training reviews, negatives then positives, each by id.
    pub train: Vec<RawReview>,
    /// Test reviews, in the same order.
    pub test: Vec<RawReview>,
}

/// Reads the reviews from a `.tar.gz` archive or an extracted directory (see
/// the [module docs](self) for the layout and the policies on bad data).
pub fn read_raw(path: &Path) -> Result<RawImdb, DataError> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io("reading", path, e))?;
    if metadata.is_dir() {
        read_directory(path)
    } else {
        read_archive(path)
    }
}

/// Where a member of the dataset belongs, from its path.
#[derive(Debug)]
enum Place {
    /// A review file: `train|test / pos|neg / <name>`.
    Review(Split, Sentiment),
    /// Inside `train/` or `test/`, but not a review we want (`unsup`, `.feat`).
    SplitContent(Split),
    /// Outside the splits (`README`, `imdb.vocab`).
    Elsewhere,
}

/// Classifies a member path, given relative to the archive or directory
/// (`aclImdb/train/pos/0_9.txt`). The top directory is optional.
fn place_of(
    source: &Path,
    components: &[&str],
    member: &str,
    is_file: bool,
) -> Result<Place, DataError> {
    let mut parts = components;
    if parts.len() > 1 && Split::from_dir_name(parts[0]).is_none() {
        parts = &parts[1..]; // the top directory, "aclImdb/"
    }
    let Some(split) = parts.first().and_then(|name| Split::from_dir_name(name)) else {
        return Ok(Place::Elsewhere); // README, imdb.vocab
    };
    match parts {
        // `train/` itself, and `train/labeledBow.feat`, `train/urls_pos.txt`, ...:
        // precomputed features we do not use.
        [] | [_] => Ok(Place::SplitContent(split)),
        [_, _] if is_file => Ok(Place::SplitContent(split)),
        [_, label_dir, rest @ ..] => {
            let Some(sentiment) = label_of_directory(source, member, label_dir)? else {
                return Ok(Place::SplitContent(split)); // unsup/, or a hidden directory
            };
            match rest {
                [] => Ok(Place::SplitContent(split)), // the `pos/` directory itself
                [_] => Ok(Place::Review(split, sentiment)),
                _ => Err(DataError::BadFileName {
                    path: source.to_path_buf(),
                    member: member.to_string(),
                    problem: format!("reviews must sit directly in {}/{label_dir}/", parts[0]),
                }),
            }
        }
    }
}

/// The label of the reviews in directory `name` (inside `train/` or `test/`):
/// `Some` for `pos`/`neg`, `None` for `unsup` and hidden directories, an
/// error for anything else.
fn label_of_directory(
    source: &Path,
    member: &str,
    name: &str,
) -> Result<Option<Sentiment>, DataError> {
    match name {
        "pos" => Ok(Some(Sentiment::Positive)),
        "neg" => Ok(Some(Sentiment::Negative)),
        "unsup" => Ok(None),
        hidden if is_hidden(hidden) => Ok(None),
        other => Err(DataError::UnknownLabel {
            path: source.to_path_buf(),
            member: member.to_string(),
            directory: other.to_string(),
        }),
    }
}

/// Parses `<id>_<rating>.txt`.
fn parse_file_name(source: &Path, member: &str, name: &str) -> Result<(u32, u8), DataError> {
    let bad = |problem: String| DataError::BadFileName {
        path: source.to_path_buf(),
        member: member.to_string(),
        problem,
    };
    let stem = name
        .strip_suffix(".txt")
        .ok_or_else(|| bad("a review file must be named <id>_<rating>.txt".to_string()))?;
    let (id, rating) = stem
        .split_once('_')
        .ok_or_else(|| bad("a review file must be named <id>_<rating>.txt".to_string()))?;
    let id = id
        .parse()
        .map_err(|_| bad(format!("the id {id:?} is not a number")))?;
    let rating = rating
        .parse()
        .ok()
        .filter(|rating| (1..=10).contains(rating))
        .ok_or_else(|| {
            bad(format!(
                "the rating {rating:?} is not a number from 1 to 10"
            ))
        })?;
    Ok((id, rating))
}

/// Gathers reviews from either layout and checks the result is complete.
struct Collector {
    source: PathBuf,
    seen_split: [bool; 2],
    train: Vec<RawReview>,
    test: Vec<RawReview>,
}

impl Collector {
    fn new(source: &Path) -> Collector {
        Collector {
            source: source.to_path_buf(),
            seen_split: [false; 2],
            train: Vec::with_capacity(25_000),
            test: Vec::with_capacity(25_000),
        }
    }

    fn saw_split(&mut self, split: Split) {
        self.seen_split[split as usize] = true;
    }

    /// Adds a review file's bytes, which must be UTF-8.
    fn add(
        &mut self,
        split: Split,
        sentiment: Sentiment,
        member: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DataError> {
        let (id, rating) = parse_file_name(&self.source, member, file_name)?;
        let text = String::from_utf8(bytes).map_err(|error| DataError::NotUtf8 {
            path: self.source.clone(),
            member: Some(member.to_string()),
            valid_up_to: error.utf8_error().valid_up_to(),
        })?;
        self.saw_split(split);
        let review = RawReview {
            id,
            rating,
            sentiment,
            text,
        };
        match split {
            Split::Train => self.train.push(review),
            Split::Test => self.test.push(review),
        }
        Ok(())
    }

    /// Checks both splits are there and every split and label has reviews,
    /// then sorts each split by (label, id).
    fn finish(mut self) -> Result<RawImdb, DataError> {
        for split in Split::ALL {
            if !self.seen_split[split as usize] {
                return Err(DataError::MissingSplit {
                    path: self.source.clone(),
                    split: split.dir_name(),
                });
            }
            let reviews = match split {
                Split::Train => &mut self.train,
                Split::Test => &mut self.test,
            };
            if reviews.is_empty() {
                return Err(DataError::EmptySplit {
                    path: self.source.clone(),
                    split: split.dir_name().to_string(),
                });
            }
            for sentiment in Sentiment::ALL {
                if !reviews.iter().any(|review| review.sentiment == sentiment) {
                    return Err(DataError::EmptySplit {
                        path: self.source.clone(),
                        split: format!("{}/{}", split.dir_name(), sentiment.dir_name()),
                    });
                }
            }
            reviews.sort_by_key(|review| (review.sentiment, review.id, review.rating));
        }
        Ok(RawImdb {
            source: self.source,
            train: self.train,
            test: self.test,
        })
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Turns an I/O error from the decompressor or the tar reader into a
/// [`DataError::Archive`] that says what probably happened.
fn damaged(path: &Path, error: io::Error) -> DataError {
    let problem = if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("{error} (the file ends too early: an interrupted download or copy?)")
    } else {
        error.to_string()
    };
    DataError::Archive {
        path: path.to_path_buf(),
        problem,
    }
}

fn read_archive(path: &Path) -> Result<RawImdb, DataError> {
    let file = File::open(path).map_err(|e| DataError::io("reading", path, e))?;
    read_tar_gz(BufReader::with_capacity(1 << 20, file), path)
}

/// The most bytes reserved up front for one member, whatever its tar header
/// says: a header is 512 bytes anyone can edit, and a size field of 2^60 must
/// not reserve 2^60 bytes. Larger members still read whole, growing as the
/// bytes really arrive. (IMDB reviews are under 14 KB.)
const MEMBER_RESERVE_LIMIT: u64 = 1 << 20;

/// Reads the reviews from a `.tar.gz` stream, as [`read_raw`] reads an
/// archive file; `source` names the archive in errors.
///
/// # Errors
/// As [`read_raw`]: a damaged gzip or tar stream (a bad CRC, a stream cut
/// short, a tar stream without its end marker), or members that do not follow
/// the layout.
pub fn read_tar_gz(reader: impl Read, source: &Path) -> Result<RawImdb, DataError> {
    let path = source;
    // bytes on disk -> gzip decoder -> tar reader -> one member at a time
    let decoder = GzDecoder::new(reader);
    let mut archive = tar::Archive::new(EndWatch::new(decoder));
    let mut collector = Collector::new(path);
    for entry in archive.entries().map_err(|e| damaged(path, e))? {
        let mut entry = entry.map_err(|e| damaged(path, e))?;
        let member_path = entry.path().map_err(|e| damaged(path, e))?.into_owned();
        let member = member_path.to_string_lossy().into_owned();
        let components: Vec<&str> = member
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let entry_type = entry.header().entry_type();
        let is_file = entry_type.is_file();
        match place_of(path, &components, &member, is_file)? {
            Place::Review(split, sentiment) if is_file => {
                let file_name = components.last().copied().unwrap_or_default();
                if is_hidden(file_name) {
                    continue;
                }
                let mut bytes = Vec::with_capacity(entry.size().min(MEMBER_RESERVE_LIMIT) as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| damaged(path, e))?;
                collector.add(split, sentiment, &member, file_name, bytes)?;
            }
            Place::Review(split, _) if entry_type.is_dir() => collector.saw_split(split),
            Place::Review(..) => {
                return Err(DataError::BadFileName {
                    path: path.to_path_buf(),
                    member,
                    problem: format!("is a {entry_type:?} entry, not a regular file"),
                })
            }
            Place::SplitContent(split) => collector.saw_split(split),
            Place::Elsewhere => {}
        }
    }
    // A tar archive ends with a block of zeros. The tar reader also stops,
    // without an error, where the data simply runs out: that would be a
    // silently shorter dataset, so we insist on the end marker.
    let mut decompressed = archive.into_inner();
    if decompressed.reached_end {
        return Err(DataError::Archive {
            path: path.to_path_buf(),
            problem: "the tar stream stops without its end-of-archive marker \
                      (the archive was cut short)"
                .to_string(),
        });
    }
    // Read the gzip stream to its very end: its trailer holds a CRC and the
    // length, which the decoder checks.
    io::copy(&mut decompressed, &mut io::sink()).map_err(|e| damaged(path, e))?;
    collector.finish()
}

/// A reader that remembers whether its source ran dry (a read returned 0 bytes).
struct EndWatch<R> {
    inner: R,
    reached_end: bool,
}

impl<R> EndWatch<R> {
    fn new(inner: R) -> EndWatch<R> {
        EndWatch {
            inner,
            reached_end: false,
        }
    }
}

impl<R: Read> Read for EndWatch<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        if n == 0 && !buffer.is_empty() {
            self.reached_end = true;
        }
        Ok(n)
    }
}

fn read_directory(path: &Path) -> Result<RawImdb, DataError> {
    // Accept the `aclImdb/` directory itself or a directory holding it.
    let root = if path.join("train").is_dir() || path.join("test").is_dir() {
        path.to_path_buf()
    } else if path.join("aclImdb").is_dir() {
        path.join("aclImdb")
    } else {
        return Err(DataError::MissingSplit {
            path: path.to_path_buf(),
            split: "train",
        });
    };
    let mut collector = Collector::new(path);
    for split in Split::ALL {
        let split_dir = root.join(split.dir_name());
        if !split_dir.is_dir() {
            continue; // reported by `finish` as a missing split
        }
        collector.saw_split(split);
        for label_dir in sorted_entries(&split_dir)? {
            let name = label_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !label_dir.is_dir() || is_hidden(&name) {
                continue; // labeledBow.feat, urls_pos.txt, ...
            }
            let member = format!("{}/{name}/", split.dir_name());
            let Some(sentiment) = label_of_directory(path, &member, &name)? else {
                continue; // unsup/
            };
            for review_path in sorted_entries(&label_dir)? {
                let file_name = review_path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let member = format!("{}/{name}/{file_name}", split.dir_name());
                if is_hidden(&file_name) {
                    continue;
                }
                if review_path.is_dir() {
                    return Err(DataError::BadFileName {
                        path: path.to_path_buf(),
                        member,
                        problem: format!(
                            "reviews must sit directly in {}/{name}/",
                            split.dir_name()
                        ),
                    });
                }
                let bytes = std::fs::read(&review_path)
                    .map_err(|e| DataError::io("reading", &review_path, e))?;
                collector.add(split, sentiment, &member, &file_name, bytes)?;
            }
        }
    }
    collector.finish()
}

/// The entries of a directory, sorted by name (for reproducible error messages).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut paths = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| DataError::io("listing", dir, e))?;
    paths.sort();
    Ok(paths)
}

/// The settings that turn raw reviews into token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdbConfig {
    /// How many words the vocabulary keeps (ids 2 to `vocab_size + 1`).
    pub vocab_size: usize,
    /// Reviews longer than this many tokens are truncated.
    pub max_len: usize,
    /// Which end of a long review is cut ([`Side::Pre`] keeps the end).
    pub truncating: Side,
}

impl Default for ImdbConfig {
    /// 20,000 words, 200 tokens, cut at the start: the Keras IMDB LSTM tutorial's settings.
    fn default() -> ImdbConfig {
        ImdbConfig {
            vocab_size: 20_000,
            max_len: 200,
            truncating: Side::Pre,
        }
    }
}

impl ImdbConfig {
    fn validate(&self) -> Result<(), DataError> {
        if self.vocab_size == 0 || self.max_len == 0 {
            return Err(DataError::InvalidArgument(format!(
                "vocab_size and max_len must be at least 1 (got {} and {})",
                self.vocab_size, self.max_len
            )));
        }
        Ok(())
    }
}

/// An encoded review: token ids (truncated, not padded) and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Token ids, at most `max_len` of them; empty for a review with no words.
    pub token_ids: Vec<usize>,
    /// The label.
    pub sentiment: Sentiment,
    /// The star rating (1-10).
    pub rating: u8,
}

impl SequenceExample for Review {
    fn token_ids(&self) -> &[usize] {
        &self.token_ids
    }

    fn label(&self) -> f32 {
        self.sentiment.label()
    }
}

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

/// The encoded IMDB dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imdb {
    /// Training reviews (negatives then positives; the loader shuffles).
    pub train: Vec<Review>,
    /// Test reviews.
    pub test: Vec<Review>,
    /// The vocabulary, built from the training split.
    pub vocab: Vocabulary,
    /// The archive or directory the reviews were read from.
    pub source: PathBuf,
    /// What the cache did on this load.
    pub cache: CacheStatus,
}

impl Imdb {
    /// Finds the data (see [`DataPaths::locate`]; downloads it if needed),
    /// then returns the encoded dataset from the cache, or reads, encodes and
    /// caches it.
    pub fn load(paths: &DataPaths, config: &ImdbConfig) -> Result<Imdb, DataError> {
        Imdb::load_from(&remote_file(), paths, config)
    }

    /// [`Imdb::load`] with another download address or file names (a mirror,
    /// or a test server).
    pub fn load_from(
        remote: &RemoteFile,
        paths: &DataPaths,
        config: &ImdbConfig,
    ) -> Result<Imdb, DataError> {
        config.validate()?;
        let source = paths.locate(remote)?;
        if let (Some(dir), CacheMode::ReadWrite | CacheMode::Refresh) =
            (&paths.cache_dir, paths.cache_mode)
        {
            // An explicit `--data` path skips `locate`'s look into the cache.
            super::remove_stale_parts(dir);
        }
        let cache_file = match (&paths.cache_dir, paths.cache_mode) {
            (Some(dir), CacheMode::ReadWrite | CacheMode::Refresh) => {
                let key = cache_key(&source, config)?;
                let name = format!("imdb-{}.bin", &hex_md5(key.as_bytes())[..16]);
                Some((dir.join(name), key))
            }
            _ => None,
        };

        let mut invalid_reason = None;
        if let Some((file, key)) = &cache_file {
            if paths.cache_mode == CacheMode::ReadWrite && file.exists() {
                match read_cache(file, key) {
                    Ok((train, test, vocab)) => {
                        return Ok(Imdb {
                            train,
                            test,
                            vocab,
                            source,
                            cache: CacheStatus::Hit(file.clone()),
                        })
                    }
                    Err(reason) => invalid_reason = Some(reason),
                }
            }
        }

        let mut imdb = Imdb::encode(&read_raw(&source)?, config)?;
        imdb.cache = match cache_file {
            None => CacheStatus::Off,
            Some((file, key)) => match write_cache(&file, &key, &imdb) {
                Err(error) => CacheStatus::NotWritten(error.to_string()),
                Ok(()) => match invalid_reason {
                    Some(reason) => CacheStatus::Rebuilt { path: file, reason },
                    None => CacheStatus::Written(file),
                },
            },
        };
        Ok(imdb)
    }

    /// Builds the vocabulary from `raw.train` and encodes both splits,
    /// truncating each review to `config.max_len` tokens. No cache involved.
    pub fn encode(raw: &RawImdb, config: &ImdbConfig) -> Result<Imdb, DataError> {
        config.validate()?;
        let vocab =
            Vocabulary::build(raw.train.iter().map(|r| r.text.as_str()), config.vocab_size)?;
        let encode_split = |reviews: &[RawReview]| -> Vec<Review> {
            reviews
                .iter()
                .map(|review| {
                    let mut token_ids = vocab.encode(&review.text);
                    truncate(&mut token_ids, config.max_len, config.truncating);
                    Review {
                        token_ids,
                        sentiment: review.sentiment,
                        rating: review.rating,
                    }
                })
                .collect()
        };
        // The two splits are independent: encode them on two threads.
        let (train, test) = std::thread::scope(|scope| {
            let test = scope.spawn(|| encode_split(&raw.test));
            let train = encode_split(&raw.train);
            (
                train,
                test.join().expect("the encoding thread does not panic"),
            )
        });
        Ok(Imdb {
            train,
            test,
            vocab,
            source: raw.source.clone(),
            cache: CacheStatus::Off,
        })
    }

    /// The reviews of one split.
    pub fn split(&self, split: Split) -> &[Review] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// How many reviews of `split` have this `sentiment`.
    pub fn count(&self, split: Split, sentiment: Sentiment) -> usize {
        self.split(split)
            .iter()
            .filter(|review| review.sentiment == sentiment)
            .count()
    }
}

fn hex_md5(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// Bumped whenever the tokenizer or the encoding changes, so old caches are not reused.
const ENCODING_VERSION: u32 = 1;

/// What the cached dataset depends on: the source (path, size, modification
/// time) and every setting that changes the encoded ids.
fn cache_key(source: &Path, config: &ImdbConfig) -> Result<String, DataError> {
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

fn write_cache(file: &Path, key: &str, imdb: &Imdb) -> Result<(), DataError> {
    super::write_atomically(file, &cache_bytes(key, imdb))
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
fn read_cache(file: &Path, key: &str) -> Result<Splits, String> {
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

    #[test]
    fn file_names_give_id_and_rating() {
        let source = Path::new("x.tar.gz");
        assert_eq!(parse_file_name(source, "m", "123_9.txt").unwrap(), (123, 9));
        for bad in [
            "123_9", "123.txt", "a_9.txt", "1_11.txt", "1_0.txt", "1_x.txt",
        ] {
            let error = parse_file_name(source, "train/pos/f", bad).unwrap_err();
            assert!(matches!(error, DataError::BadFileName { .. }), "{bad}");
            assert!(error.to_string().contains("train/pos/f"), "{error}");
        }
    }

    #[test]
    fn places_in_the_layout() {
        let source = Path::new("x");
        let place = |path: &str, is_file: bool| {
            let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            place_of(source, &parts, path, is_file)
        };
        assert!(matches!(
            place("aclImdb/train/pos/1_9.txt", true).unwrap(),
            Place::Review(Split::Train, Sentiment::Positive)
        ));
        assert!(matches!(
            place("test/neg/1_2.txt", true).unwrap(),
            Place::Review(Split::Test, Sentiment::Negative)
        ));
        for skipped in [
            "aclImdb/train/unsup/1_0.txt",
            "aclImdb/train/labeledBow.feat",
            "aclImdb/test/urls_pos.txt",
            "aclImdb/train/",
            "aclImdb/train/pos/",
        ] {
            let is_file = !skipped.ends_with('/');
            assert!(
                matches!(place(skipped, is_file).unwrap(), Place::SplitContent(_)),
                "{skipped}"
            );
        }
        assert!(matches!(
            place("aclImdb/README", true).unwrap(),
            Place::Elsewhere
        ));
        assert!(matches!(
            place("aclImdb/", false).unwrap(),
            Place::Elsewhere
        ));
        assert!(matches!(
            place("aclImdb/train/maybe/1_5.txt", true).unwrap_err(),
            DataError::UnknownLabel { .. }
        ));
        assert!(matches!(
            place("aclImdb/train/pos/deep/1_5.txt", true).unwrap_err(),
            DataError::BadFileName { .. }
        ));
    }
}

//! The IMDB movie-review dataset: 25,000 training and 25,000 test reviews,
//! half positive, half negative (Maas et al., "Learning Word Vectors for
//! Sentiment Analysis", ACL 2011).
//!
//! Loading it is one way through four steps, each in one place:
//! 1. **find** the archive: [`DataPaths::locate`] (in `paths.rs`), given [`remote_file`];
//! 2. **read** the reviews: [`archive`] streams the `.tar.gz` (or reads an
//!    extracted directory) into a [`RawImdb`] of labelled texts;
//! 3. **encode** them: [`Imdb::encode`] (here) builds the vocabulary from the
//!    training reviews and turns every review into token ids;
//! 4. **keep** the result: [`cached`] writes the encoded dataset to the cache
//!    directory and reads it back on the next [`Imdb::load`].
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

use std::path::PathBuf;

use tensor::durable::remove_stale_parts;

use super::loader::SequenceExample;
use super::tokenizer::{truncate, Side};
use super::vocab::Vocabulary;
use super::{CacheMode, DataError, DataPaths, RemoteFile};

pub mod archive;
pub mod cached;
pub mod run;

pub use archive::{read_raw, read_tar_gz, RawImdb, RawReview};
pub use cached::CacheStatus;
use cached::{cache_key, hex_md5, read_cache, write_cache};
pub use run::{ImdbOptions, ImdbSplits};

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

impl Review {
    /// Cuts every review of `reviews` to at most `max_len` tokens, keeping
    /// the end `side` says (see [`truncate`]), and frees what was cut.
    pub fn truncate_all(reviews: &mut [Review], max_len: usize, side: Side) {
        for review in reviews {
            truncate(&mut review.token_ids, max_len, side);
            review.token_ids.shrink_to_fit();
        }
    }
}

impl SequenceExample for Review {
    fn token_ids(&self) -> &[usize] {
        &self.token_ids
    }

    fn label(&self) -> f32 {
        self.sentiment.label()
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
            remove_stale_parts(dir);
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

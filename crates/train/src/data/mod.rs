//! Datasets: finding the files, reading them, turning text into numbers, and
//! cutting the numbers into batches.
//!
//! A model never sees text. Between a folder of movie reviews and the
//! `[batch, time]` tensor of token ids an LSTM reads lie five steps, one module
//! each:
//!
//! | step | module | what you learn there |
//! | --- | --- | --- |
//! | find or fetch the file | [`paths`], [`download`] (written through `tensor::durable`) | a search order, a cache, a download that is verified and written atomically |
//! | read the raw examples | [`imdb::archive`], [`text`] | streaming through gzip and tar without unpacking; labels from a directory layout |
//! | text to words | [`tokenizer`] | a tokenizer simple enough to state in one sentence |
//! | words to ids | [`vocab`], [`imdb`] (`Imdb::encode`) | a vocabulary from training counts only, with padding and out-of-vocabulary ids |
//! | keep the result | [`imdb::cached`] (on `cache.rs`) | a cache keyed by source and settings, checked before it is trusted |
//! | ids to batches | [`loader`] | seeded shuffling, length bucketing, padding, a validation split |
//! | numbers to batches | [`series`] | windows of a series for forecasting, as plain tensors |
//!
//! Read them in that order: each file uses only the ones before it. The
//! encoded IMDB dataset is cached in a small binary file, so only the first
//! run pays for reading and tokenizing 50,000 reviews. What can go wrong, at
//! any step, is one [`DataError`] (in [`error`]).
//!
//! # In one screen
//!
//! ```no_run
//! use train::data::loader::{split_validation, DEFAULT_VALIDATION_FRACTION};
//! use train::data::{DataLoader, DataPaths, Imdb, ImdbConfig, LoaderConfig};
//!
//! # fn main() -> Result<(), train::data::DataError> {
//! // Found, or downloaded, then read and encoded (or taken from the cache).
//! let imdb = Imdb::load(&DataPaths::from_env(None), &ImdbConfig::default())?;
//! let (train, validation) = split_validation(imdb.train, DEFAULT_VALIDATION_FRACTION, 42)?;
//! let train_loader = DataLoader::new(&train, LoaderConfig::new(32))?;
//! let validation_loader = DataLoader::new(&validation, LoaderConfig::evaluation(256))?;
//! for epoch in 0..2 {
//!     for batch in train_loader.batches(epoch) {
//!         // batch.token_ids: [32, time] ids, batch.lengths, batch.labels: [32]
//!         assert_eq!(batch.token_ids.shape()[0], batch.labels.shape()[0]);
//!     }
//!     let validation_batches = validation_loader.batches(epoch);
//!     println!("epoch {epoch}: {} validation batches", validation_batches.len());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where data comes from
//!
//! [`DataPaths::locate`] looks at an explicit path, then `$TAPEGRAD_DATA`, then
//! the cache directory, and downloads into the cache if none has the file
//! (see [`paths`]). Offline, the error says which file to put where.
//!
//! # Errors
//!
//! Every fallible function returns [`DataError`], whose message names the file
//! (and, inside an archive, the member) and what is wrong with it. Bad data is
//! never skipped silently: a dataset is either complete or an error.

mod cache;
pub mod download;
pub mod error;
pub mod imdb;
pub mod loader;
pub mod paths;
pub mod series;
pub mod text;
pub mod tokenizer;
pub mod vocab;

pub use download::RemoteFile;
pub use error::DataError;
pub use imdb::{CacheStatus, Imdb, ImdbConfig, ImdbOptions, ImdbSplits, Review, Sentiment};
pub use loader::{Batch, DataLoader, LoaderConfig};
pub use paths::{default_cache_dir, CacheMode, DataPaths, DATA_DIR_ENV};
pub use series::{SeriesBatch, SeriesDataset, SeriesLoader};
pub use text::CharCorpus;
pub use tokenizer::Side;
pub use vocab::Vocabulary;

/// Writes `bytes` to `path` through the crash-safe file layer
/// ([`tensor::durable::write_atomically`]: a part file, flushed, renamed),
/// creating the directory first.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), DataError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io("creating", parent, e))?;
    }
    tensor::durable::write_atomically(path, bytes).map_err(|e| DataError::io("writing", path, e))
}

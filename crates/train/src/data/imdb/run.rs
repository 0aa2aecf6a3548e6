//! The reviews of one training run: the IMDB data options a program takes,
//! and the splits they make.

use std::path::PathBuf;

use super::{Imdb, ImdbConfig, Review};
use crate::data::loader::{split_validation, spread, DEFAULT_VALIDATION_FRACTION};
use crate::data::{CacheStatus, DataError, DataPaths, Side, Vocabulary};
use crate::options::{at_least_one, non_empty_path, probability};

/// The IMDB options of a training program (`clap::Args`; each field's doc
/// is its `--help`): where the reviews are, how they become token ids, how
/// many are used, and how many are held out for validation.
#[derive(Clone, Debug, clap::Args)]
pub struct ImdbOptions {
    /// aclImdb_v1.tar.gz, a .tar.gz in its layout, or an aclImdb/ directory
    /// [default: $TAPEGRAD_DATA, the cache, then a download from Stanford]
    #[arg(long, value_name = "PATH", value_parser = non_empty_path)]
    pub data: Option<PathBuf>,
    /// Most frequent words kept
    #[arg(long, default_value = "20000", value_parser = at_least_one)]
    pub vocab_size: usize,
    /// Tokens kept per training review
    #[arg(long, default_value = "200", value_parser = at_least_one)]
    pub max_len: usize,
    /// Tokens kept per validation and test review, and by --predict (0: the whole review)
    #[arg(long, value_name = "N", default_value = "600")]
    pub eval_max_len: usize,
    /// Which end of a long review is cut
    #[arg(long, value_enum, default_value_t = Side::Pre)]
    pub truncate: Side,
    /// Which end of a short review is padded (pre: the padding comes first, as
    /// Keras' pad_sequences does by default)
    #[arg(long, value_enum, default_value_t = Side::Pre)]
    pub padding: Side,
    /// The share of the training reviews held out for validation (0: none;
    /// best.safetensors is then the last epoch's)
    #[arg(long, default_value_t = DEFAULT_VALIDATION_FRACTION, value_parser = probability)]
    pub validation_split: f64,
    /// Validate on the test reviews after every epoch and train on all the
    /// training reviews, as tutorials that pass validation_data=(x_test,
    /// y_test) do; the best epoch is then chosen on the test set, so the
    /// test figure is optimistic
    #[arg(long, conflicts_with = "validation_split")]
    pub validate_on_test: bool,
    /// Use only N training and N test reviews (a quick smoke run)
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
}

/// The reviews of a run, each split cut to its own length.
#[derive(Debug)]
pub struct ImdbSplits {
    /// Training reviews, at most `max_len` tokens each.
    pub train: Vec<Review>,
    /// Held-out training reviews, at most `eval_max_len` tokens each.
    pub validation: Vec<Review>,
    /// Test reviews, at most `eval_max_len` tokens each.
    pub test: Vec<Review>,
    /// The vocabulary, built from the training split.
    pub vocab: Vocabulary,
    /// What the cache did on this load.
    pub cache: CacheStatus,
}

impl ImdbOptions {
    /// `eval_max_len` as a number of tokens (0 is the whole review).
    pub fn eval_tokens(&self) -> usize {
        match self.eval_max_len {
            0 => usize::MAX,
            n => n,
        }
    }

    /// Finds (or downloads) the reviews, tokenizes them (from the cache if it
    /// can), spreads `limit` of each split over it, holds out
    /// `validation_split` of the training reviews (the split fixed by `seed`)
    /// and cuts each split to its length.
    ///
    /// # Errors
    /// If the data cannot be found or read, or no training review is left.
    pub fn load(&self, seed: u64) -> Result<ImdbSplits, DataError> {
        let config = ImdbConfig {
            vocab_size: self.vocab_size,
            // Read at the longer length; each split is cut to its own below.
            max_len: self.max_len.max(self.eval_tokens()),
            truncating: self.truncate,
        };
        let imdb = Imdb::load(&DataPaths::from_env(self.data.clone()), &config)?;
        let reviews = spread(imdb.train, self.limit);
        let all = reviews.len();
        let held_out = if self.validate_on_test {
            0.0
        } else {
            self.validation_split
        };
        let (mut train, mut validation) = split_validation(reviews, held_out, seed)?;
        if train.is_empty() {
            return Err(DataError::InvalidArgument(format!(
                "--validation-split {} leaves no training reviews (of {all})",
                self.validation_split
            )));
        }
        let mut test = spread(imdb.test, self.limit);
        if self.validate_on_test {
            validation.clone_from(&test);
        }
        Review::truncate_all(&mut train, self.max_len, self.truncate);
        Review::truncate_all(&mut validation, self.eval_tokens(), self.truncate);
        Review::truncate_all(&mut test, self.eval_tokens(), self.truncate);
        Ok(ImdbSplits {
            train,
            validation,
            test,
            vocab: imdb.vocab,
            cache: imdb.cache,
        })
    }

    /// The settings of these options that decide which reviews a run trains
    /// and validates on, as checkpoint metadata (`data.validation_split`,
    /// `data.validate_on_test`, `data.limit`): a resumed run must keep them.
    pub fn split_metadata(&self) -> Vec<(String, String)> {
        vec![
            (
                "data.validation_split".into(),
                self.validation_split.to_string(),
            ),
            (
                "data.validate_on_test".into(),
                self.validate_on_test.to_string(),
            ),
            ("data.limit".into(), format!("{:?}", self.limit)),
        ]
    }
}

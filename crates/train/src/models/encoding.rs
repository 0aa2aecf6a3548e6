//! How text becomes the sentiment model's input, as a checkpoint records it.

use autograd::Tape;
use tensor::{Indices, Tensor};

use super::config::{read_field, ConfigError, Metadata, MetadataValue};
use super::SentimentModel;
use crate::data::tokenizer::{truncate, Side};
use crate::data::Vocabulary;

/// The vocabulary and text settings a [`SentimentModel`] was trained with:
/// what a new process needs, besides the weights, to score new text as the
/// test reviews were scored ([`ReviewEncoding::positive_probability`]).
#[derive(Clone, Debug)]
pub struct ReviewEncoding {
    /// Words to token ids.
    pub vocab: Vocabulary,
    /// Tokens kept per training review.
    pub max_len: usize,
    /// Tokens kept per evaluated review (validation, test, new text); 0 for all.
    pub eval_max_len: usize,
    /// Which end of a long review is cut.
    pub truncating: Side,
}

impl ReviewEncoding {
    /// The settings as metadata: `vocab`, `data.max_len`,
    /// `data.eval_max_len`, `data.truncating`.
    pub fn to_metadata(&self) -> Metadata {
        [
            ("vocab", self.vocab.to_text()),
            ("data.max_len", self.max_len.to_text()),
            ("data.eval_max_len", self.eval_max_len.to_text()),
            ("data.truncating", self.truncating.to_text()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// The settings from metadata written by [`ReviewEncoding::to_metadata`]
    /// (files written before `data.eval_max_len` evaluated at `data.max_len`).
    ///
    /// # Errors
    /// Names a key that is missing or does not parse.
    pub fn from_metadata(metadata: &Metadata) -> Result<Self, ConfigError> {
        let text: String = read_field(metadata, "vocab", None)?;
        let vocab = Vocabulary::from_text(&text, "in the checkpoint").map_err(|e| ConfigError {
            key: "vocab".to_string(),
            problem: e.to_string(),
        })?;
        let max_len = read_field(metadata, "data.max_len", None)?;
        Ok(ReviewEncoding {
            vocab,
            max_len,
            eval_max_len: read_field(metadata, "data.eval_max_len", Some(max_len))?,
            truncating: read_field(metadata, "data.truncating", None)?,
        })
    }

    /// `eval_max_len` as a number of tokens (0 is the whole review).
    pub fn eval_tokens(&self) -> usize {
        match self.eval_max_len {
            0 => usize::MAX,
            n => n,
        }
    }

    /// `P(positive)` of `text` by `model`, the text encoded as the test reviews are.
    pub fn positive_probability(&self, model: &SentimentModel, text: &str) -> f64 {
        let mut ids = self.vocab.encode(text);
        truncate(&mut ids, self.eval_tokens(), self.truncating);
        // An empty text is one padded step: the model sees no word of it.
        let length = ids.len();
        let ids = Indices::new(
            if ids.is_empty() { vec![0] } else { ids },
            &[1, length.max(1)],
        );
        let mask = Tensor::full(&[1, length.max(1)], if length == 0 { 0.0 } else { 1.0 });
        let logits = model.forward(&Tape::no_grad(), &ids, Some(&mask));
        model.positive_probability(logits.value())[0]
    }
}

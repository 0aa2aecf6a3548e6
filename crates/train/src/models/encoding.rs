//! How text becomes the sentiment model's input, as a checkpoint records it.

use autograd::Tape;

use super::config::{read_field, ConfigError, Metadata, MetadataValue};
use super::{SentimentConfig, SentimentModel};
use crate::data::loader::{collate, LoaderConfig};
use crate::data::tokenizer::{truncate, Side};
use crate::data::{Review, Sentiment, Vocabulary};

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
    /// Which end of a short review is padded.
    pub padding: Side,
}

impl ReviewEncoding {
    /// The settings as metadata: `vocab`, `data.max_len`,
    /// `data.eval_max_len`, `data.truncating`, `data.padding`.
    pub fn to_metadata(&self) -> Metadata {
        [
            ("vocab", self.vocab.to_text()),
            ("data.max_len", self.max_len.to_text()),
            ("data.eval_max_len", self.eval_max_len.to_text()),
            ("data.truncating", self.truncating.to_text()),
            ("data.padding", self.padding.to_text()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
    }

    /// The settings from metadata written by [`ReviewEncoding::to_metadata`]
    /// (files written before `data.eval_max_len` evaluated at `data.max_len`,
    /// and before `data.padding` padded at the start).
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
            padding: read_field(metadata, "data.padding", Some(Side::Pre))?,
        })
    }

    /// `eval_max_len` as a number of tokens (0 is the whole review).
    pub fn eval_tokens(&self) -> usize {
        match self.eval_max_len {
            0 => usize::MAX,
            n => n,
        }
    }

    /// How batches of reviews are laid out for a model of `config`, shuffled
    /// with `seed` for training (at most `max_len` tokens a review) or in
    /// order for evaluation (`None`; at most `eval_max_len`): padded on this
    /// encoding's side. A model that masks skips the padding, so each batch
    /// is as wide as its longest review and lengths are bucketed; one that
    /// does not reads the padding as words, so every batch is exactly as
    /// wide as the longest review allowed (Keras' `pad_sequences(maxlen=…)`),
    /// in the order the reviews were shuffled.
    pub fn loader_config(
        &self,
        config: &SentimentConfig,
        batch_size: usize,
        seed: Option<u64>,
    ) -> LoaderConfig {
        let width = match seed {
            Some(_) => self.max_len,
            None => self.eval_max_len,
        };
        let base = match seed {
            Some(seed) => LoaderConfig {
                seed,
                ..LoaderConfig::new(batch_size)
            },
            None => LoaderConfig::evaluation(batch_size),
        };
        LoaderConfig {
            padding: self.padding,
            fixed_len: (!config.mask && width > 0).then_some(width),
            bucket_pool: base.bucket_pool.filter(|_| config.mask),
            ..base
        }
    }

    /// `P(positive)` of `text` by `model`, the text encoded (truncated and
    /// padded) as the test reviews are.
    pub fn positive_probability(&self, model: &SentimentModel, text: &str) -> f64 {
        let mut ids = self.vocab.encode(text);
        truncate(&mut ids, self.eval_tokens(), self.truncating);
        // The label is not read: only the layout of the batch matters here.
        let review = [Review {
            token_ids: ids,
            sentiment: Sentiment::Negative,
            rating: 1,
        }];
        let layout = self.loader_config(model.config(), 1, None);
        let batch = collate(&review, &[0], layout.padding, layout.fixed_len.unwrap_or(0));
        let logits = model.forward(&Tape::no_grad(), &batch.token_ids, Some(&batch.mask()));
        model.positive_probability(logits.value())[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use tensor::Indices;

    fn encoding(padding: Side) -> ReviewEncoding {
        ReviewEncoding {
            vocab: Vocabulary::build(["good bad fine dull film"], 10).unwrap(),
            max_len: 6,
            eval_max_len: 8,
            truncating: Side::Pre,
            padding,
        }
    }

    /// A masked model gets batches as wide as their longest review; one that
    /// reads the padding gets every batch at the longest length allowed.
    #[test]
    fn batches_are_fixed_width_only_for_a_model_without_a_mask() {
        let masked = SentimentConfig::new(7);
        let unmasked = SentimentConfig {
            mask: false,
            ..masked.clone()
        };
        let text = encoding(Side::Post);
        let training = text.loader_config(&masked, 4, Some(3));
        assert_eq!((training.fixed_len, training.seed), (None, 3));
        assert!(training.shuffle && training.bucket_pool.is_some());
        assert_eq!(training.padding, Side::Post);
        let training = text.loader_config(&unmasked, 4, Some(3));
        assert_eq!((training.fixed_len, training.bucket_pool), (Some(6), None));
        let evaluation = text.loader_config(&unmasked, 4, None);
        assert_eq!(evaluation.fixed_len, Some(8));
        assert!(!evaluation.shuffle);
        let whole = ReviewEncoding {
            eval_max_len: 0,
            ..text
        };
        assert_eq!(whole.loader_config(&unmasked, 4, None).fixed_len, None);
    }

    /// `--predict` lays a text out as the test reviews were: for a model
    /// without a mask, padded to `eval_max_len` on the padding side.
    #[test]
    fn a_new_text_is_padded_as_the_test_reviews_were() {
        let config = SentimentConfig {
            mask: false,
            embedding_dim: 3,
            hidden_size: 4,
            ..SentimentConfig::new(7)
        };
        let model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(0));
        for padding in [Side::Pre, Side::Post] {
            let text = encoding(padding);
            let ids = text.vocab.encode("good film");
            let padded = match padding {
                Side::Pre => [vec![0; 6], ids.clone()].concat(),
                Side::Post => [ids.clone(), vec![0; 6]].concat(),
            };
            let logits = model.forward(&Tape::no_grad(), &Indices::new(padded, &[1, 8]), None);
            let expected = model.positive_probability(logits.value())[0];
            let got = text.positive_probability(&model, "good film");
            assert_eq!(got, expected, "{padding:?}");
        }
    }
}

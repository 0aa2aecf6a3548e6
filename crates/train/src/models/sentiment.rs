//! The sentiment classifier of the IMDB tutorials.

use autograd::{Reduction, Tape, Var};
use clap::ValueEnum;
use nn::{
    CellKind, CellOptions, Dropout, Embedding, EmbeddingOptions, InitScheme, Linear, LinearOptions,
    MergeMode, Module, RecurrentConfig, RecurrentLayer, SequenceOptions, Summary, Visitor,
    VisitorMut,
};
use rand::Rng;
use tensor::{Element, Indices, Tensor};

use crate::options::{at_least_one, probability};

/// How a [`SentimentModel`] turns its features into a prediction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SentimentHead {
    /// One logit (sigmoid, binary cross-entropy; Keras' Dense(1, activation="sigmoid"))
    #[default]
    Logit,
    /// Two logits (softmax over negative and positive, cross-entropy; the PyTorch tutorial's)
    TwoClass,
}

/// How a [`SentimentModel`] reduces the encoder's outputs over time to one
/// feature vector per review (over the valid steps only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SentimentPool {
    /// The final state, h after the last valid token (the tutorials' model)
    #[default]
    Last,
    /// The mean of the outputs over time (Keras' GlobalAveragePooling1D with a mask)
    Mean,
    /// The largest output of each feature over time (Keras' GlobalMaxPooling1D)
    Max,
    /// The max and the mean side by side, twice the features (concat pooling)
    MaxMean,
}

crate::text_as_choice!(SentimentHead, SentimentPool);

impl SentimentPool {
    /// How many features the pooling makes of an encoder's `output_size` ones.
    pub fn features(self, output_size: usize) -> usize {
        match self {
            SentimentPool::MaxMean => 2 * output_size,
            _ => output_size,
        }
    }
}

/// Configuration of a [`SentimentModel`]; `imdb_lstm`'s model options
/// (`clap::Args`: each field's doc is its `--help`).
#[derive(Clone, Copy, Debug, PartialEq, clap::Args)]
pub struct SentimentConfig {
    /// Token ids `0..vocab_size` (from the data, not an option).
    #[arg(skip = 0usize)]
    pub vocab_size: usize,
    /// Embedding width
    #[arg(long = "embedding", default_value_t = DEFAULTS.embedding_dim, value_parser = at_least_one)]
    pub embedding_dim: usize,
    /// Hidden size of the recurrent layers
    #[arg(long = "hidden", default_value_t = DEFAULTS.hidden_size, value_parser = at_least_one)]
    pub hidden_size: usize,
    /// Stacked recurrent layers
    #[arg(long = "layers", default_value_t = DEFAULTS.num_layers, value_parser = at_least_one)]
    pub num_layers: usize,
    /// The recurrent cell
    #[arg(long, value_enum, ignore_case = true, default_value_t = DEFAULTS.cell)]
    pub cell: CellKind,
    /// A bidirectional encoder, its directions' outputs concatenated
    #[arg(long)]
    pub bidirectional: bool,
    /// Dropout between recurrent layers and before the classifier
    #[arg(long, default_value_t = DEFAULTS.dropout, value_parser = probability)]
    pub dropout: f64,
    /// Dropout on the recurrent layers' inputs, one mask per sequence (Keras' dropout)
    #[arg(long, default_value_t = DEFAULTS.input_dropout, value_parser = probability)]
    pub input_dropout: f64,
    /// Dropout on the recurrent state, one mask per sequence (Keras' recurrent_dropout)
    #[arg(long, default_value_t = DEFAULTS.recurrent_dropout, value_parser = probability)]
    pub recurrent_dropout: f64,
    /// The padding id: its embedding stays zero, and it marks padded steps.
    #[arg(skip = DEFAULTS.padding_idx)]
    pub padding_idx: Option<usize>,
    /// The initializers of every layer
    #[arg(long, value_enum, default_value_t = DEFAULTS.init)]
    pub init: InitScheme,
    /// The classifier's output
    #[arg(long, value_enum, default_value_t = DEFAULTS.head)]
    pub head: SentimentHead,
    /// What the classifier reads of the outputs over the review
    #[arg(long, value_enum, default_value_t = DEFAULTS.pool)]
    pub pool: SentimentPool,
}

/// The defaults: an LSTM of 128 over embeddings of 128, Keras'
/// initializers, dropout 0.2 before one logit, which reads the max and the
/// mean of the outputs over the review (the model `imdb_lstm` trains).
const DEFAULTS: SentimentConfig = SentimentConfig {
    vocab_size: 0,
    embedding_dim: 128,
    hidden_size: 128,
    num_layers: 1,
    cell: CellKind::Lstm,
    bidirectional: false,
    dropout: 0.2,
    input_dropout: 0.0,
    recurrent_dropout: 0.0,
    padding_idx: Some(0),
    init: InitScheme::Keras,
    head: SentimentHead::Logit,
    pool: SentimentPool::MaxMean,
};

impl SentimentConfig {
    /// The defaults for a vocabulary of `vocab_size` ids: an LSTM of 128
    /// over embeddings of 128, Keras' initializers, padding id 0, dropout 0.2
    /// before one logit, which reads the max and the mean of the outputs over
    /// the review.
    pub const fn new(vocab_size: usize) -> Self {
        SentimentConfig {
            vocab_size,
            ..DEFAULTS
        }
    }

    /// The recurrent encoder's configuration.
    fn encoder_config(&self) -> RecurrentConfig {
        RecurrentConfig {
            num_layers: self.num_layers,
            bidirectional: self.bidirectional,
            merge_mode: MergeMode::Concat,
            dropout: self.dropout,
            input_dropout: self.input_dropout,
            recurrent_dropout: self.recurrent_dropout,
            cell: CellOptions {
                init: self.init,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The model's parameter count, before it is built (`None` if it
    /// overflows): what [`check_model_fits`](crate::memory::check_model_fits) needs.
    pub fn num_params(&self) -> Option<u128> {
        let (vocab, embedding) = (self.vocab_size as u128, self.embedding_dim as u128);
        let encoder = self.encoder_config();
        let recurrent =
            encoder.param_count(self.cell.gates(), self.embedding_dim, self.hidden_size)?;
        let directions = encoder.directions() as u128;
        let features = (self.hidden_size as u128).checked_mul(directions)?;
        let features = match self.pool {
            SentimentPool::MaxMean => features.checked_mul(2)?,
            _ => features,
        };
        let outputs = match self.head {
            SentimentHead::Logit => 1,
            SentimentHead::TwoClass => 2,
        };
        vocab
            .checked_mul(embedding)?
            .checked_add(recurrent)?
            .checked_add(features.checked_mul(outputs)?.checked_add(outputs)?)
    }
}

crate::model_config!(SentimentConfig = "SentimentModel" {
    vocab_size,
    embedding_dim,
    hidden_size,
    num_layers,
    cell,
    bidirectional,
    dropout,
    input_dropout,
    recurrent_dropout,
    padding_idx,
    init,
    head,
    // Checkpoints written before pooling existed read the final state.
    pool = SentimentPool::Last,
});

/// Sentiment of a review: `embedding -> (bi)RNN/LSTM/GRU over the valid
/// tokens -> final h -> dropout -> fc`.
///
/// ```text
/// ids [B, T] -> embedding [B, T, E] -> encoder (masked) -> h_n of the last layer [B, H*D]
///            -> dropout -> fc -> logits [B] (one logit) or [B, 2] (two classes)
/// ```
///
/// Parameters: `embedding.weight`, `lstm.weight_ih_l0`, `lstm.weight_hh_l0`,
/// `lstm.bias_ih_l0`, `lstm.bias_hh_l0` (`gru.*` or `rnn.*` for the other
/// cells; `_reverse`, `_l1`, ... as configured), `fc.weight`, `fc.bias`: the
/// state dict of
///
/// ```python
/// class SentimentLSTM(nn.Module):
///     def __init__(self, V, E, H, layers, bidirectional):
///         super().__init__()
///         self.embedding = nn.Embedding(V, E, padding_idx=0)
///         self.lstm = nn.LSTM(E, H, layers, batch_first=True, bidirectional=bidirectional)
///         self.fc = nn.Linear(H * (2 if bidirectional else 1), 1)
/// ```
#[derive(Clone, Debug)]
pub struct SentimentModel<T: Element = f32> {
    /// The token table.
    pub embedding: Embedding<T>,
    /// The recurrent encoder, named after its cell (`lstm`, `gru`, `rnn`).
    pub encoder: RecurrentLayer<T>,
    /// Dropout on the final state (no parameters).
    pub dropout: Dropout,
    /// The classifier on the final state.
    pub fc: Linear<T>,
    config: SentimentConfig,
}

impl<T: Element> SentimentModel<T> {
    /// A fresh model.
    ///
    /// # Panics
    /// If a size is 0 or a dropout probability is not in `[0, 1)`.
    pub fn new(config: SentimentConfig, rng: &mut impl Rng) -> Self {
        for (what, size) in [
            ("vocab_size", config.vocab_size),
            ("embedding_dim", config.embedding_dim),
            ("hidden_size", config.hidden_size),
        ] {
            assert!(
                size > 0,
                "SentimentModel: {what} = {size} must be at least 1"
            );
        }
        let embedding = Embedding::with_options(
            config.vocab_size,
            config.embedding_dim,
            EmbeddingOptions {
                padding_idx: config.padding_idx,
                mask_zero: false,
                init: config.init,
            },
            rng,
        );
        let encoder_config = config.encoder_config();
        let encoder = RecurrentLayer::new(
            config.cell,
            config.embedding_dim,
            config.hidden_size,
            encoder_config,
            rng,
        );
        let outputs = match config.head {
            SentimentHead::Logit => 1,
            SentimentHead::TwoClass => 2,
        };
        let fc = Linear::with_options(
            config.pool.features(encoder.output_size()),
            outputs,
            LinearOptions {
                init: config.init,
                ..Default::default()
            },
            rng,
        );
        SentimentModel {
            embedding,
            encoder,
            dropout: Dropout::new(config.dropout),
            fc,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SentimentConfig {
        &self.config
    }

    /// Logits for token ids `[B, T]`: `[B]` with the one-logit head, `[B, 2]`
    /// with the two-class head.
    ///
    /// `mask` (`[B, T]`, 1 at real tokens) says which steps are valid, with
    /// padding on either side; without it, tokens equal to `padding_idx` are
    /// padding (Keras' mask propagation), or every step is valid.
    ///
    /// # Panics
    /// If `ids` is not `[B, T]` or the mask has another shape.
    pub fn forward(&self, tape: &Tape<T>, ids: &Indices, mask: Option<&Tensor<T>>) -> Var<T> {
        assert_eq!(
            ids.shape().len(),
            2,
            "SentimentModel: token ids must be [batch, time], got {:?}",
            ids.shape()
        );
        let derived = if mask.is_none() {
            self.embedding.compute_mask(ids)
        } else {
            None
        };
        let mask = mask.or(derived.as_ref());
        let x = self.embedding.forward(tape, ids);
        let options = SequenceOptions {
            mask,
            ..Default::default()
        };
        let encoded = self.encoder.forward_options(tape, &x, &options);
        let pooled = match self.config.pool {
            SentimentPool::Last => encoded.final_hidden(),
            pool => pool_over_time(tape, &encoded.output, mask, pool),
        };
        let features = self.dropout.forward(&pooled);
        let logits = self.fc.forward(tape, &features);
        match self.config.head {
            SentimentHead::Logit => logits.reshape(&[ids.shape()[0]]),
            SentimentHead::TwoClass => logits,
        }
    }

    /// The mean loss of `logits` (from [`SentimentModel::forward`]) against
    /// labels `[B]` (1 positive, 0 negative): binary or two-class cross-entropy.
    ///
    /// # Panics
    /// If the shapes do not match, or (two-class head) a label is not 0 or 1.
    pub fn loss(&self, logits: &Var<T>, labels: &Tensor<T>) -> Var<T> {
        match self.config.head {
            SentimentHead::Logit => {
                logits.binary_cross_entropy_with_logits(labels, None, Reduction::Mean)
            }
            SentimentHead::TwoClass => {
                logits.cross_entropy(&class_ids(labels), None, Reduction::Mean)
            }
        }
    }

    /// `P(positive)` of each review from its logits.
    pub fn positive_probability(&self, logits: &Tensor<T>) -> Vec<f64> {
        match self.config.head {
            SentimentHead::Logit => logits
                .sigmoid()
                .to_vec()
                .iter()
                .map(|p| p.to_f64())
                .collect(),
            SentimentHead::TwoClass => logits
                .softmax(1)
                .select(1, 1)
                .to_vec()
                .iter()
                .map(|p| p.to_f64())
                .collect(),
        }
    }

    /// A Keras-style table of the layers for a `[batch, time]` input.
    pub fn summary(&self, batch: usize, time: usize) -> Summary {
        let features = self.config.pool.features(self.encoder.output_size());
        let kind = self.encoder.kind();
        let encoder_type = if self.config.bidirectional {
            format!("Bidirectional({})", kind.layer_type())
        } else {
            kind.layer_type().to_string()
        };
        let mut summary = Summary::new("SentimentModel");
        summary
            .add(
                "embedding",
                "Embedding",
                &self.embedding.output_shape(&[batch, time]),
                &self.embedding,
            )
            .add(kind.name(), encoder_type, &[batch, features], &self.encoder)
            .add::<T>("dropout", "Dropout", &[batch, features], &self.dropout)
            .add("fc", "Linear", &[batch, self.fc.out_features()], &self.fc);
        summary
    }
}

/// The mean or max of `output` `[B, T, F]` over the valid steps of `mask`
/// `[B, T]` (every step when there is no mask): `[B, F]`; both: `[B, 2F]`.
///
/// The recurrent layer writes zeros at padded steps, so the mean is the sum
/// over time divided by the number of valid steps; for the max, padded steps
/// are pushed far below any output (`h` lies in `(-1, 1)`) so none can win.
fn pool_over_time<T: Element>(
    tape: &Tape<T>,
    output: &Var<T>,
    mask: Option<&Tensor<T>>,
    pool: SentimentPool,
) -> Var<T> {
    let (batch, time) = (output.dim(0), output.dim(1));
    let mask = match mask {
        Some(mask) => mask.reshape(&[batch, time, 1]),
        None => Tensor::ones(&[batch, time, 1]),
    };
    let mean = || {
        let valid_steps = mask.sum_axis(1, false).map(|count| count.max(T::ONE));
        output.sum_axis(1, false).div(&tape.constant(valid_steps))
    };
    let max = || {
        let below = mask.map(|m| (m - T::ONE) * T::from_f64(1e4));
        output.add(&tape.constant(below)).max_axis(1, false)
    };
    match pool {
        SentimentPool::Last => unreachable!("the final state is not pooled"),
        SentimentPool::Mean => mean(),
        SentimentPool::Max => max(),
        SentimentPool::MaxMean => Var::concat(&[max(), mean()], 1),
    }
}

/// Labels `[B]` of 0.0 and 1.0 as class ids.
fn class_ids<T: Element>(labels: &Tensor<T>) -> Indices {
    let ids = labels
        .to_vec()
        .iter()
        .map(|&y| {
            let y = y.to_f64();
            assert!(
                y == 0.0 || y == 1.0,
                "SentimentModel: a two-class label must be 0 or 1, got {y}"
            );
            y as usize
        })
        .collect();
    Indices::new(ids, labels.shape())
}

impl<T: Element> Module<T> for SentimentModel<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.module("embedding", &self.embedding);
        visitor.module(self.encoder.kind().name(), &self.encoder);
        visitor.module("fc", &self.fc);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.module("embedding", &mut self.embedding);
        visitor.module(self.encoder.kind().name(), &mut self.encoder);
        visitor.module("fc", &mut self.fc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ModelConfig;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn tiny() -> SentimentConfig {
        SentimentConfig {
            embedding_dim: 3,
            hidden_size: 4,
            bidirectional: true,
            ..SentimentConfig::new(10)
        }
    }

    #[test]
    fn the_parameter_count_is_known_before_the_model_is_built() {
        for (cell, pool, head) in [
            (CellKind::Lstm, SentimentPool::MaxMean, SentimentHead::Logit),
            (CellKind::Gru, SentimentPool::Last, SentimentHead::TwoClass),
            (CellKind::Rnn, SentimentPool::Mean, SentimentHead::Logit),
        ] {
            let config = SentimentConfig {
                cell,
                pool,
                head,
                num_layers: 2,
                ..tiny()
            };
            let model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(0));
            assert_eq!(config.num_params(), Some(model.num_params() as u128));
        }
        let huge = SentimentConfig {
            hidden_size: usize::MAX,
            ..tiny()
        };
        assert_eq!(huge.num_params(), None);
    }

    #[test]
    fn parameters_are_named_like_the_pytorch_model() {
        for cell in CellKind::ALL {
            let model = SentimentModel::<f32>::new(
                SentimentConfig { cell, ..tiny() },
                &mut StdRng::seed_from_u64(0),
            );
            let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
            assert_eq!(names[0], "embedding.weight");
            assert_eq!(names[1], format!("{cell}.weight_ih_l0"));
            assert_eq!(names[5], format!("{cell}.weight_ih_l0_reverse"));
            assert_eq!(names[names.len() - 2..], ["fc.weight", "fc.bias"]);
        }
    }

    #[test]
    fn logits_have_one_entry_per_review_and_every_parameter_gets_a_gradient() {
        for head in [SentimentHead::Logit, SentimentHead::TwoClass] {
            let model = SentimentModel::<f64>::new(
                SentimentConfig { head, ..tiny() },
                &mut StdRng::seed_from_u64(0),
            );
            let ids = Indices::new(vec![0, 0, 3, 4, 5, 6, 7, 8], &[2, 4]);
            let labels = Tensor::from_vec(vec![1.0, 0.0], &[2]);
            let tape = Tape::new();
            let logits = model.forward(&tape, &ids, None);
            let probabilities = model.positive_probability(logits.value());
            assert_eq!(probabilities.len(), 2);
            assert!(probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
            let grads = tape.backward(&model.loss(&logits, &labels)).unwrap();
            drop(tape);
            for (name, param) in model.named_params() {
                assert!(
                    param.grad(&grads).is_some(),
                    "{head}: {name} has no gradient"
                );
            }
        }
    }

    /// With `padding_idx = 0` the mask comes from the ids: a pre-padded review
    /// scores as the same review without padding.
    #[test]
    fn padding_does_not_change_a_reviews_score() {
        let model = SentimentModel::<f64>::new(tiny(), &mut StdRng::seed_from_u64(1));
        let tape = Tape::no_grad();
        let padded = model
            .forward(&tape, &Indices::new(vec![0, 0, 3, 4], &[1, 4]), None)
            .item();
        let alone = model
            .forward(&tape, &Indices::new(vec![3, 4], &[1, 2]), None)
            .item();
        assert!((padded - alone).abs() < 1e-14);
        let text = model.summary(32, 200).to_string();
        assert!(text.contains("lstm (Bidirectional(LSTM))"), "{text}");
        assert!(text.contains(&format!("Total params: {}", model.num_params())));
    }

    /// Mean and max pooling read only the valid steps: they equal the same
    /// reduction written out by hand over the unpadded output, and a pre-padded
    /// review scores as the review alone.
    #[test]
    fn pooling_reads_only_the_valid_steps() {
        for pool in [
            SentimentPool::Mean,
            SentimentPool::Max,
            SentimentPool::MaxMean,
        ] {
            let model = SentimentModel::<f64>::new(
                SentimentConfig { pool, ..tiny() },
                &mut StdRng::seed_from_u64(2),
            );
            let tape = Tape::no_grad();
            let padded = model
                .forward(&tape, &Indices::new(vec![0, 0, 3, 4, 5], &[1, 5]), None)
                .item();
            let alone = model
                .forward(&tape, &Indices::new(vec![3, 4, 5], &[1, 3]), None)
                .item();
            assert!(
                (padded - alone).abs() < 1e-14,
                "{pool}: {padded} vs {alone}"
            );

            let ids = Indices::new(vec![3, 4, 5], &[1, 3]);
            let output = model
                .encoder
                .forward(&tape, &model.embedding.forward(&tape, &ids))
                .output;
            let steps: Vec<Vec<f64>> = (0..3)
                .map(|t| output.value().select(1, t).to_vec())
                .collect();
            let features = 0..steps[0].len();
            let mean: Vec<f64> = features
                .clone()
                .map(|j| steps.iter().map(|h| h[j]).sum::<f64>() / 3.0)
                .collect();
            let max: Vec<f64> = features
                .map(|j| steps.iter().map(|h| h[j]).fold(f64::MIN, f64::max))
                .collect();
            let by_hand = match pool {
                SentimentPool::Mean => mean,
                SentimentPool::Max => max,
                _ => [max, mean].concat(),
            };
            let pooled = pool_over_time(&tape, &output, None, pool);
            let logit = model.fc.forward(&tape, &pooled).item();
            let expected = model
                .fc
                .forward(
                    &tape,
                    &tape.constant(Tensor::from_vec(by_hand.clone(), &[1, by_hand.len()])),
                )
                .item();
            assert_eq!(pooled.value().to_vec(), by_hand, "{pool}");
            assert!((logit - alone).abs() < 1e-14 && (expected - alone).abs() < 1e-14);
        }
    }

    #[test]
    fn the_configuration_round_trips_through_metadata() {
        let config = SentimentConfig {
            cell: CellKind::Gru,
            padding_idx: None,
            dropout: 0.25,
            head: SentimentHead::TwoClass,
            init: InitScheme::PyTorch,
            pool: SentimentPool::Max,
            ..tiny()
        };
        let metadata = config.to_metadata();
        assert_eq!(SentimentConfig::from_metadata(&metadata), Ok(config));
        // A checkpoint written before pooling existed reads the final state.
        let mut older = metadata.clone();
        older.remove("pool");
        let read = SentimentConfig::from_metadata(&older).unwrap();
        assert_eq!(read.pool, SentimentPool::Last);
        let mut broken = metadata.clone();
        broken.insert("hidden_size".into(), "many".into());
        let error = SentimentConfig::from_metadata(&broken).unwrap_err();
        assert_eq!(error.key, "hidden_size");
        broken.insert("model".into(), "CharRnn".into());
        let error = SentimentConfig::from_metadata(&broken).unwrap_err();
        assert!(error.to_string().contains("holds a CharRnn"), "{error}");
    }
}

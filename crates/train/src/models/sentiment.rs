//! The sentiment classifier of the IMDB tutorials.

use autograd::{Reduction, Tape, Var};
use clap::ValueEnum;
use nn::{
    Activation, CellKind, CellOptions, Dropout, Embedding, EmbeddingOptions, InitScheme, Linear,
    LinearOptions, MergeMode, Module, RecurrentConfig, RecurrentLayer, SequenceOptions, Summary,
    Visitor, VisitorMut,
};
use rand::Rng;
use tensor::{Element, Indices, Tensor};

use super::pooling::{pool_over_time, SentimentPool};
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

crate::text_as_choice!(SentimentHead);

/// Configuration of a [`SentimentModel`]; `imdb_lstm`'s model options
/// (`clap::Args`: each field's doc is its `--help`).
#[derive(Clone, Debug, PartialEq, clap::Args)]
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
    /// Stacked recurrent layers of their own sizes, first to last (Keras'
    /// LSTM(64, return_sequences=True) then LSTM(32): 64,32); in place of
    /// --hidden and --layers
    #[arg(
        long,
        value_name = "SIZES",
        value_delimiter = ',',
        value_parser = at_least_one,
        conflicts_with_all = ["hidden_size", "num_layers"],
    )]
    pub layer_sizes: Vec<usize>,
    /// The recurrent cell
    #[arg(long, value_enum, ignore_case = true, default_value_t = DEFAULTS.cell)]
    pub cell: CellKind,
    /// The GRU's form: its reset gate after the recurrent product (true,
    /// PyTorch's and Keras' default) or before it (false, `h~ = tanh(W [r*h, x] + b)`)
    #[arg(long, default_value_t = DEFAULTS.reset_after, action = clap::ArgAction::Set)]
    pub reset_after: bool,
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
    /// Mask the padding: padded steps keep the state and are not pooled
    /// (false: every step counts, and the padding id is a word like any
    /// other, as in a Keras model without mask_zero)
    #[arg(long, default_value_t = DEFAULTS.mask, action = clap::ArgAction::Set)]
    pub mask: bool,
    /// A hidden dense layer of this many ReLU units before the classifier
    /// (Keras' Dense(64, activation="relu"))
    #[arg(long, value_name = "UNITS", value_parser = at_least_one)]
    pub dense: Option<usize>,
}

/// The defaults: an LSTM of 128 over embeddings of 128, Keras'
/// initializers, dropout 0.2 before one logit, which reads the max and the
/// mean of the outputs over the review (the model `imdb_lstm` trains).
const DEFAULTS: SentimentConfig = SentimentConfig {
    vocab_size: 0,
    embedding_dim: 128,
    hidden_size: 128,
    num_layers: 1,
    layer_sizes: Vec::new(),
    cell: CellKind::Lstm,
    reset_after: true,
    bidirectional: false,
    dropout: 0.2,
    input_dropout: 0.0,
    recurrent_dropout: 0.0,
    padding_idx: Some(0),
    init: InitScheme::Keras,
    head: SentimentHead::Logit,
    pool: SentimentPool::MaxMean,
    mask: true,
    dense: None,
};

impl SentimentConfig {
    /// The defaults for a vocabulary of `vocab_size` ids: an LSTM of 128
    /// over embeddings of 128, Keras' initializers, padding id 0, dropout 0.2
    /// before one logit, which reads the max and the mean of the outputs over
    /// the review.
    pub fn new(vocab_size: usize) -> Self {
        SentimentConfig {
            vocab_size,
            ..DEFAULTS
        }
    }

    /// The configuration of each recurrent layer of the model: one for a
    /// stack of one size (`num_layers` layers, PyTorch's `nn.LSTM(..,
    /// num_layers)`), one per layer for `layer_sizes`.
    fn encoder_configs(&self) -> Vec<(usize, RecurrentConfig)> {
        let config = |num_layers| RecurrentConfig {
            num_layers,
            bidirectional: self.bidirectional,
            merge_mode: MergeMode::Concat,
            dropout: self.dropout,
            input_dropout: self.input_dropout,
            recurrent_dropout: self.recurrent_dropout,
            cell: CellOptions {
                init: self.init,
                reset_after: self.reset_after,
                ..Default::default()
            },
            ..Default::default()
        };
        match self.layer_sizes.as_slice() {
            [] => vec![(self.hidden_size, config(self.num_layers))],
            sizes => sizes.iter().map(|&size| (size, config(1))).collect(),
        }
    }

    /// The model's parameter count, before it is built (`None` if it
    /// overflows): what [`check_model_fits`](crate::memory::check_model_fits) needs.
    pub fn num_params(&self) -> Option<u128> {
        let (vocab, embedding) = (self.vocab_size as u128, self.embedding_dim as u128);
        let mut recurrent = 0u128;
        let mut features = self.embedding_dim as u128;
        for (hidden, encoder) in self.encoder_configs() {
            let input = usize::try_from(features).ok()?;
            recurrent =
                recurrent.checked_add(encoder.param_count(self.cell.gates(), input, hidden)?)?;
            features = (hidden as u128).checked_mul(encoder.directions() as u128)?;
        }
        let features = match self.pool {
            SentimentPool::MaxMean => features.checked_mul(2)?,
            _ => features,
        };
        let outputs = match self.head {
            SentimentHead::Logit => 1,
            SentimentHead::TwoClass => 2,
        };
        let linear =
            |inputs: u128, outputs: u128| inputs.checked_mul(outputs)?.checked_add(outputs);
        let (dense, features) = match self.dense {
            Some(units) => (linear(features, units as u128)?, units as u128),
            None => (0, features),
        };
        vocab
            .checked_mul(embedding)?
            .checked_add(recurrent)?
            .checked_add(dense)?
            .checked_add(linear(features, outputs)?)
    }
}

crate::model_config!(SentimentConfig = "SentimentModel" {
    vocab_size,
    embedding_dim,
    hidden_size,
    num_layers,
    // Checkpoints written before per-layer sizes had one size.
    layer_sizes = Vec::new(),
    cell,
    // Checkpoints written before the GRU had two forms used PyTorch's.
    reset_after = true,
    bidirectional,
    dropout,
    input_dropout,
    recurrent_dropout,
    padding_idx,
    init,
    head,
    // Checkpoints written before pooling existed read the final state.
    pool = SentimentPool::Last,
    // ... and before these, masked, with no dense layer.
    mask = true,
    dense = None,
});

/// Sentiment of a review: `embedding -> (bi)RNN/LSTM/GRU over the valid
/// tokens -> pooled over time -> dropout -> (dense) -> fc`.
///
/// ```text
/// ids [B, T] -> embedding [B, T, E] -> encoder (masked) -> pooled [B, F]
///            -> dropout -> (dense, ReLU) -> fc -> logits [B] (one logit) or [B, 2] (two classes)
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
///
/// With `layer_sizes` each layer is an `nn.LSTM` of its own (`lstm`,
/// `lstm_1`, ...), and a hidden dense layer adds `dense.weight` and
/// `dense.bias`.
#[derive(Clone, Debug)]
pub struct SentimentModel<T: Element = f32> {
    /// The token table.
    pub embedding: Embedding<T>,
    /// The recurrent encoder, named after its cell (`lstm`, `gru`, `rnn`):
    /// the whole stack for one hidden size, its first layer for
    /// `layer_sizes`.
    pub encoder: RecurrentLayer<T>,
    /// With `layer_sizes`, the layers above `encoder`, each of its own size
    /// and reading the one below through dropout (`lstm_1`, `lstm_2`, ...,
    /// as Keras names a model's second and third LSTM).
    pub stacked: Vec<RecurrentLayer<T>>,
    /// Dropout on the pooled features (no parameters).
    pub dropout: Dropout,
    /// The optional hidden layer, ReLU units between the features and `fc`.
    pub dense: Option<Linear<T>>,
    /// The classifier.
    pub fc: Linear<T>,
    config: SentimentConfig,
}

impl<T: Element> SentimentModel<T> {
    /// A fresh model.
    ///
    /// # Panics
    /// If a size is 0 or a dropout probability is not in `[0, 1)`.
    pub fn new(config: SentimentConfig, rng: &mut impl Rng) -> Self {
        let sizes = [config.vocab_size, config.embedding_dim];
        for (what, size) in ["vocab_size", "embedding_dim"].into_iter().zip(sizes) {
            assert!(
                size > 0,
                "SentimentModel: {what} = {size} must be at least 1"
            );
        }
        let embedding = Embedding::with_options(
            config.vocab_size,
            config.embedding_dim,
            EmbeddingOptions {
                // Without masking, the padding id is a word like any other.
                padding_idx: config.padding_idx.filter(|_| config.mask),
                mask_zero: false,
                init: config.init,
            },
            rng,
        );
        let mut input_size = config.embedding_dim;
        let mut layers = config
            .encoder_configs()
            .into_iter()
            .map(|(hidden, encoder)| {
                let layer =
                    RecurrentLayer::new(config.cell, input_size, hidden, encoder, &mut *rng);
                input_size = layer.output_size();
                layer
            });
        let encoder = layers.next().expect("at least one recurrent layer");
        let stacked: Vec<RecurrentLayer<T>> = layers.collect();
        let outputs = match config.head {
            SentimentHead::Logit => 1,
            SentimentHead::TwoClass => 2,
        };
        let linear = |inputs, outputs, activation, rng: &mut _| {
            let options = LinearOptions {
                init: config.init,
                activation,
                ..Default::default()
            };
            Linear::with_options(inputs, outputs, options, rng)
        };
        let features = config
            .pool
            .features(stacked.last().unwrap_or(&encoder).output_size());
        let dense = config
            .dense
            .map(|units| linear(features, units, Activation::Relu, &mut *rng));
        let fc_inputs = config.dense.unwrap_or(features);
        let fc = linear(fc_inputs, outputs, Activation::Identity, rng);
        SentimentModel {
            embedding,
            encoder,
            stacked,
            dropout: Dropout::new(config.dropout),
            dense,
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
        // Without masking every step counts, padded or not.
        let mask = mask.or(derived.as_ref()).filter(|_| self.config.mask);
        let x = self.embedding.forward(tape, ids);
        let options = SequenceOptions {
            mask,
            ..Default::default()
        };
        let mut encoded = self.encoder.forward_options(tape, &x, &options);
        for layer in &self.stacked {
            let below = self.dropout.forward(&encoded.output);
            encoded = layer.forward_options(tape, &below, &options);
        }
        let pooled = match self.config.pool {
            SentimentPool::Last => encoded.final_hidden(),
            pool => pool_over_time(tape, &encoded.output, mask, pool),
        };
        let mut features = self.dropout.forward(&pooled);
        if let Some(dense) = &self.dense {
            features = dense.forward(tape, &features);
        }
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
        let last = self.stacked.last().unwrap_or(&self.encoder);
        let features = self.config.pool.features(last.output_size());
        let kind = self.encoder.kind();
        let encoder_type = if self.config.bidirectional {
            format!("Bidirectional({})", kind.layer_type())
        } else {
            kind.layer_type().to_string()
        };
        let mut summary = Summary::new("SentimentModel");
        summary.add(
            "embedding",
            "Embedding",
            &self.embedding.output_shape(&[batch, time]),
            &self.embedding,
        );
        let layers = std::iter::once(&self.encoder).chain(&self.stacked);
        for (index, layer) in layers.enumerate() {
            let (name, is_last) = (stacked_name(kind, index), index == self.stacked.len());
            let shape = match is_last {
                true => vec![batch, features],
                false => vec![batch, time, layer.output_size()],
            };
            summary.add(&name, encoder_type.clone(), &shape, layer);
        }
        summary.add::<T>("dropout", "Dropout", &[batch, features], &self.dropout);
        if let Some(dense) = &self.dense {
            summary.add("dense", "Linear", &[batch, dense.out_features()], dense);
        }
        summary.add("fc", "Linear", &[batch, self.fc.out_features()], &self.fc);
        summary
    }
}

/// The name of recurrent layer `index` of a stack of layers of their own
/// sizes: `lstm`, then `lstm_1`, `lstm_2`, ... (Keras' names).
fn stacked_name(kind: CellKind, index: usize) -> String {
    match index {
        0 => kind.name().to_string(),
        index => format!("{}_{index}", kind.name()),
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
        for (index, layer) in self.stacked.iter().enumerate() {
            visitor.module(&stacked_name(layer.kind(), index + 1), layer);
        }
        visitor.module("dense", &self.dense);
        visitor.module("fc", &self.fc);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.module("embedding", &mut self.embedding);
        visitor.module(self.encoder.kind().name(), &mut self.encoder);
        for (index, layer) in self.stacked.iter_mut().enumerate() {
            visitor.module(&stacked_name(layer.kind(), index + 1), layer);
        }
        visitor.module("dense", &mut self.dense);
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
            let model = SentimentModel::<f32>::new(config.clone(), &mut StdRng::seed_from_u64(0));
            assert_eq!(config.num_params(), Some(model.num_params() as u128));
            let sized = SentimentConfig {
                layer_sizes: vec![5, 3, 2],
                dense: Some(4),
                ..config
            };
            let model = SentimentModel::<f32>::new(sized.clone(), &mut StdRng::seed_from_u64(0));
            assert_eq!(sized.num_params(), Some(model.num_params() as u128));
        }
        let huge = SentimentConfig {
            hidden_size: usize::MAX,
            ..tiny()
        };
        assert_eq!(huge.num_params(), None);
    }

    /// Without masking, the model computes what the masked model computes
    /// when told every step is valid: the padding runs through the encoder
    /// and is pooled like any word (Keras without `mask_zero`); with it, the
    /// padding changes nothing.
    #[test]
    fn masking_off_runs_the_padding_through_the_model() {
        for pool in [SentimentPool::Last, SentimentPool::MaxMean] {
            let masked = SentimentConfig {
                pool,
                dense: Some(3),
                ..tiny()
            };
            let unmasked = SentimentConfig {
                mask: false,
                ..masked.clone()
            };
            let model = SentimentModel::<f64>::new(masked, &mut StdRng::seed_from_u64(1));
            let mut plain = SentimentModel::<f64>::new(unmasked, &mut StdRng::seed_from_u64(2));
            let weights = model.state_dict().into_iter().collect();
            plain.load_state_dict(&weights, true).unwrap();
            let tape = Tape::no_grad();
            let ids = Indices::new(vec![3, 4, 0, 0, 5, 6, 7, 0], &[2, 4]);
            let all_valid = Tensor::ones(&[2, 4]);
            let unmasked = plain.forward(&tape, &ids, None).value().to_vec();
            let as_valid = model
                .forward(&tape, &ids, Some(&all_valid))
                .value()
                .to_vec();
            assert_eq!(unmasked, as_valid, "{pool}");
            let masked = model.forward(&tape, &ids, None).value().to_vec();
            assert_ne!(
                unmasked, masked,
                "{pool}: the padding counts without a mask"
            );
        }
    }

    /// Keras' stacked model, Embedding -> BiLSTM(4, sequences) -> BiLSTM(2):
    /// each layer of its own size reads the one below, and is named as Keras
    /// names it.
    #[test]
    fn layers_of_their_own_sizes_stack() {
        let config = SentimentConfig {
            layer_sizes: vec![4, 2],
            pool: SentimentPool::Last,
            ..tiny()
        };
        let model = SentimentModel::<f64>::new(config, &mut StdRng::seed_from_u64(0));
        let shapes: Vec<(String, Vec<usize>)> = model
            .named_params()
            .into_iter()
            .map(|(name, p)| (name, p.value().shape().to_vec()))
            .collect();
        let shape_of = |wanted: &str| {
            let (_, shape) = shapes
                .iter()
                .find(|(name, _)| name == wanted)
                .expect(wanted);
            shape.clone()
        };
        assert_eq!(shape_of("lstm.weight_ih_l0"), [16, 3]);
        assert_eq!(shape_of("lstm.weight_hh_l0_reverse"), [16, 4]);
        assert_eq!(shape_of("lstm_1.weight_ih_l0"), [8, 8]);
        assert_eq!(shape_of("lstm_1.weight_hh_l0_reverse"), [8, 2]);
        assert_eq!(shape_of("fc.weight"), [1, 4]);
        // The upper layer reads the lower one's outputs, step by step.
        let tape = Tape::no_grad();
        let ids = Indices::new(vec![0, 3, 4, 5, 6, 7], &[2, 3]);
        let x = model.embedding.forward(&tape, &ids);
        let mask = model.embedding.compute_mask(&ids);
        let options = SequenceOptions {
            mask: mask.as_ref(),
            ..Default::default()
        };
        let below = model.encoder.forward_options(&tape, &x, &options).output;
        let top = model.stacked[0].forward_options(&tape, &below, &options);
        let expected = model.fc.forward(&tape, &top.final_hidden());
        let logits = model.forward(&tape, &ids, None);
        assert_eq!(logits.value().to_vec(), expected.value().to_vec());
        let text = model.summary(2, 3).to_string();
        assert!(
            text.contains("lstm_1") && text.contains("[2, 3, 8]"),
            "{text}"
        );
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
            layer_sizes: vec![4, 2],
            ..tiny()
        };
        let metadata = config.to_metadata();
        assert_eq!(metadata["layer_sizes"], "4,2");
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

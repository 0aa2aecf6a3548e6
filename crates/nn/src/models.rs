//! Ready models for the tutorials: a sentiment classifier and a character-level language model.
//!
//! Both are small compositions of the layers in this crate, named the way a
//! PyTorch module with the same attributes would name its parameters, so a
//! checkpoint saved from the equivalent PyTorch model loads here.

use autograd::{Tape, Var};
use rand::Rng;
use tensor::{Element, Indices, Tensor};

use crate::cell::{CellOptions, CellVars, GruCell, LstmCell, RecurrentCell};
use crate::dropout::Dropout;
use crate::embedding::{Embedding, EmbeddingOptions};
use crate::init::InitScheme;
use crate::linear::{Linear, LinearOptions, LinearVars};
use crate::module::{check_vars, with_prefix, Bind, Module};
use crate::param::Param;
use crate::recurrent::{
    Lstm, MergeMode, Recurrent, RecurrentConfig, RecurrentOutput, SequenceOptions,
};
use crate::summary::Summary;

/// Configuration of a [`SentimentLstm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SentimentConfig {
    /// Token ids `0..vocab_size`.
    pub vocab_size: usize,
    /// Embedding width `E` (default 128).
    pub embedding_dim: usize,
    /// LSTM hidden size `H` (default 128).
    pub hidden_size: usize,
    /// Stacked LSTM layers (default 1).
    pub num_layers: usize,
    /// A bidirectional LSTM whose two final states are concatenated (default false).
    pub bidirectional: bool,
    /// Dropout between LSTM layers and on the final state before `fc`, while training (default 0).
    pub dropout: f64,
    /// The LSTM's recurrent dropout (default 0).
    pub recurrent_dropout: f64,
    /// The padding id: its embedding stays zero, and it marks padded steps (default `Some(0)`).
    pub padding_idx: Option<usize>,
    /// Keras' (default) or PyTorch's initializers, for every layer.
    pub init: InitScheme,
    /// Seed for the dropout masks.
    pub seed: u64,
}

impl SentimentConfig {
    /// The defaults above for a vocabulary of `vocab_size` ids.
    pub fn new(vocab_size: usize) -> Self {
        SentimentConfig {
            vocab_size,
            embedding_dim: 128,
            hidden_size: 128,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            padding_idx: Some(0),
            init: InitScheme::Keras,
            seed: 0,
        }
    }
}

/// Binary sentiment of a review: `embedding -> (bi)LSTM over the valid
/// tokens -> final h -> fc -> one logit`.
///
/// ```text
/// ids [B, T] -> embedding [B, T, E] -> lstm (masked) -> h_n of the last layer [B, H*D]
///            -> dropout -> fc [B, 1] -> logit [B]        (sigmoid(logit) = P(positive))
/// ```
///
/// Parameters: `embedding.weight`, `lstm.weight_ih_l0`, `lstm.weight_hh_l0`,
/// `lstm.bias_ih_l0`, `lstm.bias_hh_l0` (and `_reverse`, `_l1`, ... as
/// configured), `fc.weight`, `fc.bias` — the state dict of
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
pub struct SentimentLstm<T: Element = f32> {
    /// The token table.
    pub embedding: Embedding<T>,
    /// The recurrent encoder.
    pub lstm: Lstm<T>,
    /// The classifier on the final state.
    pub fc: Linear<T>,
    /// Dropout on the final state (no parameters).
    pub dropout: Dropout,
    config: SentimentConfig,
}

/// A [`SentimentLstm`]'s parameters bound to a tape.
#[derive(Clone, Debug)]
pub struct SentimentVars<T: Element = f32> {
    /// The embedding table.
    pub embedding: Var<T>,
    /// One bound cell per LSTM layer and direction.
    pub lstm: Vec<CellVars<T>>,
    /// The classifier.
    pub fc: LinearVars<T>,
}

impl<T: Element> SentimentLstm<T> {
    /// A fresh model.
    pub fn new(config: SentimentConfig, rng: &mut impl Rng) -> Self {
        let embedding_options = EmbeddingOptions {
            padding_idx: config.padding_idx,
            mask_zero: false,
            init: config.init,
        };
        let embedding = Embedding::with_options(
            config.vocab_size,
            config.embedding_dim,
            embedding_options,
            rng,
        );
        let lstm_config = RecurrentConfig {
            num_layers: config.num_layers,
            bidirectional: config.bidirectional,
            merge_mode: MergeMode::Concat,
            dropout: config.dropout,
            recurrent_dropout: config.recurrent_dropout,
            cell: CellOptions {
                init: config.init,
                ..Default::default()
            },
            seed: config.seed,
            ..Default::default()
        };
        let lstm = Lstm::with_config(config.embedding_dim, config.hidden_size, lstm_config, rng);
        let fc_options = LinearOptions {
            init: config.init,
            ..Default::default()
        };
        let fc = Linear::with_options(lstm.output_size(), 1, fc_options, rng);
        let dropout = Dropout::new(config.dropout, config.seed.wrapping_add(1));
        SentimentLstm {
            embedding,
            lstm,
            fc,
            dropout,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SentimentConfig {
        &self.config
    }

    /// Logits `[B]` for token ids `[B, T]`.
    ///
    /// `mask` (`[B, T]`, 1 at real tokens) says which steps are valid, with
    /// padding on either side; without it, tokens equal to `padding_idx` are
    /// padding (Keras' mask propagation), or every step is valid.
    pub fn forward(&mut self, tape: &Tape<T>, ids: &Indices, mask: Option<&Tensor<T>>) -> Var<T> {
        let bound = self.bind(tape);
        self.forward_with(&bound, ids, mask)
    }

    /// [`SentimentLstm::forward`] with parameters already bound.
    ///
    /// # Panics
    /// If `ids` is not `[B, T]` or the mask has another shape.
    pub fn forward_with(
        &mut self,
        w: &SentimentVars<T>,
        ids: &Indices,
        mask: Option<&Tensor<T>>,
    ) -> Var<T> {
        assert_eq!(
            ids.shape().len(),
            2,
            "SentimentLstm: token ids must be [batch, time], got {:?}",
            ids.shape()
        );
        let derived = if mask.is_none() {
            self.embedding.compute_mask(ids)
        } else {
            None
        };
        let mask = mask.or(derived.as_ref());
        let x = self.embedding.forward_with(&w.embedding, ids);
        let options = SequenceOptions {
            mask,
            ..Default::default()
        };
        let encoded = self.lstm.forward_with(&w.lstm, &x, &options);
        let features = self.dropout.forward(&encoded.final_hidden());
        let logits = self.fc.forward_with(&w.fc, &features);
        logits.reshape(&[ids.shape()[0]])
    }

    /// A Keras-style table of the layers for a `[batch, time]` input.
    pub fn summary(&self, batch: usize, time: usize) -> Summary {
        let features = self.lstm.output_size();
        let lstm_type = if self.config.bidirectional {
            "Bidirectional(LSTM)"
        } else {
            "LSTM"
        };
        let mut summary = Summary::new("SentimentLstm");
        summary
            .add(
                "embedding",
                "Embedding",
                &self.embedding.output_shape(&[batch, time]),
                &self.embedding,
            )
            .add("lstm", lstm_type, &[batch, features], &self.lstm)
            .add::<T>("dropout", "Dropout", &[batch, features], &self.dropout)
            .add("fc", "Linear", &[batch, 1], &self.fc);
        summary
    }
}

impl<T: Element> Module<T> for SentimentLstm<T> {
    fn named_params(&self) -> Vec<(String, &Param<T>)> {
        let mut all = with_prefix("embedding", self.embedding.named_params());
        all.extend(with_prefix("lstm", self.lstm.named_params()));
        all.extend(with_prefix("fc", self.fc.named_params()));
        all
    }

    fn named_params_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        let mut all = with_prefix("embedding", self.embedding.named_params_mut());
        all.extend(with_prefix("lstm", self.lstm.named_params_mut()));
        all.extend(with_prefix("fc", self.fc.named_params_mut()));
        all
    }

    fn set_training(&mut self, training: bool) {
        self.lstm.set_training(training);
        Module::<T>::set_training(&mut self.dropout, training);
    }
}

impl<T: Element> Bind<T> for SentimentLstm<T> {
    type Bound = SentimentVars<T>;

    fn bind_vars(&self, vars: &[Var<T>]) -> SentimentVars<T> {
        check_vars("SentimentLstm", &self.named_params(), vars);
        let lstm_count = self.lstm.named_params().len();
        SentimentVars {
            embedding: self.embedding.bind_vars(&vars[..1]),
            lstm: self.lstm.bind_vars(&vars[1..1 + lstm_count]),
            fc: self.fc.bind_vars(&vars[1 + lstm_count..]),
        }
    }
}

/// Configuration of a [`CharRnn`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CharRnnConfig {
    /// Character ids `0..vocab_size`.
    pub vocab_size: usize,
    /// Embedding width (default 64).
    pub embedding_dim: usize,
    /// Hidden size of every recurrent layer (default 256).
    pub hidden_size: usize,
    /// Stacked layers (default 2).
    pub num_layers: usize,
    /// Dropout between the recurrent layers while training (default 0).
    pub dropout: f64,
    /// Carry the state from one batch to the next (default true: consecutive
    /// batches continue the same streams of text, truncated BPTT).
    pub stateful: bool,
    /// Keras' (default) or PyTorch's initializers.
    pub init: InitScheme,
    /// Seed for dropout masks.
    pub seed: u64,
}

impl CharRnnConfig {
    /// The defaults above for an alphabet of `vocab_size` characters.
    pub fn new(vocab_size: usize) -> Self {
        CharRnnConfig {
            vocab_size,
            embedding_dim: 64,
            hidden_size: 256,
            num_layers: 2,
            dropout: 0.0,
            stateful: true,
            init: InitScheme::Keras,
            seed: 0,
        }
    }
}

/// A character-level language model (Karpathy's char-rnn): `embedding ->
/// stacked LSTM or GRU -> fc` over the alphabet, predicting each next character.
///
/// ```text
/// ids [B, T] -> embedding [B, T, E] -> rnn (stateful) [B, T, H] -> fc -> logits [B, T, V]
/// ```
///
/// Parameters: `embedding.weight`, `lstm.weight_ih_l0`, ... (or `gru.*`,
/// `rnn.*`: the submodule is named after its cell), `fc.weight`, `fc.bias`.
#[derive(Clone, Debug)]
pub struct CharRnn<T: Element, C: RecurrentCell<T>> {
    /// The character table.
    pub embedding: Embedding<T>,
    /// The recurrent stack.
    pub rnn: Recurrent<T, C>,
    /// The projection to one logit per character.
    pub fc: Linear<T>,
}

/// A char-rnn with LSTM cells.
pub type CharLstm<T = f32> = CharRnn<T, LstmCell<T>>;
/// A char-rnn with GRU cells.
pub type CharGru<T = f32> = CharRnn<T, GruCell<T>>;

impl<T: Element, C: RecurrentCell<T>> CharRnn<T, C> {
    /// A fresh model.
    pub fn new(config: CharRnnConfig, rng: &mut impl Rng) -> Self {
        let embedding_options = EmbeddingOptions {
            init: config.init,
            ..Default::default()
        };
        let embedding = Embedding::with_options(
            config.vocab_size,
            config.embedding_dim,
            embedding_options,
            rng,
        );
        let rnn_config = RecurrentConfig {
            num_layers: config.num_layers,
            dropout: config.dropout,
            stateful: config.stateful,
            cell: CellOptions {
                init: config.init,
                ..Default::default()
            },
            seed: config.seed,
            ..Default::default()
        };
        let rnn = Recurrent::with_config(config.embedding_dim, config.hidden_size, rnn_config, rng);
        let fc = Linear::with_options(
            config.hidden_size,
            config.vocab_size,
            LinearOptions {
                init: config.init,
                ..Default::default()
            },
            rng,
        );
        CharRnn { embedding, rnn, fc }
    }

    /// The name of the recurrent submodule: `lstm`, `gru` or `rnn`.
    pub fn rnn_name(&self) -> String {
        C::NAME.to_lowercase()
    }

    /// Logits `[B, T, V]` for character ids `[B, T]`; a stateful model starts
    /// from the state the previous batch ended in.
    pub fn forward(&mut self, tape: &Tape<T>, ids: &Indices) -> Var<T> {
        self.forward_state(tape, ids, None).0
    }

    /// Logits and the recurrent layer's output (final states included),
    /// starting from `state` if given (`[h]` or `[h, c]`, each `[layers, B, H]`).
    pub fn forward_state(
        &mut self,
        tape: &Tape<T>,
        ids: &Indices,
        state: Option<&[Var<T>]>,
    ) -> (Var<T>, RecurrentOutput<T>) {
        let x = self.embedding.forward(tape, ids);
        let options = SequenceOptions {
            initial_state: state,
            ..Default::default()
        };
        let out = self.rnn.forward_options(tape, &x, &options);
        (self.fc.forward(tape, &out.output), out)
    }

    /// Forgets the carried state (start of a new text or epoch).
    pub fn reset_states(&mut self) {
        self.rnn.reset_states();
    }

    /// Samples `length` characters after `prompt`: each step feeds the last
    /// character and draws the next from `softmax(logits / temperature)`.
    /// Runs without recording and leaves the model's carried state alone.
    ///
    /// # Panics
    /// If `prompt` is empty or `temperature <= 0`.
    pub fn generate(
        &self,
        prompt: &[usize],
        length: usize,
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "CharRnn::generate: the prompt is empty");
        assert!(
            temperature > 0.0,
            "CharRnn::generate: temperature {temperature} must be positive"
        );
        let mut model = self.clone();
        model.rnn.reset_states();
        model.set_training(false);
        let tape = Tape::no_grad();
        let (logits, out) = model.forward_state(
            &tape,
            &Indices::new(prompt.to_vec(), &[1, prompt.len()]),
            None,
        );
        let mut state = out.state();
        let mut last = logits
            .value()
            .select(1, prompt.len() - 1)
            .reshape(&[self.fc.out_features()]);
        let mut text = Vec::with_capacity(length);
        for _ in 0..length {
            let probabilities = last
                .scale(T::from_f64(1.0 / temperature))
                .softmax(0)
                .to_vec();
            let mut draw: f64 = rng.gen();
            let mut next = probabilities.len() - 1;
            for (i, p) in probabilities.iter().enumerate() {
                draw -= p.to_f64();
                if draw < 0.0 {
                    next = i;
                    break;
                }
            }
            text.push(next);
            let (logits, out) =
                model.forward_state(&tape, &Indices::new(vec![next], &[1, 1]), Some(&state));
            state = out.state();
            last = logits.value().reshape(&[self.fc.out_features()]);
        }
        text
    }

    /// A Keras-style table of the layers for a `[batch, time]` input.
    pub fn summary(&self, batch: usize, time: usize) -> Summary {
        let mut summary = Summary::new(format!("Char{}", C::NAME));
        summary
            .add(
                "embedding",
                "Embedding",
                &self.embedding.output_shape(&[batch, time]),
                &self.embedding,
            )
            .add(
                &self.rnn_name(),
                C::NAME,
                &self.rnn.output_shape(&[batch, time, self.embedding.dim()]),
                &self.rnn,
            )
            .add(
                "fc",
                "Linear",
                &[batch, time, self.fc.out_features()],
                &self.fc,
            );
        summary
    }
}

impl<T: Element, C: RecurrentCell<T>> Module<T> for CharRnn<T, C> {
    fn named_params(&self) -> Vec<(String, &Param<T>)> {
        let mut all = with_prefix("embedding", self.embedding.named_params());
        all.extend(with_prefix(&self.rnn_name(), self.rnn.named_params()));
        all.extend(with_prefix("fc", self.fc.named_params()));
        all
    }

    fn named_params_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        let name = self.rnn_name();
        let mut all = with_prefix("embedding", self.embedding.named_params_mut());
        all.extend(with_prefix(&name, self.rnn.named_params_mut()));
        all.extend(with_prefix("fc", self.fc.named_params_mut()));
        all
    }

    fn set_training(&mut self, training: bool) {
        self.rnn.set_training(training);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn tiny() -> SentimentConfig {
        SentimentConfig {
            embedding_dim: 4,
            hidden_size: 3,
            bidirectional: true,
            ..SentimentConfig::new(10)
        }
    }

    #[test]
    fn sentiment_model_has_pytorch_names_and_one_logit_per_review() {
        let mut model = SentimentLstm::<f32>::new(tiny(), &mut StdRng::seed_from_u64(0));
        let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "embedding.weight");
        assert_eq!(names[1], "lstm.weight_ih_l0");
        assert_eq!(names[8], "lstm.bias_hh_l0_reverse");
        assert_eq!(names[9..], ["fc.weight", "fc.bias"]);
        let tape = Tape::new();
        let ids = Indices::new(vec![0, 0, 3, 4, 5, 6, 7, 8], &[2, 4]);
        let logits = model.forward(&tape, &ids, None);
        assert_eq!(logits.shape(), &[2]);
        let loss = logits.binary_cross_entropy_with_logits(
            &Tensor::from_vec(vec![1.0, 0.0], &[2]),
            None,
            Default::default(),
        );
        let grads = tape.backward(&loss).unwrap();
        assert!(model
            .gradients(&tape, &grads)
            .iter()
            .all(|(_, g)| g.is_some()));
    }

    /// With `padding_idx = 0` the mask comes from the ids: a pre-padded review
    /// scores as the same review without padding.
    #[test]
    fn padding_does_not_change_a_reviews_score() {
        let mut model = SentimentLstm::<f64>::new(tiny(), &mut StdRng::seed_from_u64(1));
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

    #[test]
    fn char_rnn_predicts_every_step_and_generates() {
        let config = CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            ..CharRnnConfig::new(6)
        };
        let mut model = CharGru::<f32>::new(config, &mut StdRng::seed_from_u64(2));
        assert_eq!(model.named_params()[1].0, "gru.weight_ih_l0");
        let tape = Tape::new();
        let logits = model.forward(&tape, &Indices::new(vec![1, 2, 3, 4, 5, 0], &[2, 3]));
        assert_eq!(logits.shape(), &[2, 3, 6]);
        assert!(model.rnn.carried_states().is_some(), "stateful by default");
        let text = model.generate(&[1, 2], 5, 1.0, &mut StdRng::seed_from_u64(3));
        assert_eq!(text.len(), 5);
        assert!(text.iter().all(|&c| c < 6));
        let summary = model.summary(8, 100).to_string();
        assert!(summary.contains("gru (GRU)"), "{summary}");
    }
}

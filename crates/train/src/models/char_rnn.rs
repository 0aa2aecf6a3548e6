//! The character-level language model of the text-generation tutorials.

use autograd::{Tape, Var};
use rand::Rng;
use tensor::{Element, Indices, Tensor};

use nn::{
    CellKind, CellOptions, Dropout, Embedding, EmbeddingOptions, Init, InitScheme, Linear,
    LinearOptions, Module, RecurrentConfig, RecurrentLayer, RecurrentOutput, SequenceOptions,
    Summary, Visitor, VisitorMut,
};

/// Configuration of a [`CharRnn`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CharRnnConfig {
    /// Character ids `0..vocab_size`.
    pub vocab_size: usize,
    /// Embedding width (default 256).
    pub embedding_dim: usize,
    /// Hidden size of every recurrent layer (default 512).
    pub hidden_size: usize,
    /// Stacked layers (default 1).
    pub num_layers: usize,
    /// The recurrent cell (default LSTM).
    pub cell: CellKind,
    /// The GRU's form (default true: the reset gate after the recurrent
    /// product, PyTorch's; see `nn::GruCell`).
    pub reset_after: bool,
    /// Dropout between the recurrent layers in training passes (default 0).
    pub dropout: f64,
    /// Dropout on the recurrent outputs before the output layer in training
    /// passes (default 0; the TensorFlow tutorial's `Dropout(0.2)`).
    pub output_dropout: f64,
    /// Carry the state from one batch to the next (default false: each batch
    /// is windows of the text in a shuffled order; true: consecutive batches
    /// continue the same streams of text, truncated BPTT).
    pub stateful: bool,
    /// Keras' (default) or PyTorch's initializers.
    pub init: InitScheme,
    /// The recurrent kernel's initializer in place of the scheme's (the
    /// TensorFlow tutorial uses Glorot-uniform); `None` keeps the scheme's.
    pub recurrent_init: Option<Init>,
}

impl CharRnnConfig {
    /// The defaults above for an alphabet of `vocab_size` characters: the
    /// model `shakespeare` trains unless told otherwise.
    pub fn new(vocab_size: usize) -> Self {
        CharRnnConfig {
            vocab_size,
            embedding_dim: 256,
            hidden_size: 512,
            num_layers: 1,
            cell: CellKind::Lstm,
            reset_after: true,
            dropout: 0.0,
            output_dropout: 0.0,
            stateful: false,
            init: InitScheme::Keras,
            recurrent_init: None,
        }
    }

    /// The recurrent layers' configuration.
    fn rnn_config(&self) -> RecurrentConfig {
        RecurrentConfig {
            num_layers: self.num_layers,
            dropout: self.dropout,
            stateful: self.stateful,
            cell: CellOptions {
                init: self.init,
                recurrent_init: self.recurrent_init,
                reset_after: self.reset_after,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The model's parameter count, before it is built (`None` if it
    /// overflows): what [`check_model_fits`](crate::memory::check_model_fits) needs.
    pub fn num_params(&self) -> Option<u128> {
        let (vocab, embedding) = (self.vocab_size as u128, self.embedding_dim as u128);
        let hidden = self.hidden_size as u128;
        let rnn = self.rnn_config().param_count(
            self.cell.gates(),
            self.embedding_dim,
            self.hidden_size,
        )?;
        vocab
            .checked_mul(embedding)?
            .checked_add(rnn)?
            .checked_add(hidden.checked_mul(vocab)?.checked_add(vocab)?)
    }
}

crate::model_config!(CharRnnConfig = "CharRnn" {
    vocab_size,
    embedding_dim,
    hidden_size,
    num_layers,
    cell,
    // Checkpoints written before these existed: PyTorch's GRU, no output dropout.
    reset_after = true,
    dropout,
    output_dropout = 0.0,
    stateful,
    init,
    recurrent_init,
});

/// A character-level language model (Karpathy's char-rnn): `embedding ->
/// stacked RNN, LSTM or GRU -> fc` over the alphabet, predicting each next character.
///
/// ```text
/// ids [B, T] -> embedding [B, T, E] -> rnn (stateful) [B, T, H] -> fc -> logits [B, T, V]
/// ```
///
/// Parameters: `embedding.weight`, `lstm.weight_ih_l0`, ... (or `gru.*`,
/// `rnn.*`: the recurrent layer is named after its cell), `fc.weight`, `fc.bias`.
#[derive(Clone, Debug)]
pub struct CharRnn<T: Element = f32> {
    /// The character table.
    pub embedding: Embedding<T>,
    /// The recurrent stack.
    pub rnn: RecurrentLayer<T>,
    /// The projection to one logit per character.
    pub fc: Linear<T>,
    config: CharRnnConfig,
}

impl<T: Element> CharRnn<T> {
    /// A fresh model.
    pub fn new(config: CharRnnConfig, rng: &mut impl Rng) -> Self {
        let embedding = Embedding::with_options(
            config.vocab_size,
            config.embedding_dim,
            EmbeddingOptions {
                init: config.init,
                ..Default::default()
            },
            rng,
        );
        let rnn_config = config.rnn_config();
        let rnn = RecurrentLayer::new(
            config.cell,
            config.embedding_dim,
            config.hidden_size,
            rnn_config,
            rng,
        );
        let fc = Linear::with_options(
            config.hidden_size,
            config.vocab_size,
            LinearOptions {
                init: config.init,
                ..Default::default()
            },
            rng,
        );
        CharRnn {
            embedding,
            rnn,
            fc,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CharRnnConfig {
        &self.config
    }

    /// Logits `[B, T, V]` for character ids `[B, T]`; a stateful model starts
    /// from the state the previous batch ended in.
    pub fn forward(&self, tape: &Tape<T>, ids: &Indices) -> Var<T> {
        self.forward_state(tape, ids, None).0
    }

    /// Logits and the recurrent layer's output (final states included),
    /// starting from `state` if given (`[h]` or `[h, c]`, each `[layers, B, H]`).
    pub fn forward_state(
        &self,
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
        let features = out.output.dropout(self.config.output_dropout);
        (self.fc.forward(tape, &features), out)
    }

    /// Forgets the carried state (start of a new text or epoch).
    pub fn reset_states(&self) {
        self.rnn.reset_states();
    }

    /// Generates `length` characters after `prompt`: each step feeds the last
    /// character, carrying the state, and draws the next from
    /// `softmax(logits / temperature)`; temperature 0 takes the most likely
    /// character (greedy decoding). Records nothing, and leaves the model's
    /// carried state alone.
    ///
    /// # Panics
    /// If `prompt` is empty, `temperature` is negative or not finite, or an
    /// id is out of range.
    pub fn generate(
        &self,
        prompt: &[usize],
        length: usize,
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Vec<usize> {
        assert!(!prompt.is_empty(), "CharRnn::generate: the prompt is empty");
        assert!(
            temperature.is_finite() && temperature >= 0.0,
            "CharRnn::generate: temperature {temperature} must be 0 (greedy) or positive"
        );
        let model = self.clone();
        model.reset_states();
        let tape = Tape::no_grad();
        let (logits, out) = model.forward_state(
            &tape,
            &Indices::new(prompt.to_vec(), &[1, prompt.len()]),
            None,
        );
        let mut state = out.state();
        let vocab = self.fc.out_features();
        let mut last = logits.value().select(1, prompt.len() - 1).reshape(&[vocab]);
        let mut text = Vec::with_capacity(length);
        for _ in 0..length {
            let next = sample(&last, temperature, rng);
            text.push(next);
            let (logits, out) =
                model.forward_state(&tape, &Indices::new(vec![next], &[1, 1]), Some(&state));
            state = out.state();
            last = logits.value().reshape(&[vocab]);
        }
        text
    }

    /// A Keras-style table of the layers for a `[batch, time]` input.
    pub fn summary(&self, batch: usize, time: usize) -> Summary {
        let kind = self.rnn.kind();
        let mut summary = Summary::new(format!("Char{}", kind.layer_type()));
        summary
            .add(
                "embedding",
                "Embedding",
                &self.embedding.output_shape(&[batch, time]),
                &self.embedding,
            )
            .add(
                kind.name(),
                kind.layer_type(),
                &self.rnn.output_shape(&[batch, time, self.embedding.dim()]),
                &self.rnn,
            );
        if self.config.output_dropout > 0.0 {
            let shape = self.rnn.output_shape(&[batch, time, self.embedding.dim()]);
            summary.add::<T>(
                "dropout",
                "Dropout",
                &shape,
                &Dropout::new(self.config.output_dropout),
            );
        }
        summary.add(
            "fc",
            "Linear",
            &[batch, time, self.fc.out_features()],
            &self.fc,
        );
        summary
    }
}

/// Draws an id from `softmax(logits / temperature)`; the argmax at temperature 0.
pub fn sample<T: Element>(logits: &Tensor<T>, temperature: f64, rng: &mut impl Rng) -> usize {
    let values = logits.to_vec();
    if temperature == 0.0 {
        return logits.argmax_axis(0).values()[0];
    }
    let probabilities = logits
        .scale(T::from_f64(1.0 / temperature))
        .softmax(0)
        .to_vec();
    let mut draw: f64 = rng.gen();
    for (i, p) in probabilities.iter().enumerate() {
        draw -= p.to_f64();
        if draw < 0.0 {
            return i;
        }
    }
    values.len() - 1
}

impl<T: Element> Module<T> for CharRnn<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.module("embedding", &self.embedding);
        visitor.module(self.rnn.kind().name(), &self.rnn);
        visitor.module("fc", &self.fc);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.module("embedding", &mut self.embedding);
        visitor.module(self.rnn.kind().name(), &mut self.rnn);
        visitor.module("fc", &mut self.fc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ModelConfig;

    #[test]
    fn the_parameter_count_is_known_before_the_model_is_built() {
        let config = CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            cell: CellKind::Gru,
            ..CharRnnConfig::new(7)
        };
        let model = CharRnn::<f32>::new(config, &mut rand::rngs::StdRng::seed_from_u64(0));
        assert_eq!(config.num_params(), Some(model.num_params() as u128));
    }
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn tiny(cell: CellKind) -> CharRnnConfig {
        CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            num_layers: 2,
            stateful: true,
            cell,
            ..CharRnnConfig::new(6)
        }
    }

    #[test]
    fn char_rnn_predicts_every_step_and_generates() {
        let model = CharRnn::<f32>::new(tiny(CellKind::Gru), &mut StdRng::seed_from_u64(2));
        assert_eq!(model.named_params()[1].0, "gru.weight_ih_l0");
        let tape = Tape::new();
        let logits = model.forward(&tape, &Indices::new(vec![1, 2, 3, 4, 5, 0], &[2, 3]));
        assert_eq!(logits.shape(), &[2, 3, 6]);
        assert!(model.rnn.carried_states().is_some(), "stateful when asked");
        let text = model.generate(&[1, 2], 5, 1.0, &mut StdRng::seed_from_u64(3));
        assert_eq!(text.len(), 5);
        assert!(text.iter().all(|&c| c < 6));
        let summary = model.summary(8, 100).to_string();
        assert!(summary.contains("gru (GRU)"), "{summary}");
        assert!(!summary.contains("Dropout"), "{summary}");
        let config = CharRnnConfig {
            output_dropout: 0.2,
            ..tiny(CellKind::Gru)
        };
        let model = CharRnn::<f32>::new(config, &mut StdRng::seed_from_u64(2));
        let summary = model.summary(8, 100).to_string();
        assert!(summary.contains("dropout (Dropout)"), "{summary}");
    }

    /// The dropout before the output layer acts in training passes only: it
    /// changes the logits there, and evaluation sees the model without it.
    #[test]
    fn output_dropout_acts_in_training_passes_only() {
        let plain = CharRnnConfig {
            stateful: false,
            ..tiny(CellKind::Lstm)
        };
        let dropped = CharRnnConfig {
            output_dropout: 0.5,
            ..plain
        };
        let with = CharRnn::<f64>::new(dropped, &mut StdRng::seed_from_u64(6));
        let without = CharRnn::<f64>::new(plain, &mut StdRng::seed_from_u64(6));
        let ids = Indices::new(vec![1, 2, 3, 4, 5, 0], &[2, 3]);
        let logits =
            |model: &CharRnn<f64>, tape: &Tape<f64>| model.forward(tape, &ids).value().to_vec();
        let evaluation = logits(&with, &Tape::no_grad());
        assert_eq!(evaluation, logits(&without, &Tape::no_grad()));
        assert_ne!(logits(&with, &Tape::training(7)), evaluation);
        assert_eq!(logits(&without, &Tape::training(7)), evaluation);
    }

    /// Temperature 0 is greedy: every generated character is the argmax of
    /// the model's own prediction from the text so far.
    #[test]
    fn temperature_zero_takes_the_most_likely_character() {
        let config = CharRnnConfig {
            stateful: false,
            ..tiny(CellKind::Lstm)
        };
        let model = CharRnn::<f64>::new(config, &mut StdRng::seed_from_u64(4));
        let prompt = [1, 2, 3];
        let text = model.generate(&prompt, 6, 0.0, &mut StdRng::seed_from_u64(5));
        let mut so_far = prompt.to_vec();
        for &next in &text {
            let tape = Tape::no_grad();
            let logits = model.forward(&tape, &Indices::new(so_far.clone(), &[1, so_far.len()]));
            let last = logits.value().select(1, so_far.len() - 1).reshape(&[6]);
            assert_eq!(next, last.argmax_axis(0).values()[0]);
            so_far.push(next);
        }
        let tensor = Tensor::from_vec(vec![0.1f64, 3.0, 2.9], &[3]);
        assert_eq!(sample(&tensor, 0.0, &mut StdRng::seed_from_u64(0)), 1);
    }

    #[test]
    fn the_configuration_round_trips_through_metadata() {
        let config = CharRnnConfig {
            dropout: 0.5,
            stateful: false,
            recurrent_init: Some(Init::GlorotUniform),
            ..tiny(CellKind::Rnn)
        };
        assert_eq!(
            CharRnnConfig::from_metadata(&config.to_metadata()),
            Ok(config)
        );
    }
}

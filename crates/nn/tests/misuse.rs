//! Library misuse: each layer constructor and forward pass, given a zero size,
//! an out-of-range id, a bad shape or a non-finite hyperparameter, panics with
//! a message naming the layer, the argument and the value.

use autograd::Tape;
use nn::{
    init, Dropout, Embedding, EmbeddingOptions, Init, Linear, Lstm, RecurrentConfig,
    SequenceOptions,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Indices, Tensor};

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

// ---- constructors -----------------------------------------------------------

#[test]
#[should_panic(expected = "Linear: in_features = 0 and out_features = 3 must both be at least 1")]
fn linear_with_no_inputs() {
    Linear::<f32>::new(0, 3, &mut rng());
}

#[test]
#[should_panic(expected = "Embedding: vocab_size = 5 and dim = 0 must both be at least 1")]
fn embedding_of_width_zero() {
    Embedding::<f32>::new(5, 0, &mut rng());
}

#[test]
#[should_panic(expected = "Embedding: padding_idx 5 is out of range for a vocabulary of 5")]
fn embedding_whose_padding_id_is_past_the_table() {
    let options = EmbeddingOptions {
        padding_idx: Some(5),
        ..EmbeddingOptions::default()
    };
    Embedding::<f32>::with_options(5, 2, options, &mut rng());
}

#[test]
#[should_panic(expected = "LSTM: input_size = 3 and hidden_size = 0 must both be at least 1")]
fn lstm_with_no_hidden_units() {
    Lstm::<f32>::new(3, 0, &mut rng());
}

#[test]
#[should_panic(expected = "LSTM: num_layers must be at least 1")]
fn lstm_with_no_layers() {
    let config = RecurrentConfig {
        num_layers: 0,
        ..RecurrentConfig::default()
    };
    Lstm::<f32>::with_config(3, 2, config, &mut rng());
}

#[test]
#[should_panic(expected = "LSTM: recurrent_dropout NaN is not in [0, 1)")]
fn lstm_with_a_nan_recurrent_dropout() {
    let config = RecurrentConfig {
        recurrent_dropout: f64::NAN,
        ..RecurrentConfig::default()
    };
    Lstm::<f32>::with_config(3, 2, config, &mut rng());
}

#[test]
#[should_panic(expected = "Dropout: probability 1 is not in [0, 1)")]
fn dropout_that_drops_everything() {
    Dropout::new(1.0);
}

#[test]
#[should_panic(expected = "uniform: bound NaN is not a finite number >= 0")]
fn uniform_init_with_a_nan_bound() {
    init::uniform::<f32>(&[2, 2], f64::NAN, &mut rng());
}

#[test]
#[should_panic(expected = "Init::Constant: value inf is not finite")]
fn constant_init_with_infinity() {
    Init::Constant(f64::INFINITY).tensor::<f32>(&[2], &mut rng());
}

#[test]
#[should_panic(expected = "rand_normal: std = -0.1 is not a finite number >= 0")]
fn normal_init_with_a_negative_std() {
    Init::Normal(-0.1).tensor::<f32>(&[2], &mut rng());
}

#[test]
#[should_panic(expected = "glorot_uniform: needs a [fan_out, fan_in] shape, got [2, 2, 2]")]
fn glorot_init_of_a_3d_shape() {
    init::glorot_uniform::<f32>(&[2, 2, 2], &mut rng());
}

// ---- forward passes -----------------------------------------------------------

#[test]
#[should_panic(
    expected = "Embedding: token id 7 (position 2 of ids [2, 2]) is out of range for a vocabulary of 5"
)]
fn embedding_lookup_of_an_id_past_the_vocabulary() {
    let table = Embedding::<f32>::new(5, 2, &mut rng());
    table.forward(&Tape::new(), &Indices::new(vec![1, 2, 7, 0], &[2, 2]));
}

#[test]
#[should_panic(expected = "Linear: input of shape [4, 2] does not end in 3 features")]
fn linear_on_the_wrong_number_of_features() {
    let layer = Linear::<f32>::new(3, 1, &mut rng());
    let tape = Tape::new();
    layer.forward(&tape, &tape.constant(Tensor::zeros(&[4, 2])));
}

#[test]
#[should_panic(expected = "LSTM: input must be [batch, time, features], got [4, 3]")]
fn lstm_on_a_matrix() {
    let layer = Lstm::<f32>::new(3, 2, &mut rng());
    let tape = Tape::new();
    layer.forward(&tape, &tape.constant(Tensor::zeros(&[4, 3])));
}

#[test]
#[should_panic(expected = "LSTM: length 6 is longer than the 5 time steps")]
fn lstm_with_a_length_past_the_sequence() {
    let layer = Lstm::<f32>::new(3, 2, &mut rng());
    let tape = Tape::new();
    let x = tape.constant(Tensor::zeros(&[2, 5, 3]));
    layer.forward_options(&tape, &x, &SequenceOptions::default().lengths(&[5, 6]));
}

#[test]
#[should_panic(expected = "LSTM: the input has no time steps")]
fn lstm_on_an_empty_sequence() {
    let layer = Lstm::<f32>::new(3, 2, &mut rng());
    let tape = Tape::new();
    layer.forward(&tape, &tape.constant(Tensor::zeros(&[2, 0, 3])));
}

/// A layer whose weights cannot fit in the machine's memory panics before
/// allocating, naming the op and the size (instead of an allocator abort).
#[test]
#[cfg(target_os = "linux")]
#[should_panic(expected = "more than this machine's")]
fn an_lstm_larger_than_the_machine_panics_before_allocating() {
    Lstm::<f32>::new(3, 1 << 31, &mut rng());
}

//! Cross-crate gradient checks (f64, `autograd::gradcheck`) of whole layers
//! and models built from `nn`: `Linear` with an activation, `Embedding` with a
//! padding id, and the sentiment model end to end (embedding, masked
//! bidirectional 2-layer LSTM, every kind of dropout, classifier, loss), with
//! respect to every parameter.

use autograd::{gradcheck, GradcheckOptions, Reduction, Tape, Var};
use nn::{Activation, Embedding, EmbeddingOptions, Linear, LinearOptions, Module};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Indices, Tensor};
use train::models::{SentimentConfig, SentimentModel, SentimentPool};

fn params(module: &impl Module<f64>) -> Vec<Tensor<f64>> {
    module.state_dict().into_iter().map(|(_, t)| t).collect()
}

#[test]
fn linear_with_tanh_gradients_match_finite_differences() {
    let options = LinearOptions {
        activation: Activation::Tanh,
        ..Default::default()
    };
    let layer = Linear::<f64>::with_options(3, 4, options, &mut StdRng::seed_from_u64(0));
    let x = Tensor::rand_normal(&[2, 5, 3], 0.0, 1.0, &mut StdRng::seed_from_u64(1));
    let mut inputs = vec![x];
    inputs.extend(params(&layer));
    let report = gradcheck(
        |tape, v| {
            layer.use_vars_as_params(tape, &v[1..]);
            layer.forward(tape, &v[0])
        },
        &inputs,
        &GradcheckOptions::default(),
    );
    report.unwrap();
}

#[test]
fn embedding_gradients_match_finite_differences_and_skip_the_padding_row() {
    let options = EmbeddingOptions {
        padding_idx: Some(1),
        ..Default::default()
    };
    let table = Embedding::<f64>::with_options(5, 3, options, &mut StdRng::seed_from_u64(0));
    let ids = Indices::new(vec![0, 1, 4, 4, 1, 2], &[2, 3]);
    // The padding row gets no gradient, so its finite difference must not move the
    // output either: check the lookup composed with a mask of real tokens.
    let mask = table.compute_mask(&ids).unwrap().unsqueeze(2);
    let run = |tape: &Tape<f64>, v: &[Var<f64>]| {
        table.use_vars_as_params(tape, v);
        &table.forward(tape, &ids).tanh() * &mask
    };
    gradcheck(run, &params(&table), &GradcheckOptions::default()).unwrap();
    let tape = Tape::new();
    let y = table.forward(&tape, &ids).sum();
    let grads = tape.backward(&y).unwrap();
    assert_eq!(
        table.weight().grad(&grads).unwrap().select(0, 1).to_vec(),
        vec![0.0; 3]
    );
}

#[test]
fn sentiment_model_gradients_match_finite_differences_for_every_parameter() {
    let stacked = SentimentConfig {
        embedding_dim: 2,
        layer_sizes: vec![3, 2],
        bidirectional: true,
        dropout: 0.25,
        dense: Some(2),
        pool: SentimentPool::MaxMean,
        ..SentimentConfig::new(6)
    };
    let uniform = SentimentConfig {
        embedding_dim: 2,
        hidden_size: 2,
        num_layers: 2,
        bidirectional: true,
        dropout: 0.25,
        input_dropout: 0.25,
        recurrent_dropout: 0.25,
        pool: SentimentPool::Last,
        ..SentimentConfig::new(6)
    };
    for config in [uniform, stacked] {
        check_sentiment_model(config);
    }
}

/// Every parameter of a [`SentimentModel`] of `config`, against finite differences.
fn check_sentiment_model(config: SentimentConfig) {
    let model = SentimentModel::<f64>::new(config, &mut StdRng::seed_from_u64(0));
    let ids = Indices::new(vec![0, 0, 3, 5, 1, 2, 2, 4, 0, 3, 1, 0], &[3, 4]);
    let labels = Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3]);
    let run = |tape: &Tape<f64>, v: &[Var<f64>]| {
        model.use_vars_as_params(tape, v);
        model
            .forward(tape, &ids, None)
            .binary_cross_entropy_with_logits(&labels, None, Reduction::Mean)
    };
    // Training tapes with one seed: every dropout active, the same masks at every evaluation.
    let options = GradcheckOptions {
        training_seed: Some(5),
        ..Default::default()
    };
    let report = gradcheck(run, &params(&model), &options).unwrap();
    assert_eq!(report.checked, model.num_params(), "{report}"); // every scalar, one by one
}

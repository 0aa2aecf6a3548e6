//! Cross-crate gradient checks (f64, `autograd::gradcheck`) of whole layers
//! and models built from `nn`: `Linear` with an activation, `Embedding` with a
//! padding id, and the sentiment model end to end (embedding, masked
//! bidirectional 2-layer LSTM, dropout, classifier, loss), with respect to
//! every parameter.

use autograd::{gradcheck, GradcheckOptions, Reduction, Tape, Var};
use nn::{
    Activation, Bind, Embedding, EmbeddingOptions, Linear, LinearOptions, Module, SentimentConfig,
    SentimentLstm,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Indices, Tensor};

fn params(module: &impl Module<f64>) -> Vec<Tensor<f64>> {
    module
        .named_params()
        .into_iter()
        .map(|(_, p)| p.value().clone())
        .collect()
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
        |_, v| layer.forward_with(&layer.bind_vars(&v[1..]), &v[0]),
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
    let run = |_: &Tape<f64>, v: &[Var<f64>]| {
        &table.forward_with(&table.bind_vars(v), &ids).tanh() * &mask
    };
    gradcheck(run, &params(&table), &GradcheckOptions::default()).unwrap();
    let tape = Tape::new();
    let y = table.forward(&tape, &ids).sum();
    let grads = tape.backward(&y).unwrap();
    assert_eq!(
        table
            .weight()
            .grad(&tape, &grads)
            .unwrap()
            .select(0, 1)
            .to_vec(),
        vec![0.0; 3]
    );
}

#[test]
fn sentiment_model_gradients_match_finite_differences_for_every_parameter() {
    let config = SentimentConfig {
        embedding_dim: 2,
        hidden_size: 2,
        num_layers: 2,
        bidirectional: true,
        dropout: 0.25,
        recurrent_dropout: 0.25,
        seed: 5,
        ..SentimentConfig::new(6)
    };
    let model = SentimentLstm::<f64>::new(config, &mut StdRng::seed_from_u64(0));
    let ids = Indices::new(vec![0, 0, 3, 5, 1, 2, 2, 4, 0, 3, 1, 0], &[3, 4]);
    let labels = Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3]);
    let run = |_: &Tape<f64>, v: &[Var<f64>]| {
        let mut model = model.clone(); // the same dropout masks at every evaluation
        let bound = model.bind_vars(v);
        model
            .forward_with(&bound, &ids, None)
            .binary_cross_entropy_with_logits(&labels, None, Reduction::Mean)
    };
    let report = gradcheck(run, &params(&model), &GradcheckOptions::default()).unwrap();
    assert_eq!(report.checked, model.num_params(), "{report}"); // every scalar, one by one
}

//! Gradient checks (f64, central differences, `autograd::gradcheck`) of one
//! step of every cell, with respect to the input, every part of the previous
//! state and every parameter, over random sizes and values.

mod common;

use autograd::{gradcheck, GradcheckOptions, Var};
use common::{normal, Kind};
use nn::{Activation, CellOptions, InitScheme, RecurrentCell};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

/// Checks `step(project_input(x), state)` of a fresh cell of type `C`, with
/// the fused step (one op, hand-written backward) and the composed one.
fn check_cell<C: RecurrentCell<f64>>(
    batch: usize,
    input: usize,
    hidden: usize,
    bias: bool,
    act: Activation,
    seed: u64,
) {
    for fused in [true, false] {
        let options = CellOptions {
            bias,
            init: InitScheme::PyTorch,
            nonlinearity: act,
            fused,
            recurrent_init: None,
        };
        check_one::<C>(batch, input, hidden, &options, seed);
    }
}

fn check_one<C: RecurrentCell<f64>>(
    batch: usize,
    input: usize,
    hidden: usize,
    options: &CellOptions,
    seed: u64,
) {
    let cell = C::new(input, hidden, options, &mut StdRng::seed_from_u64(seed));
    let mut inputs = vec![normal(&[batch, input], seed + 1)];
    inputs.extend((0..C::STATE_PARTS).map(|k| normal(&[batch, hidden], seed + 2 + k as u64)));
    inputs.extend(cell.state_dict().into_iter().map(|(_, value)| value));
    let parts = C::STATE_PARTS;
    let step = |tape: &autograd::Tape<f64>, v: &[Var<f64>]| {
        cell.use_vars_as_params(tape, &v[1 + parts..]);
        Var::concat(&cell.forward(tape, &v[0], &v[1..1 + parts]), 1)
    };
    let report = gradcheck(step, &inputs, &GradcheckOptions::default())
        .unwrap_or_else(|r| panic!("{} (fused: {}): {r}", C::NAME, options.fused));
    assert!(report.checked >= inputs.iter().map(Tensor::numel).sum::<usize>());
}

fn check(
    kind: Kind,
    batch: usize,
    input: usize,
    hidden: usize,
    bias: bool,
    act: Activation,
    seed: u64,
) {
    with_cell!(kind, C => check_cell::<C>(batch, input, hidden, bias, act, seed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn rnn_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, relu: bool, seed in 0u64..1000
    ) {
        let act = if relu { Activation::Relu } else { Activation::Tanh };
        check(Kind::Rnn, batch, input, hidden, bias, act, seed);
    }

    #[test]
    fn lstm_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, seed in 0u64..1000
    ) {
        check(Kind::Lstm, batch, input, hidden, bias, Activation::Tanh, seed);
    }

    #[test]
    fn gru_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, seed in 0u64..1000
    ) {
        check(Kind::Gru, batch, input, hidden, bias, Activation::Tanh, seed);
    }
}

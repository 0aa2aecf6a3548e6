//! Gradient checks (f64, central differences, `autograd::gradcheck`) of one
//! step of every cell, with respect to the input, every part of the previous
//! state and every parameter, over random sizes and values.

mod common;

use autograd::{gradcheck, GradcheckOptions, Var};
use common::{normal, Kind};
use nn::{Activation, CellOptions, CellState, InitScheme, RecurrentCell};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

/// `batch`, `input` and `hidden` sizes of one check.
type Sizes = [usize; 3];

/// The options of a checked cell: PyTorch's initializers, the rest given.
fn options(bias: bool, nonlinearity: Activation, reset_after: bool) -> CellOptions {
    CellOptions {
        bias,
        init: InitScheme::PyTorch,
        nonlinearity,
        reset_after,
        recurrent_init: None,
    }
}

/// Checks `step(project_input(x), state)` of a fresh cell of type `C`. (The
/// fused loop of the appendix is checked through the sequence layer, in
/// `gradcheck_recurrent.rs`.)
fn check_cell<C: RecurrentCell<f64>>(sizes: Sizes, options: &CellOptions, seed: u64) {
    let [batch, input, hidden] = sizes;
    let cell = C::new(input, hidden, options, &mut StdRng::seed_from_u64(seed));
    let parts = C::State::PARTS;
    let mut inputs = vec![normal(&[batch, input], seed + 1)];
    inputs.extend((0..parts).map(|k| normal(&[batch, hidden], seed + 2 + k as u64)));
    inputs.extend(cell.state_dict().into_iter().map(|(_, value)| value));
    let step = |tape: &autograd::Tape<f64>, v: &[Var<f64>]| {
        cell.use_vars_as_params(tape, &v[1 + parts..]);
        let state = C::State::from_parts(v[1..1 + parts].to_vec());
        Var::concat(&cell.forward(tape, &v[0], &state).parts(), 1)
    };
    let report = gradcheck(step, &inputs, &GradcheckOptions::default())
        .unwrap_or_else(|r| panic!("{}: {r}", C::NAME));
    assert!(report.checked >= inputs.iter().map(Tensor::numel).sum::<usize>());
}

fn check(kind: Kind, sizes: Sizes, options: CellOptions, seed: u64) {
    with_cell!(kind, C => check_cell::<C>(sizes, &options, seed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn rnn_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, relu: bool, seed in 0u64..1000
    ) {
        let act = if relu { Activation::Relu } else { Activation::Tanh };
        check(Kind::Rnn, [batch, input, hidden], options(bias, act, true), seed);
    }

    #[test]
    fn lstm_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, seed in 0u64..1000
    ) {
        check(Kind::Lstm, [batch, input, hidden], options(bias, Activation::Tanh, true), seed);
    }

    /// Both forms: the reset gate after the recurrent product (PyTorch's) and before it.
    #[test]
    fn gru_cell_gradients_match_finite_differences(
        batch in 1usize..4, input in 1usize..4, hidden in 1usize..4, bias: bool, reset_after: bool,
        seed in 0u64..1000
    ) {
        let options = options(bias, Activation::Tanh, reset_after);
        check(Kind::Gru, [batch, input, hidden], options, seed);
    }
}

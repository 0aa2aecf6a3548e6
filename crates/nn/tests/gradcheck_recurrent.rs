//! Gradient checks (f64, `autograd::gradcheck`) of the sequence layer in
//! each of its modes: 1 and 2 layers, each direction and merge mode, masked
//! variable lengths (pre- and post-padded), with and without initial states,
//! stateful across two batches, recurrent and inter-layer dropout with a fixed
//! seed, `go_backwards`; the built-in cells' fused loop (`nn::fast`) and
//! their composed graphs. Gradients are taken with respect to the input, the
//! initial states and every parameter, of the whole output sequence and of
//! the final states.

mod common;

use autograd::{gradcheck, GradcheckOptions, GradcheckReport, Tape, Var};
use common::{flatten_all, normal, pre_padded_mask, Kind, Padding, MERGE_MODES};
use nn::{
    CellOptions, CellState, InitScheme, MergeMode, Module, Recurrent, RecurrentCell,
    RecurrentConfig, SequenceOptions,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::Tensor;

const INPUT: usize = 2;
const HIDDEN: usize = 2;

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    layers: usize,
    bidirectional: bool,
    merge: MergeMode,
    padding: Padding,
    initial_state: bool,
    stateful: bool,
    recurrent_dropout: bool,
    dropout: bool,
    go_backwards: bool,
    fused: bool,
    reset_after: bool,
    batch: usize,
    time: usize,
    seed: u64,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Rnn), Just(Kind::Lstm), Just(Kind::Gru)]
}

fn padding() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::None), Just(Padding::Post), Just(Padding::Pre)]
}

prop_compose! {
    fn case()(
        kind in kind(),
        layers in 1usize..=2,
        bidirectional: bool,
        merge in 0usize..4,
        padding in padding(),
        state in 0usize..3,
        recurrent_dropout: bool,
        dropout: bool,
        go_backwards in proptest::bool::weighted(0.2),
        fused: bool,
        reset_after in proptest::bool::weighted(0.7),
        batch in 1usize..=3,
        time in 1usize..=4,
        seed in 0u64..10_000,
    ) -> Case {
        Case {
            kind, layers, bidirectional, merge: MERGE_MODES[merge], padding,
            initial_state: state == 1, stateful: state == 2,
            recurrent_dropout, dropout: dropout && layers == 2, go_backwards, fused, reset_after, batch,
            time, seed,
        }
    }
}

fn gradcheck_layer<C: RecurrentCell<f64>>(case: &Case) -> Result<GradcheckReport, GradcheckReport> {
    let mut rng = StdRng::seed_from_u64(case.seed);
    let config = RecurrentConfig {
        num_layers: case.layers,
        bidirectional: case.bidirectional,
        merge_mode: case.merge,
        dropout: if case.dropout { 0.3 } else { 0.0 },
        input_dropout: if case.recurrent_dropout { 0.2 } else { 0.0 },
        recurrent_dropout: if case.recurrent_dropout { 0.4 } else { 0.0 },
        go_backwards: case.go_backwards,
        stateful: case.stateful,
        fused: case.fused,
        cell: CellOptions {
            init: InitScheme::PyTorch,
            reset_after: case.reset_after,
            ..Default::default()
        },
    };
    let layer = Recurrent::<f64, C>::with_config(INPUT, HIDDEN, config, &mut rng);
    let (batch, time) = (case.batch, case.time);
    let lengths: Vec<usize> = (0..batch).map(|_| rng.gen_range(1..=time)).collect();
    let mask = match case.padding {
        Padding::Pre => Some(pre_padded_mask(&lengths, time)),
        _ => None,
    };
    let options = SequenceOptions {
        lengths: (case.padding == Padding::Post).then_some(&lengths[..]),
        mask: mask.as_ref(),
        initial_state: None,
    };

    if case.stateful {
        // The first batch runs outside the check; its final states carry over, detached.
        let tape = Tape::no_grad();
        let first = tape.constant(normal(&[batch, time, INPUT], case.seed + 7));
        layer.forward_options(&tape, &first, &options);
        assert!(layer.carried_states().is_some());
    }

    let state_shape = [
        case.layers * if case.bidirectional { 2 } else { 1 },
        batch,
        HIDDEN,
    ];
    let parts = if case.initial_state {
        C::State::PARTS
    } else {
        0
    };
    let mut inputs = vec![normal(&[batch, time, INPUT], case.seed + 1)];
    inputs.extend((0..parts).map(|k| normal(&state_shape, case.seed + 2 + k as u64)));
    inputs.extend(layer.state_dict().into_iter().map(|(_, value)| value));

    let run = |tape: &Tape<f64>, v: &[Var<f64>]| {
        let layer = layer.clone(); // the same carried state on every call
        layer.use_vars_as_params(tape, &v[1 + parts..]);
        let options = SequenceOptions {
            initial_state: (parts > 0).then_some(&v[1..1 + parts]),
            ..options
        };
        flatten_all(&layer.forward_options(tape, &v[0], &options))
    };
    // Training tapes with one seed: dropout active, the same masks on every call.
    let options = GradcheckOptions {
        training_seed: Some(case.seed),
        ..Default::default()
    };
    gradcheck(run, &inputs, &options)
}

fn check(case: &Case) {
    let result = with_cell!(case.kind, C => gradcheck_layer::<C>(case));
    if let Err(report) = result {
        panic!("{case:?}: {report}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sequence_layer_gradients_match_finite_differences_in_every_mode(case in case()) {
        check(&case);
    }
}

/// Every mode at least once, whatever proptest happens to draw.
#[test]
fn each_mode_is_checked_at_least_once() {
    let base = Case {
        kind: Kind::Lstm,
        layers: 1,
        bidirectional: false,
        merge: MergeMode::Concat,
        padding: Padding::None,
        initial_state: false,
        stateful: false,
        recurrent_dropout: false,
        dropout: false,
        go_backwards: false,
        fused: true,
        reset_after: true,
        batch: 2,
        time: 3,
        seed: 11,
    };
    let mut cases = vec![];
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        for layers in [1, 2] {
            for padding in [Padding::None, Padding::Post, Padding::Pre] {
                for fused in [true, false] {
                    cases.push(Case {
                        kind,
                        layers,
                        padding,
                        bidirectional: true,
                        initial_state: layers == 2,
                        fused,
                        ..base.clone()
                    });
                }
            }
        }
        cases.push(Case {
            kind,
            stateful: true,
            padding: Padding::Post,
            ..base.clone()
        });
        cases.push(Case {
            kind,
            recurrent_dropout: true,
            dropout: true,
            layers: 2,
            ..base.clone()
        });
        cases.push(Case {
            kind,
            go_backwards: true,
            padding: Padding::Pre,
            ..base.clone()
        });
    }
    // The GRU that resets its state before the product, in a full case.
    cases.push(Case {
        kind: Kind::Gru,
        layers: 2,
        bidirectional: true,
        padding: Padding::Pre,
        recurrent_dropout: true,
        reset_after: false,
        ..base.clone()
    });
    for merge in MERGE_MODES {
        cases.push(Case {
            bidirectional: true,
            merge,
            padding: Padding::Post,
            layers: 2,
            ..base.clone()
        });
    }
    for case in &cases {
        check(case);
    }
}

/// A check that cannot fail is useless: a layer whose recorded gradient is
/// wrong must be caught. Here the forward pass uses a parameter's value
/// through a constant (so no gradient reaches it): the check names the problem.
#[test]
fn a_missing_gradient_is_caught() {
    let mut rng = StdRng::seed_from_u64(0);
    let layer = nn::Lstm::<f64>::new(INPUT, HIDDEN, &mut rng);
    let mut inputs = vec![normal(&[1, 2, INPUT], 1)];
    inputs.extend(layer.state_dict().into_iter().map(|(_, value)| value));
    let run = |tape: &Tape<f64>, v: &[Var<f64>]| {
        let mut vars = v[1..].to_vec();
        vars[1] = tape.leaf(v[2].value().clone()); // weight_hh cut off from the checked input
        layer.use_vars_as_params(tape, &vars);
        flatten_all(&layer.forward(tape, &v[0]))
    };
    let report = gradcheck(run, &inputs, &GradcheckOptions::default()).unwrap_err();
    assert!(report.to_string().contains("FAILED"));
    assert_eq!(report.worst.unwrap().input, 2);
}

#[test]
fn tensor_helpers_are_consistent() {
    assert_eq!(
        pre_padded_mask(&[1, 3], 3),
        Tensor::from_vec(vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0], &[2, 3])
    );
}

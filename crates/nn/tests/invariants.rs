//! Invariants of the sequence layer, as property tests (f64):
//!
//! - padding never leaks: outputs, final states and gradients at valid
//!   positions do not change with the pad length, the padding side or the
//!   direction, and equal those of running each sequence alone;
//! - a bidirectional layer is the concatenation of a forward run and the
//!   reverse of a run on the (per-sequence) reversed input;
//! - a stateful layer over two halves of a sequence equals one pass over the whole;
//! - `go_backwards` is a run on the reversed sequence.

mod common;

use std::collections::BTreeMap;

use autograd::Tape;
use common::{assert_close, normal, reverse_within, Kind, MERGE_MODES};
use nn::{
    CellOptions, InitScheme, MergeMode, Module, Recurrent, RecurrentCell, RecurrentConfig,
    SequenceOptions,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::Tensor;

const INPUT: usize = 3;
const HIDDEN: usize = 2;
const TOLERANCE: f64 = 1e-12;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Rnn), Just(Kind::Lstm), Just(Kind::Gru)]
}

fn config(layers: usize, bidirectional: bool, merge_mode: MergeMode) -> RecurrentConfig {
    RecurrentConfig {
        num_layers: layers,
        bidirectional,
        merge_mode,
        cell: CellOptions {
            init: InitScheme::PyTorch,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Everything one run produces: values and gradients.
struct Run {
    output: Tensor<f64>,
    h_n: Tensor<f64>,
    c_n: Option<Tensor<f64>>,
    grad_x: Tensor<f64>,
    grad_params: Vec<Tensor<f64>>,
}

/// Runs `layer` on `x` with a loss `sum(output * r) + sum(h_n * s) + sum(c_n * s)`
/// and collects values and gradients.
fn run<C: RecurrentCell<f64>>(
    layer: &Recurrent<f64, C>,
    x: &Tensor<f64>,
    options: &SequenceOptions<'_, f64>,
    r: &Tensor<f64>,
    s: &Tensor<f64>,
) -> Run {
    let layer = layer.clone();
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let out = layer.forward_options(&tape, &xv, options);
    let mut loss = (&out.output * r).sum() + (&out.h_n * s).sum();
    if let Some(c_n) = &out.c_n {
        loss = loss + (c_n * s).sum();
    }
    let grads = tape.backward(&loss).unwrap();
    Run {
        output: out.output.value().clone(),
        h_n: out.h_n.value().clone(),
        c_n: out.c_n.as_ref().map(|c| c.value().clone()),
        grad_x: grads[&xv].clone(),
        grad_params: layer
            .named_params()
            .into_iter()
            .map(|(n, p)| {
                p.grad(&grads)
                    .cloned()
                    .unwrap_or_else(|| panic!("no gradient for {n}"))
            })
            .collect(),
    }
}

#[derive(Clone, Debug)]
struct PadCase {
    kind: Kind,
    layers: usize,
    bidirectional: bool,
    merge: MergeMode,
    pre_padded: bool,
    extra: usize,
    lengths: Vec<usize>,
    seed: u64,
}

prop_compose! {
    fn pad_case()(
        kind in kind(), layers in 1usize..=2, bidirectional: bool, merge in 0usize..4, pre_padded: bool,
        extra in 0usize..3, lengths in proptest::collection::vec(1usize..=4, 1..=3), seed in 0u64..10_000,
    ) -> PadCase {
        PadCase { kind, layers, bidirectional, merge: MERGE_MODES[merge], pre_padded, extra, lengths, seed }
    }
}

fn padding_never_leaks<C: RecurrentCell<f64>>(case: &PadCase) {
    let mut rng = StdRng::seed_from_u64(case.seed);
    let layer = Recurrent::<f64, C>::with_config(
        INPUT,
        HIDDEN,
        config(case.layers, case.bidirectional, case.merge),
        &mut rng,
    );
    let (lengths, batch) = (&case.lengths, case.lengths.len());
    let time = lengths.iter().max().unwrap() + case.extra;
    let features = layer.output_size();
    let states = layer.cells().len();

    // Each sequence alone, with its own loss weights.
    let seqs: Vec<Tensor<f64>> = lengths
        .iter()
        .enumerate()
        .map(|(b, &n)| normal(&[1, n, INPUT], case.seed + 10 + b as u64))
        .collect();
    let rs: Vec<Tensor<f64>> = lengths
        .iter()
        .enumerate()
        .map(|(b, &n)| normal(&[1, n, features], case.seed + 20 + b as u64))
        .collect();
    let ss: Vec<Tensor<f64>> = (0..batch)
        .map(|b| normal(&[states, 1, HIDDEN], case.seed + 30 + b as u64))
        .collect();
    let alone: Vec<Run> = (0..batch)
        .map(|b| run(&layer, &seqs[b], &SequenceOptions::new(), &rs[b], &ss[b]))
        .collect();

    // The padded batch: garbage at padded steps, which must not matter.
    let start = |b: usize| {
        if case.pre_padded {
            time - lengths[b]
        } else {
            0
        }
    };
    let valid = |b: usize, t: usize| t >= start(b) && t < start(b) + lengths[b];
    let place = |parts: &[Tensor<f64>], width: usize, seed: u64| {
        let garbage = normal(&[batch, time, width], seed);
        Tensor::from_fn(&[batch, time, width], |i| {
            let (b, t, f) = (i[0], i[1], i[2]);
            if valid(b, t) {
                parts[b].get(&[0, t - start(b), f])
            } else {
                garbage.get(&[b, t, f])
            }
        })
    };
    let x = place(&seqs, INPUT, case.seed + 1);
    let r = place(&rs, features, case.seed + 2);
    let s = Tensor::concat(&ss, 1);
    let mask = Tensor::from_fn(
        &[batch, time],
        |i| if valid(i[0], i[1]) { 1.0 } else { 0.0 },
    );
    let options = if case.pre_padded {
        SequenceOptions::new().mask(&mask)
    } else {
        SequenceOptions::new().lengths(lengths)
    };
    let batched = run(&layer, &x, &options, &r, &s);

    for b in 0..batch {
        let rows = |t: &Tensor<f64>| {
            t.select(0, b)
                .narrow(0, start(b), lengths[b])
                .unsqueeze(0)
                .contiguous()
        };
        assert_close(
            &format!("output of sequence {b}"),
            &rows(&batched.output),
            &alone[b].output,
            TOLERANCE,
        );
        assert_close(
            &format!("dL/dx of sequence {b}"),
            &rows(&batched.grad_x),
            &alone[b].grad_x,
            TOLERANCE,
        );
        let state = |t: &Tensor<f64>| t.narrow(1, b, 1).contiguous();
        assert_close(
            &format!("h_n of sequence {b}"),
            &state(&batched.h_n),
            &alone[b].h_n,
            TOLERANCE,
        );
        if let (Some(c), Some(c_alone)) = (&batched.c_n, &alone[b].c_n) {
            assert_close(
                &format!("c_n of sequence {b}"),
                &state(c),
                c_alone,
                TOLERANCE,
            );
        }
        for t in (0..time).filter(|&t| !valid(b, t)) {
            assert!(
                batched
                    .output
                    .select(0, b)
                    .select(0, t)
                    .to_vec()
                    .iter()
                    .all(|&v| v == 0.0),
                "output at padded step {t} of {b}"
            );
            assert!(
                batched
                    .grad_x
                    .select(0, b)
                    .select(0, t)
                    .to_vec()
                    .iter()
                    .all(|&v| v == 0.0),
                "dL/dx at padded step {t} of {b}"
            );
        }
    }
    for (i, (name, _)) in layer.named_params().iter().enumerate() {
        let total = alone
            .iter()
            .skip(1)
            .fold(alone[0].grad_params[i].clone(), |acc, run| {
                &acc + &run.grad_params[i]
            });
        assert_close(
            &format!("dL/d{name}"),
            &batched.grad_params[i],
            &total,
            1e-10,
        );
    }
}

/// The bidirectional layer against two forward layers holding its two directions' weights.
fn bidirectional_is_forward_and_reversed<C: RecurrentCell<f64>>(
    layers: usize,
    lengths: &[usize],
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let bi = Recurrent::<f64, C>::with_config(
        INPUT,
        HIDDEN,
        config(layers, true, MergeMode::Concat),
        &mut rng,
    );
    let time = *lengths.iter().max().unwrap();
    let x = normal(&[lengths.len(), time, INPUT], seed + 1);
    let tape = Tape::new();
    let out = bi.clone().forward_options(
        &tape,
        &tape.constant(x.clone()),
        &SequenceOptions::new().lengths(lengths),
    );
    if layers > 1 {
        // Only layer 0's directions can be compared one by one; a deeper check is the PyTorch reference.
        return;
    }
    let one_direction = |suffix: &str| {
        let mut layer = Recurrent::<f64, C>::with_config(
            INPUT,
            HIDDEN,
            config(1, false, MergeMode::Concat),
            &mut rng.clone(),
        );
        let weights: BTreeMap<String, Tensor<f64>> = bi
            .state_dict()
            .into_iter()
            .filter_map(|(n, t)| Some((format!("{}_l0", n.strip_suffix(suffix)?), t)))
            .collect();
        layer.load_state_dict(&weights, true).unwrap();
        layer
    };
    let (forward, backward) = (one_direction("_l0"), one_direction("_l0_reverse"));
    let fwd = forward.forward_options(
        &tape,
        &tape.constant(x.clone()),
        &SequenceOptions::new().lengths(lengths),
    );
    let reversed_x = reverse_within(&x, lengths);
    let bwd = backward.forward_options(
        &tape,
        &tape.constant(reversed_x),
        &SequenceOptions::new().lengths(lengths),
    );
    let expected = Tensor::concat(
        &[
            fwd.output.value().clone(),
            reverse_within(bwd.output.value(), lengths),
        ],
        2,
    );
    assert_close(
        "bidirectional output",
        out.output.value(),
        &expected,
        TOLERANCE,
    );
    let expected_h = Tensor::concat(&[fwd.h_n.value().clone(), bwd.h_n.value().clone()], 0);
    assert_close("bidirectional h_n", out.h_n.value(), &expected_h, TOLERANCE);
}

/// A stateful layer fed the two halves of a batch equals one pass over the whole.
fn stateful_halves_equal_one_pass<C: RecurrentCell<f64>>(
    layers: usize,
    lengths: &[usize],
    split: usize,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let time = *lengths.iter().max().unwrap();
    let split = split.min(time - 1).max(1);
    let config = RecurrentConfig {
        stateful: true,
        ..config(layers, false, MergeMode::Concat)
    };
    let layer = Recurrent::<f64, C>::with_config(INPUT, HIDDEN, config, &mut rng);
    let x = normal(&[lengths.len(), time, INPUT], seed + 1);
    let whole = {
        let fresh = layer.clone();
        let tape = Tape::no_grad();
        fresh.forward_options(
            &tape,
            &tape.constant(x.clone()),
            &SequenceOptions::new().lengths(lengths),
        )
    };
    let first_lengths: Vec<usize> = lengths.iter().map(|&n| n.min(split)).collect();
    let second_lengths: Vec<usize> = lengths.iter().map(|&n| n.saturating_sub(split)).collect();
    let tape = Tape::new(); // the halves run on separate tapes, as two training steps would
    let first = layer.forward_options(
        &tape,
        &tape.constant(x.narrow(1, 0, split)),
        &SequenceOptions::new().lengths(&first_lengths),
    );
    let tape = Tape::new();
    let second = layer.forward_options(
        &tape,
        &tape.constant(x.narrow(1, split, time - split)),
        &SequenceOptions::new().lengths(&second_lengths),
    );
    // Detached: the second tape holds only the second half's ops, as many as a fresh run records.
    let fresh_tape = Tape::new();
    let fresh = layer.clone();
    fresh.reset_states();
    fresh.forward_options(
        &fresh_tape,
        &fresh_tape.constant(x.narrow(1, split, time - split)),
        &SequenceOptions::new().lengths(&second_lengths),
    );
    assert_eq!(tape.len(), fresh_tape.len());
    let joined = Tensor::concat(
        &[first.output.value().clone(), second.output.value().clone()],
        1,
    );
    assert_close(
        "outputs of the two halves",
        &joined,
        whole.output.value(),
        TOLERANCE,
    );
    assert_close(
        "h_n after the second half",
        second.h_n.value(),
        whole.h_n.value(),
        TOLERANCE,
    );
    if let (Some(a), Some(b)) = (&second.c_n, &whole.c_n) {
        assert_close("c_n after the second half", a.value(), b.value(), TOLERANCE);
    }
    layer.reset_states();
    assert!(layer.carried_states().is_none());
}

/// `go_backwards` equals running a plain layer on the time-reversed input (output in that order).
fn go_backwards_reads_from_the_end<C: RecurrentCell<f64>>(layers: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let plain = Recurrent::<f64, C>::with_config(
        INPUT,
        HIDDEN,
        config(layers, false, MergeMode::Concat),
        &mut rng,
    );
    let config = RecurrentConfig {
        go_backwards: true,
        ..config(layers, false, MergeMode::Concat)
    };
    let mut backwards = Recurrent::<f64, C>::with_config(INPUT, HIDDEN, config, &mut rng);
    let weights = plain.state_dict().into_iter().collect();
    backwards.load_state_dict(&weights, true).unwrap();
    let x = normal(&[2, 4, INPUT], seed + 1);
    let tape = Tape::no_grad();
    let got = backwards.forward(&tape, &tape.constant(x.clone()));
    let expected = plain
        .clone()
        .forward(&tape, &tape.constant(reverse_within(&x, &[4, 4])));
    assert_close(
        "go_backwards output",
        got.output.value(),
        expected.output.value(),
        TOLERANCE,
    );
    assert_close(
        "go_backwards h_n",
        got.h_n.value(),
        expected.h_n.value(),
        TOLERANCE,
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn padding_never_leaks_whatever_the_side_length_or_direction(case in pad_case()) {
        with_cell!(case.kind, C => padding_never_leaks::<C>(&case));
    }

    #[test]
    fn bidirectional_equals_forward_run_and_reversed_run_on_reversed_input(
        kind in kind(), lengths in proptest::collection::vec(1usize..=5, 1..=3), seed in 0u64..10_000
    ) {
        with_cell!(kind, C => bidirectional_is_forward_and_reversed::<C>(1, &lengths, seed));
    }

    #[test]
    fn stateful_layer_over_two_halves_equals_one_pass(
        kind in kind(), layers in 1usize..=2, lengths in proptest::collection::vec(2usize..=6, 1..=3),
        split in 1usize..5, seed in 0u64..10_000
    ) {
        with_cell!(kind, C => stateful_halves_equal_one_pass::<C>(layers, &lengths, split, seed));
    }

    #[test]
    fn go_backwards_equals_a_run_on_the_reversed_sequence(kind in kind(), layers in 1usize..=2, seed in 0u64..10_000) {
        with_cell!(kind, C => go_backwards_reads_from_the_end::<C>(layers, seed));
    }
}

/// Lengths of zero are allowed: such a sequence keeps its initial state and outputs zeros.
#[test]
fn an_empty_sequence_keeps_its_initial_state() {
    let mut rng = StdRng::seed_from_u64(3);
    let lstm =
        nn::Lstm::<f64>::with_config(INPUT, HIDDEN, config(1, true, MergeMode::Concat), &mut rng);
    let tape = Tape::new();
    let h0 = tape.constant(normal(&[2, 2, HIDDEN], 1));
    let c0 = tape.constant(normal(&[2, 2, HIDDEN], 2));
    let x = tape.constant(normal(&[2, 3, INPUT], 3));
    let state = [h0.clone(), c0];
    let out = lstm.forward_options(
        &tape,
        &x,
        &SequenceOptions::new()
            .lengths(&[3, 0])
            .initial_state(&state),
    );
    assert_eq!(
        out.output.value().select(0, 1).to_vec(),
        vec![0.0; 3 * 2 * HIDDEN]
    );
    assert_eq!(out.h_n.value().select(1, 1), h0.value().select(1, 1));
    let _ = rng.gen::<u8>();
}

#[test]
#[should_panic(
    expected = "the stateful layer carries states for [1, 2, 2], this batch needs [1, 3, 2]; call reset_states()"
)]
fn a_stateful_layer_rejects_a_new_batch_size() {
    let config = RecurrentConfig {
        stateful: true,
        ..config(1, false, MergeMode::Concat)
    };
    let gru = nn::Gru::<f64>::with_config(INPUT, HIDDEN, config, &mut StdRng::seed_from_u64(0));
    let tape = Tape::no_grad();
    gru.forward(&tape, &tape.constant(normal(&[2, 2, INPUT], 0)));
    gru.forward(&tape, &tape.constant(normal(&[3, 2, INPUT], 0)));
}

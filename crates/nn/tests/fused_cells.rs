//! The fused loop (`nn::fast`: one op per time step with a hand-written
//! backward, `W_hh` packed once) against the composed cells it replaces,
//! for every cell, in f32 and f64, through the whole sequence layer
//! (stacked, bidirectional, masked, with recurrent dropout on a training
//! tape): the same outputs, final states, input gradient and every
//! parameter's gradient bit for bit, except `weight_hh`'s. That one the
//! fused loop sums over all steps as one product (`[h_1 .. h_T]^T [g_1 ..
//! g_T]`), in another order than the composed graph's sum of per-step
//! products, so it agrees within rounding: at most `1e-12` (f64) or `1e-4`
//! (f32) of the gradient's largest element.

mod common;

use autograd::Tape;
use common::{Kind, Padding};
use nn::{
    CellOptions, InitScheme, Module, Recurrent, RecurrentCell, RecurrentConfig, SequenceOptions,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Debug;
use tensor::{Element, Tensor};

#[derive(Clone, Debug)]
struct Case {
    kind: Kind,
    layers: usize,
    bidirectional: bool,
    padding: Padding,
    recurrent_dropout: bool,
    batch: usize,
    time: usize,
    input: usize,
    hidden: usize,
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
        kind in kind(), layers in 1usize..=2, bidirectional: bool, padding in padding(),
        recurrent_dropout: bool, batch in 1usize..=5, time in 1usize..=6, input in 1usize..=5,
        hidden in 1usize..=6, seed in 0u64..10_000,
    ) -> Case {
        Case { kind, layers, bidirectional, padding, recurrent_dropout, batch, time, input, hidden, seed }
    }
}

/// Outputs, states and every gradient of one run, as plain vectors, each
/// named (`"output"`, ..., then the parameters' names).
fn run<T: Element, C: RecurrentCell<T>>(case: &Case, fused: bool) -> Vec<(String, Vec<T>)> {
    let config = RecurrentConfig {
        num_layers: case.layers,
        bidirectional: case.bidirectional,
        recurrent_dropout: if case.recurrent_dropout { 0.3 } else { 0.0 },
        fused,
        cell: CellOptions {
            init: InitScheme::PyTorch,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(case.seed);
    let layer = Recurrent::<T, C>::with_config(case.input, case.hidden, config, &mut rng);
    let lengths: Vec<usize> = (0..case.batch)
        .map(|_| rng.gen_range(1..=case.time))
        .collect();
    let mask = common::pre_padded_mask(&lengths, case.time).cast::<T>();
    let options = match case.padding {
        Padding::None => SequenceOptions::new(),
        Padding::Post => SequenceOptions::new().lengths(&lengths),
        Padding::Pre => SequenceOptions::new().mask(&mask),
    };
    let x: Tensor<T> =
        Tensor::rand_normal(&[case.batch, case.time, case.input], 0.0, 1.0, &mut rng);
    let tape = Tape::training(case.seed);
    let xv = tape.leaf(x);
    let out = layer.forward_options(&tape, &xv, &options);
    let projection = |shape: &[usize], salt: u64| -> Tensor<T> {
        Tensor::rand_normal(
            shape,
            0.0,
            1.0,
            &mut StdRng::seed_from_u64(case.seed + salt),
        )
    };
    let mut loss = (&out.output * &projection(out.output.shape(), 1)).sum()
        + (&out.h_n * &projection(out.h_n.shape(), 2)).sum();
    if let Some(c_n) = &out.c_n {
        loss = loss + (c_n * &projection(c_n.shape(), 3)).sum();
    }
    let mut results = vec![
        ("output".to_string(), out.output.value().to_vec()),
        ("h_n".to_string(), out.h_n.value().to_vec()),
    ];
    results.extend(
        out.c_n
            .as_ref()
            .map(|c| ("c_n".to_string(), c.value().to_vec())),
    );
    let grads = tape.backward(&loss).unwrap();
    results.push(("input gradient".to_string(), grads[&xv].to_vec()));
    for (name, param) in layer.named_params() {
        let grad = param
            .grad(&grads)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        results.push((name, grad.to_vec()));
    }
    results
}

/// Fused and composed runs agree: bit for bit, but `weight_hh*` within
/// `tolerance` of its largest element (see the module docs).
fn assert_agree<T: Element + Debug>(
    fused: Vec<(String, Vec<T>)>,
    composed: Vec<(String, Vec<T>)>,
    tolerance: f64,
    case: &Case,
) {
    assert_eq!(fused.len(), composed.len());
    for ((name, a), (_, b)) in fused.iter().zip(&composed) {
        if !name.starts_with("weight_hh") {
            assert_eq!(a, b, "{name}, {case:?}");
            continue;
        }
        let scale = b.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= tolerance * scale,
            "{name}: differs by {worst:e} of {scale:e}, {case:?}"
        );
    }
}

fn check(case: &Case) {
    with_cell!(case.kind, C => {
        assert_agree(run::<f64, C>(case, true), run::<f64, C>(case, false), 1e-12, case);
    });
    match case.kind {
        Kind::Rnn => assert_agree(
            run::<f32, nn::RnnCell<f32>>(case, true),
            run::<f32, nn::RnnCell<f32>>(case, false),
            1e-4,
            case,
        ),
        Kind::Lstm => assert_agree(
            run::<f32, nn::LstmCell<f32>>(case, true),
            run::<f32, nn::LstmCell<f32>>(case, false),
            1e-4,
            case,
        ),
        Kind::Gru => assert_agree(
            run::<f32, nn::GruCell<f32>>(case, true),
            run::<f32, nn::GruCell<f32>>(case, false),
            1e-4,
            case,
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_fused_loop_equals_the_composed_cells(case in case()) {
        check(&case);
    }
}

/// The IMDB shape, once: a batch of 16 sequences of 50 steps, E = H = 32.
#[test]
fn the_fused_loop_equals_the_composed_cells_at_a_realistic_size() {
    for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
        check(&Case {
            kind,
            layers: 1,
            bidirectional: true,
            padding: Padding::Pre,
            recurrent_dropout: true,
            batch: 16,
            time: 50,
            input: 32,
            hidden: 32,
            seed: 3,
        });
    }
}

//! Helpers shared by the nn integration tests: random tensors, layer
//! construction for any cell kind, and flattening a layer's results.

#![allow(dead_code)]

use autograd::Var;
use nn::{GruCell, LstmCell, MergeMode, RecurrentCell, RecurrentOutput, RnnCell};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

/// Which cell a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Rnn,
    Lstm,
    Gru,
}

/// Runs `$body` with `$cell` bound to the cell type of `$kind` (f64).
#[macro_export]
macro_rules! with_cell {
    ($kind:expr, $cell:ident => $body:expr) => {
        match $kind {
            common::Kind::Rnn => {
                type $cell = nn::RnnCell<f64>;
                $body
            }
            common::Kind::Lstm => {
                type $cell = nn::LstmCell<f64>;
                $body
            }
            common::Kind::Gru => {
                type $cell = nn::GruCell<f64>;
                $body
            }
        }
    };
}

/// How a batch is padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Every step valid.
    None,
    /// Sequences at the start of their rows, given by `lengths`.
    Post,
    /// Sequences at the end of their rows, given by a mask.
    Pre,
}

pub const MERGE_MODES: [MergeMode; 4] = [
    MergeMode::Concat,
    MergeMode::Sum,
    MergeMode::Mean,
    MergeMode::Mul,
];

pub fn normal(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

/// The `[B, T]` mask of pre-padded sequences of the given lengths.
pub fn pre_padded_mask(lengths: &[usize], time: usize) -> Tensor<f64> {
    Tensor::from_fn(&[lengths.len(), time], |i| {
        if i[1] >= time - lengths[i[0]] {
            1.0
        } else {
            0.0
        }
    })
}

/// The output sequence, `h_n` and `c_n`, flattened and joined: one var whose
/// every element a gradient check or comparison covers.
pub fn flatten_all(out: &RecurrentOutput<f64>) -> Var<f64> {
    let parts: Vec<Var<f64>> = std::iter::once(&out.output)
        .chain(std::iter::once(&out.h_n))
        .chain(&out.c_n)
        .map(|v| v.reshape(&[v.value().numel()]))
        .collect();
    Var::concat(&parts, 0)
}

/// Keeps the compiler from warning that a cell type is never named.
pub fn _cells_used() -> (usize, usize, usize) {
    (
        <RnnCell<f64> as RecurrentCell<f64>>::GATES,
        <LstmCell<f64> as RecurrentCell<f64>>::GATES,
        <GruCell<f64> as RecurrentCell<f64>>::GATES,
    )
}

/// Reverses each row `b` of a `[B, T, F]` tensor within its first `lengths[b]` steps.
pub fn reverse_within(x: &Tensor<f64>, lengths: &[usize]) -> Tensor<f64> {
    Tensor::from_fn(x.shape(), |i| {
        let (b, t, f) = (i[0], i[1], i[2]);
        let n = lengths[b];
        x.get(&[b, if t < n { n - 1 - t } else { t }, f])
    })
}

/// Asserts two tensors have one shape and agree within `tolerance`, naming the worst element.
pub fn assert_close(what: &str, got: &Tensor<f64>, expected: &Tensor<f64>, tolerance: f64) {
    assert_eq!(got.shape(), expected.shape(), "{what}: shapes differ");
    let (g, e) = (got.to_vec(), expected.to_vec());
    let (worst, diff) = g
        .iter()
        .zip(&e)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0.0f64), |best, (i, d)| {
            if d > best.1 || d.is_nan() {
                (i, d)
            } else {
                best
            }
        });
    assert!(
        diff <= tolerance,
        "{what}: element {worst} differs by {diff:e} (got {}, expected {})",
        g[worst],
        e[worst]
    );
}

/// A small model of the crate's layers for checkpoint tests: embedding,
/// a stacked bidirectional LSTM read at its final state, and a linear head.
#[derive(Clone, Debug)]
pub struct Classifier<T: tensor::Element> {
    pub embedding: nn::Embedding<T>,
    pub lstm: nn::Lstm<T>,
    pub fc: nn::Linear<T>,
}
nn::module!(Classifier<T> { embedding, lstm, fc });

impl<T: tensor::Element> Classifier<T> {
    /// 20 token ids, embedding 6, two bidirectional LSTM layers of 5, one logit.
    pub fn new(seed: u64) -> Self {
        let rng = &mut StdRng::seed_from_u64(seed);
        let config = nn::RecurrentConfig {
            num_layers: 2,
            bidirectional: true,
            ..Default::default()
        };
        Classifier {
            embedding: nn::Embedding::new(20, 6, rng),
            lstm: nn::Lstm::with_config(6, 5, config, rng),
            fc: nn::Linear::new(10, 1, rng),
        }
    }

    /// One logit per row of `ids: [B, T]`.
    pub fn forward(&self, tape: &autograd::Tape<T>, ids: &tensor::Indices) -> Var<T> {
        let x = self.embedding.forward(tape, ids);
        let h = self.lstm.forward(tape, &x).final_hidden();
        self.fc.forward(tape, &h)
    }
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

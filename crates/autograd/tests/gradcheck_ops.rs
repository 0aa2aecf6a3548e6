//! Every differentiable op, checked against finite differences on random
//! shapes, strides and values.
//!
//! # One table, every op
//! [`ops`] lists every op a [`Var`] offers (minitorch's `MathTest` idea). A row
//! is one op, or one notable way of calling it, and says:
//!
//! - its **family**, which picks the property test that runs it;
//! - its **inputs**: a function from the random [`Draw`] to the input shapes
//!   (one tensor of any rank, two that broadcast, a matrix pair, ...);
//! - its **domain**: where input values are drawn, so that the op is smooth
//!   there (`ln` on positive values, `relu` away from 0, `max` on distinct values);
//! - a closure building the op from the input vars (and the draw, for axes,
//!   ids, targets and masks).
//!
//! Adding an op to autograd means adding a row here, and its name to
//! [`EVERY_OP`], which `the_table_has_a_row_for_every_op` checks.
//!
//! # What each case varies
//! A [`Draw`] picks axis sizes (1 to 4, so size-1 axes that broadcast are
//! common), a rank, an axis, which axes of a second operand broadcast, the
//! memory **layout** of every input (contiguous; axes reversed in memory, as a
//! transposed view; every other element of a NaN-filled buffer, so an op that
//! reads outside its view turns the result NaN), whether the output is read
//! through a transposed view (then the op's backward rule receives a
//! non-contiguous gradient), and a seed for the values and the constants.
//!
//! Each case runs [`gradcheck`]: every input element is moved by `±ε` and the
//! central difference of `sum(f(x) * R)` (R a fixed random projection) is
//! compared with what `backward` gives. A failure names the op, the inputs'
//! shapes and strides, and the worst element.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use autograd::{gradcheck, GradcheckOptions, Reduction, Tape, Var};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tensor::{Indices, Tensor};

type V = Var<f64>;

// ---------------------------------------------------------------------------
// The random draw
// ---------------------------------------------------------------------------

/// How an input tensor sits in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Row-major, as `Tensor::from_vec` makes it.
    Contiguous,
    /// Axes stored in reverse order (column-major): what `.t()` of a stored matrix gives.
    Transposed,
    /// Row-major, but every other element of a larger buffer, starting at offset 1;
    /// the gaps hold NaN.
    Strided,
    /// Both: column-major with gaps.
    StridedTransposed,
}

/// Everything a test case chooses besides the op.
#[derive(Clone, Debug)]
struct Draw {
    /// Axis sizes, 1..=4; a shape of rank `r` uses the first `r`.
    dims: [usize; 5],
    /// The rank of the main input, 0..=3 (ops that need more axes take more).
    rank: usize,
    /// An axis, taken modulo the rank.
    axis: usize,
    /// A small random number for starts, lengths and counts.
    pick: usize,
    /// Per axis of a broadcasting pair: 0 both full, 1 the first has size 1, 2 the second has.
    stretch: [usize; 4],
    /// How many leading axes the smaller operand of a broadcasting pair lacks.
    dropped: usize,
    /// The memory layout of every input.
    layout: Layout,
    /// Whether the output is read through a transposed view.
    transpose_output: bool,
    /// Seed for input values and constants.
    seed: u64,
}

fn draws() -> impl Strategy<Value = Draw> {
    let layout = prop_oneof![
        Just(Layout::Contiguous),
        Just(Layout::Transposed),
        Just(Layout::Strided),
        Just(Layout::StridedTransposed)
    ];
    (
        prop::array::uniform5(1usize..=4),
        0usize..=3,
        0usize..6,
        0usize..64,
        prop::array::uniform4(0usize..3),
        0usize..=3,
        layout,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(dims, rank, axis, pick, stretch, dropped, layout, transpose_output, seed)| Draw {
                dims,
                rank,
                axis,
                pick,
                stretch,
                dropped,
                layout,
                transpose_output,
                seed,
            },
        )
}

impl Draw {
    /// The main input's shape: rank `self.rank`, but at least `min_rank`.
    fn shape(&self, min_rank: usize) -> Vec<usize> {
        self.dims[..self.rank.max(min_rank)].to_vec()
    }

    /// An axis of a tensor with `ndim` axes.
    fn axis(&self, ndim: usize) -> usize {
        self.axis % ndim.max(1)
    }

    /// An axis of `x`.
    fn axis_of(&self, x: &V) -> usize {
        self.axis(x.ndim())
    }

    /// A generator for constants; `salt` keeps different constants independent.
    /// Built afresh at each call, so every evaluation of an op sees the same constants.
    fn rng(&self, salt: u64) -> StdRng {
        StdRng::seed_from_u64(self.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Constant values in `[low, high)` (targets, second operands).
    fn constant(&self, shape: &[usize], low: f64, high: f64) -> Tensor<f64> {
        Tensor::rand_uniform(shape, low, high, &mut self.rng(1))
    }

    /// A constant mask of ones (probability `p_one`) and zeros.
    fn mask(&self, shape: &[usize], p_one: f64) -> Tensor<f64> {
        Tensor::bernoulli(shape, p_one, &mut self.rng(2))
    }

    /// `count` ids below `bound`; the last repeats the first, so a row is read twice.
    fn ids(&self, count: usize, bound: usize) -> Vec<usize> {
        let mut rng = self.rng(3);
        let mut ids: Vec<usize> = (0..count).map(|_| rng.gen_range(0..bound)).collect();
        if count > 1 {
            ids[count - 1] = ids[0];
        }
        ids
    }

    /// A `gather` index for `shape` along `axis`: at most the input's size off
    /// `axis`, 1..=4 entries along it, values in range (repeats are common).
    fn gather_index(&self, shape: &[usize], axis: usize) -> Indices {
        let mut rng = self.rng(4);
        let index_shape: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(a, &n)| {
                if a == axis {
                    rng.gen_range(1..=4)
                } else {
                    rng.gen_range(1..=n)
                }
            })
            .collect();
        let count = index_shape.iter().product();
        Indices::new(
            (0..count).map(|_| rng.gen_range(0..shape[axis])).collect(),
            &index_shape,
        )
    }

    /// Class targets for `[N, C]` logits (see `targets`).
    fn class_targets(&self, logits: &V, ignore: Option<usize>) -> Indices {
        self.targets(logits.dim(0), logits.dim(1), ignore)
    }

    /// Class targets for `n` rows of `classes` logits. With an `ignore` id, some
    /// targets after the first are replaced by it; the first is always a real class.
    fn targets(&self, n: usize, classes: usize, ignore: Option<usize>) -> Indices {
        let mut rng = self.rng(5);
        let values = (0..n)
            .map(|i| match ignore {
                Some(id) if i > 0 && rng.gen_bool(0.4) => id,
                Some(id) => loop {
                    let t = rng.gen_range(0..classes);
                    if t != id {
                        break t;
                    }
                },
                None => rng.gen_range(0..classes),
            })
            .collect();
        Indices::new(values, &[n])
    }
}

// ---------------------------------------------------------------------------
// Input shapes
// ---------------------------------------------------------------------------

type Shapes = fn(&Draw) -> Vec<Vec<usize>>;

/// One input of rank 0..=3.
fn any_rank(d: &Draw) -> Vec<Vec<usize>> {
    vec![d.shape(0)]
}

/// One input with at least one axis.
fn at_least_1d(d: &Draw) -> Vec<Vec<usize>> {
    vec![d.shape(1)]
}

/// One input with at least two axes.
fn at_least_2d(d: &Draw) -> Vec<Vec<usize>> {
    vec![d.shape(2)]
}

/// One `[rows, columns]` matrix.
fn matrix(d: &Draw) -> Vec<Vec<usize>> {
    vec![d.dims[..2].to_vec()]
}

/// `[N, C]` logits with at least two classes.
fn class_logits(d: &Draw) -> Vec<Vec<usize>> {
    vec![vec![d.dims[0], d.dims[1] + 1]]
}

/// Two shapes that broadcast together: some axes of one or the other are 1,
/// and one of them may lack leading axes.
fn broadcasting_pair(d: &Draw) -> Vec<Vec<usize>> {
    let full = d.shape(0);
    let mut a = full.clone();
    let mut b = full.clone();
    for (axis, &s) in d.stretch.iter().take(full.len()).enumerate() {
        match s {
            1 => a[axis] = 1,
            2 => b[axis] = 1,
            _ => {}
        }
    }
    let drop = d.dropped.min(full.len());
    if d.pick.is_multiple_of(2) {
        a.drain(..drop);
    } else {
        b.drain(..drop);
    }
    vec![a, b]
}

/// One input that broadcasts to `d.shape(0)` (the first of a broadcasting pair, reshaped).
fn broadcast_source(d: &Draw) -> Vec<Vec<usize>> {
    let full = d.shape(0);
    let mut small: Vec<usize> = full
        .iter()
        .zip(d.stretch)
        .map(|(&n, s)| if s == 0 { n } else { 1 })
        .collect();
    small.drain(..d.dropped.min(full.len()));
    vec![small]
}

/// One input whose `d.axis` has size 1 (for `squeeze`).
fn with_unit_axis(d: &Draw) -> Vec<Vec<usize>> {
    let mut shape = d.shape(1);
    let axis = d.axis(shape.len());
    shape[axis] = 1;
    vec![shape]
}

/// One input whose `d.axis` has an even size (for `chunk(2)`).
fn with_even_axis(d: &Draw) -> Vec<Vec<usize>> {
    let mut shape = d.shape(1);
    let axis = d.axis(shape.len());
    shape[axis] = 2 * (1 + d.pick % 2);
    vec![shape]
}

/// Three inputs of one shape (for `stack`).
fn three_alike(d: &Draw) -> Vec<Vec<usize>> {
    vec![d.shape(0); 3]
}

/// Three inputs that differ only along `d.axis` (for `concat`).
fn three_to_concat(d: &Draw) -> Vec<Vec<usize>> {
    let shape = d.shape(1);
    let axis = d.axis(shape.len());
    [shape[axis], 1 + d.pick % 3, d.dims[4]]
        .iter()
        .map(|&n| {
            let mut s = shape.clone();
            s[axis] = n;
            s
        })
        .collect()
}

/// `[m, k] @ [k, n]`.
fn matmul_2d(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, ..] = d.dims;
    vec![vec![m, k], vec![k, n]]
}

/// `Aᵀ` given as `[k, m]`, and `B` as `[k, n]`.
fn matmul_a_stored_transposed(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, ..] = d.dims;
    vec![vec![k, m], vec![k, n]]
}

/// `A` as `[m, k]`, and `Bᵀ` given as `[n, k]`.
fn matmul_b_stored_transposed(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, ..] = d.dims;
    vec![vec![m, k], vec![n, k]]
}

/// `X: [m, k]`, `Wᵀ` stored `[n, k]` (a layer's weight), `b: [n]`.
fn matmul_add_shapes(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, ..] = d.dims;
    vec![vec![m, k], vec![n, k], vec![n]]
}

/// `X: [m, k]`, `W: [k, n]`, and a whole `[m, n]` addend.
fn matmul_add_matrix_shapes(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, ..] = d.dims;
    vec![vec![m, k], vec![k, n], vec![m, n]]
}

/// `[b, m, k] @ [b, k, n]`.
fn matmul_batched(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, b, _] = d.dims;
    vec![vec![b, m, k], vec![b, k, n]]
}

/// `[b2, 1, m, k] @ [b1, k, n]`: the batch axes broadcast to `[b2, b1]`.
fn matmul_broadcast_batch(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, b1, b2] = d.dims;
    vec![vec![b2, 1, m, k], vec![b1, k, n]]
}

/// `[m, k] @ [b, k, n]`: one matrix against a batch.
fn matmul_matrix_by_batch(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, b, _] = d.dims;
    vec![vec![m, k], vec![b, k, n]]
}

/// `[b, k, m]` (transposed inside the op) and `[k, n]`.
fn matmul_batched_a_stored_transposed(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, n, b, _] = d.dims;
    vec![vec![b, k, m], vec![k, n]]
}

/// `[m, k] @ [k]`.
fn matmul_matrix_vector(d: &Draw) -> Vec<Vec<usize>> {
    let [m, k, ..] = d.dims;
    vec![vec![m, k], vec![k]]
}

/// `[k] @ [k, n]`.
fn matmul_vector_matrix(d: &Draw) -> Vec<Vec<usize>> {
    let [_, k, n, ..] = d.dims;
    vec![vec![k], vec![k, n]]
}

/// `[k] @ [k]`.
fn matmul_dot(d: &Draw) -> Vec<Vec<usize>> {
    vec![vec![d.dims[1]], vec![d.dims[1]]]
}

// ---------------------------------------------------------------------------
// Input values
// ---------------------------------------------------------------------------

/// Where an op's input values are drawn: a region where the op is smooth.
#[derive(Clone, Copy, Debug)]
enum Domain {
    /// Uniform in `[-2, 2)`: smooth everywhere.
    Any,
    /// Uniform in `[0.2, 3)`: `ln`, `sqrt`, `powf`.
    Positive,
    /// Uniform in `[-0.8, 2)`: `log1p`.
    AboveMinusOne,
    /// Magnitude in `[0.3, 2)`, either sign: denominators.
    AwayFromZero,
    /// Uniform in `[-2, 2)`, redrawn within `1e-3` of a kink (`relu`, `abs`, `clamp`).
    AwayFrom(&'static [f64]),
    /// All values of all inputs at least 0.05 apart (ties are kinks of `max`,
    /// `maximum`, `minimum`): a shuffled grid with step 0.1 and jitter.
    Distinct,
}

impl Domain {
    fn sample(self, count: usize, rng: &mut StdRng) -> Vec<f64> {
        match self {
            Domain::Any => (0..count).map(|_| rng.gen_range(-2.0..2.0)).collect(),
            Domain::Positive => (0..count).map(|_| rng.gen_range(0.2..3.0)).collect(),
            Domain::AboveMinusOne => (0..count).map(|_| rng.gen_range(-0.8..2.0)).collect(),
            Domain::AwayFromZero => (0..count)
                .map(|_| rng.gen_range(0.3..2.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 })
                .collect(),
            Domain::AwayFrom(kinks) => (0..count)
                .map(|_| loop {
                    let x = rng.gen_range(-2.0..2.0);
                    if kinks.iter().all(|k| (x - k).abs() > 1e-3) {
                        break x;
                    }
                })
                .collect(),
            Domain::Distinct => {
                let half = count as f64 / 2.0;
                let mut values: Vec<f64> = (0..count)
                    .map(|i| (i as f64 - half) * 0.1 + rng.gen_range(0.0..0.05))
                    .collect();
                values.shuffle(rng);
                values
            }
        }
    }
}

/// A tensor of `shape` holding `values` (row-major) in the given memory layout.
fn lay_out(values: &[f64], shape: &[usize], layout: Layout) -> Tensor<f64> {
    let (column_major, gap) = match layout {
        Layout::Contiguous => return Tensor::from_vec(values.to_vec(), shape),
        Layout::Transposed => (true, 1),
        Layout::Strided => (false, 2),
        Layout::StridedTransposed => (true, 2),
    };
    // Strides: the axis stored innermost steps by `gap`, the next by `gap` times its size, ...
    let mut strides = vec![0; shape.len()];
    let mut step = gap;
    let innermost_first: Vec<usize> = if column_major {
        (0..shape.len()).collect()
    } else {
        (0..shape.len()).rev().collect()
    };
    for axis in innermost_first {
        strides[axis] = step;
        step *= shape[axis];
    }
    let offset = gap - 1;
    let mut storage = vec![f64::NAN; offset + values.len() * gap];
    let mut index = vec![0; shape.len()];
    for &value in values {
        storage[offset
            + index
                .iter()
                .zip(&strides)
                .map(|(i, s)| i * s)
                .sum::<usize>()] = value;
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Tensor::from_parts(Arc::new(storage), shape, &strides, offset)
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// Which property test runs a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Unary,
    Binary,
    Reduce,
    Shape,
    Index,
    Matmul,
    /// `matmul` with a 1-D operand (which `Tensor::matmul` accepts).
    MatmulVector,
    Loss,
}

/// Builds an op's output from its input vars.
type Build = fn(&[V], &Draw) -> V;

/// One row of the table.
struct OpTest {
    name: &'static str,
    family: Family,
    inputs: Shapes,
    domain: Domain,
    build: Build,
}

fn op(family: Family, name: &'static str, inputs: Shapes, domain: Domain, build: Build) -> OpTest {
    OpTest {
        name,
        family,
        inputs,
        domain,
        build,
    }
}

/// The shape two operands broadcast to.
fn broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    tensor::shape::broadcast_shapes(a, b)
        .expect("the pair broadcasts")
        .to_vec()
}

/// A narrow window along `axis` of `x`: `(start, length)` with `length >= 1`.
fn window(x: &V, axis: usize, pick: usize) -> (usize, usize) {
    let n = x.dim(axis);
    let start = pick % n;
    (start, 1 + (pick / 7) % (n - start))
}

/// Every op, one row per way of calling it worth checking.
///
/// Columns: family, name (the op's method first), input shapes, value domain,
/// and the op. `x` holds the input vars, `d` the draw (axes, ids, constants).
#[rustfmt::skip]
fn ops() -> Vec<OpTest> {
    use Domain::*;
    use Family::*;
    vec![
        // ---- elementwise, one input of any rank ----
        op(Unary, "neg",                 any_rank, Any,           |x, _| x[0].neg()),
        op(Unary, "neg as -x",           any_rank, Any,           |x, _| -&x[0]),
        op(Unary, "add_scalar",          any_rank, Any,           |x, _| x[0].add_scalar(0.7)),
        op(Unary, "sub_scalar",          any_rank, Any,           |x, _| x[0].sub_scalar(1.3)),
        op(Unary, "mul_scalar",          any_rank, Any,           |x, _| x[0].mul_scalar(-2.5)),
        op(Unary, "div_scalar",          any_rank, Any,           |x, _| x[0].div_scalar(4.0)),
        op(Unary, "exp",                 any_rank, Any,           |x, _| x[0].exp()),
        op(Unary, "ln",                  any_rank, Positive,      |x, _| x[0].ln()),
        op(Unary, "log1p",               any_rank, AboveMinusOne, |x, _| x[0].log1p()),
        op(Unary, "tanh",                any_rank, Any,           |x, _| x[0].tanh()),
        op(Unary, "sigmoid",             any_rank, Any,           |x, _| x[0].sigmoid()),
        op(Unary, "relu",                any_rank, AwayFrom(&[0.0]), |x, _| x[0].relu()),
        op(Unary, "sqrt",                any_rank, Positive,      |x, _| x[0].sqrt()),
        op(Unary, "square",              any_rank, Any,           |x, _| x[0].square()),
        op(Unary, "abs",                 any_rank, AwayFrom(&[0.0]), |x, _| x[0].abs()),
        op(Unary, "powf(2.5)",           any_rank, Positive,      |x, _| x[0].powf(2.5)),
        op(Unary, "powf(-0.5)",          any_rank, Positive,      |x, _| x[0].powf(-0.5)),
        op(Unary, "powf(3), any sign",   any_rank, Any,           |x, _| x[0].powf(3.0)),
        op(Unary, "clamp(-0.5, 0.5)",    any_rank, AwayFrom(&[-0.5, 0.5]), |x, _| x[0].clamp(-0.5, 0.5)),
        op(Unary, "dropout_with_mask",   any_rank, Any,           |x, d| {
            x[0].dropout_with_mask(&d.mask(x[0].shape(), 0.7).scale(1.0 / 0.7))
        }),
        op(Unary, "dropout(0.3)",        any_rank, Any,           |x, _| x[0].dropout(0.3)),
        op(Unary, "dropout(0), the identity", any_rank, Any,      |x, _| x[0].dropout(0.0)),
        op(Unary, "x * tanh(x), a var used twice", any_rank, Any, |x, _| x[0].mul(&x[0].tanh())),
        op(Unary, "operators with a scalar: ((x + 0.5) * 3 - 2) / 4", any_rank, Any, |x, _| {
            ((&x[0] + 0.5) * 3.0 - 2.0) / 4.0
        }),
        op(Unary, "operators with the scalar first: 3 * (2 - (1.5 + x))", any_rank, Any, |x, _| {
            let y = 1.5 + &x[0];
            let y = 2.0 - &y;
            3.0 * &y
        }),
        op(Unary, "operators with a tensor: ((x + t) * t - t) / t", any_rank, Any, |x, d| {
            let t = d.constant(x[0].shape(), 0.5, 2.0);
            let y = &x[0] + &t;
            let y = &y * &t;
            let y = &y - &t;
            &y / &t
        }),
        // ---- elementwise, two inputs that broadcast together ----
        op(Binary, "add",     broadcasting_pair, Any,          |x, _| x[0].add(&x[1])),
        op(Binary, "sub",     broadcasting_pair, Any,          |x, _| x[0].sub(&x[1])),
        op(Binary, "mul",     broadcasting_pair, Any,          |x, _| x[0].mul(&x[1])),
        op(Binary, "div",     broadcasting_pair, AwayFromZero, |x, _| x[0].div(&x[1])),
        op(Binary, "maximum", broadcasting_pair, Distinct,     |x, _| x[0].maximum(&x[1])),
        op(Binary, "minimum", broadcasting_pair, Distinct,     |x, _| x[0].minimum(&x[1])),
        op(Binary, "operators: (a + b) * (a - b) / b", broadcasting_pair, AwayFromZero, |x, _| {
            let (a, b) = (&x[0], &x[1]);
            let product = &(a + b) * &(a - b);
            &product / b
        }),
        op(Binary, "where_",  broadcasting_pair, Any, |x, d| {
            let mask = d.mask(&broadcast(x[0].shape(), x[1].shape()), 0.5);
            Var::where_(&mask, &x[0], &x[1])
        }),
        op(Binary, "where_, the mask broadcasting too", broadcasting_pair, Any, |x, d| {
            let shape = broadcast(x[0].shape(), x[1].shape());
            let mask = d.mask(&shape[shape.len().saturating_sub(1)..], 0.5);
            Var::where_(&mask, &x[0], &x[1])
        }),
        // ---- reductions, along any axis ----
        op(Reduce, "sum",                any_rank,    Any,      |x, _| x[0].sum()),
        op(Reduce, "sum_axis",           at_least_1d, Any,      |x, d| x[0].sum_axis(d.axis_of(&x[0]), false)),
        op(Reduce, "sum_axis(keepdim)",  at_least_1d, Any,      |x, d| x[0].sum_axis(d.axis_of(&x[0]), true)),
        op(Reduce, "mean",               any_rank,    Any,      |x, _| x[0].mean()),
        op(Reduce, "mean_axis",          at_least_1d, Any,      |x, d| x[0].mean_axis(d.axis_of(&x[0]), false)),
        op(Reduce, "mean_axis(keepdim)", at_least_1d, Any,      |x, d| x[0].mean_axis(d.axis_of(&x[0]), true)),
        op(Reduce, "max",                any_rank,    Distinct, |x, _| x[0].max()),
        op(Reduce, "max_axis",           at_least_1d, Distinct, |x, d| x[0].max_axis(d.axis_of(&x[0]), false)),
        op(Reduce, "max_axis(keepdim)",  at_least_1d, Distinct, |x, d| x[0].max_axis(d.axis_of(&x[0]), true)),
        op(Reduce, "softmax",            at_least_1d, Any,      |x, d| x[0].softmax(d.axis_of(&x[0]))),
        op(Reduce, "log_softmax",        at_least_1d, Any,      |x, d| x[0].log_softmax(d.axis_of(&x[0]))),
        // ---- shape ops: views and joins ----
        op(Shape, "reshape to one axis", any_rank,    Any, |x, _| x[0].reshape(&[x[0].value().numel()])),
        op(Shape, "reshape to the reversed shape", at_least_1d, Any, |x, _| {
            x[0].reshape(&x[0].shape().iter().rev().copied().collect::<Vec<_>>())
        }),
        op(Shape, "permute, axes reversed", any_rank, Any, |x, _| {
            x[0].permute(&(0..x[0].ndim()).rev().collect::<Vec<_>>())
        }),
        op(Shape, "permute, axes rotated", at_least_1d, Any, |x, _| {
            x[0].permute(&(1..x[0].ndim()).chain([0]).collect::<Vec<_>>())
        }),
        op(Shape, "transpose",           at_least_1d, Any, |x, d| x[0].transpose(d.axis_of(&x[0]), 0)),
        op(Shape, "t",                   at_least_2d, Any, |x, _| x[0].t()),
        op(Shape, "contiguous of a transposed view", at_least_2d, Any, |x, _| x[0].t().contiguous()),
        op(Shape, "squeeze",             with_unit_axis, Any, |x, d| x[0].squeeze(d.axis_of(&x[0]))),
        op(Shape, "unsqueeze",           any_rank,    Any, |x, d| x[0].unsqueeze(d.axis % (x[0].ndim() + 1))),
        op(Shape, "broadcast_to",        broadcast_source, Any, |x, d| x[0].broadcast_to(&d.shape(0))),
        op(Shape, "narrow",              at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let (start, length) = window(&x[0], axis, d.pick);
            x[0].narrow(axis, start, length)
        }),
        op(Shape, "narrow twice, overlapping windows: their gradients add up", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let (_, length) = window(&x[0], axis, d.pick);
            let first = x[0].narrow(axis, 0, length);
            let last = x[0].narrow(axis, x[0].dim(axis) - length, length);
            first.mul(&last)
        }),
        op(Shape, "select",              at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            x[0].select(axis, d.pick % x[0].dim(axis))
        }),
        op(Shape, "select, its gradient added into a full one already there", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let row = x[0].select(axis, d.pick % x[0].dim(axis)).unsqueeze(axis);
            let all = x[0].exp(); // recorded after the select: its gradient reaches x first
            row.mul(&all)
        }),
        op(Shape, "select, a full gradient added into its slice", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let all = x[0].exp(); // recorded before the select: its gradient reaches x last
            let row = x[0].select(axis, d.pick % x[0].dim(axis)).unsqueeze(axis);
            row.mul(&all)
        }),
        op(Shape, "select, its gradient added into a broadcast (stride 0) one", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let row_total = x[0].select(axis, d.pick % x[0].dim(axis)).square().sum();
            row_total.mul(&x[0].sum()) // sum's gradient is a broadcast view of a scalar
        }),
        op(Shape, "concat",              three_to_concat, Any, |x, d| Var::concat(x, d.axis_of(&x[0]))),
        op(Shape, "concat, one var twice", three_to_concat, Any, |x, d| {
            Var::concat(&[x[0].clone(), x[1].clone(), x[0].clone()], d.axis_of(&x[0]))
        }),
        op(Shape, "stack",               three_alike, Any, |x, d| Var::stack(x, d.axis % (x[0].ndim() + 1))),
        op(Shape, "split, the pieces changed and joined again", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let n = x[0].dim(axis);
            let first = d.pick % (n + 1); // 0 and n give an empty piece
            let pieces = x[0].split(&[first, n - first], axis);
            Var::concat(&[pieces[0].mul_scalar(2.0), pieces[1].tanh()], axis)
        }),
        op(Shape, "chunk(2), the halves multiplied", with_even_axis, Any, |x, d| {
            let halves = x[0].chunk(2, d.axis_of(&x[0]));
            halves[0].mul(&halves[1])
        }),
        op(Shape, "unbind, the entries scaled and stacked again", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            let entries = x[0].unbind(axis);
            let scaled: Vec<V> = entries.iter().enumerate().map(|(i, e)| e.mul_scalar(i as f64 + 1.0)).collect();
            Var::stack(&scaled, axis)
        }),
        // ---- integer indexing ----
        op(Index, "index_select, repeated ids", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            x[0].index_select(axis, &d.ids(1 + d.pick % 5, x[0].dim(axis)))
        }),
        op(Index, "index_select as an embedding lookup, more ids than rows", matrix, Any, |x, d| {
            x[0].index_select(0, &d.ids(x[0].dim(0) + 2, x[0].dim(0)))
        }),
        op(Index, "gather", at_least_1d, Any, |x, d| {
            let axis = d.axis_of(&x[0]);
            x[0].gather(axis, &d.gather_index(x[0].shape(), axis))
        }),
        op(Index, "gather one entry per row, as cross_entropy does", class_logits, Any, |x, d| {
            let picks = d.targets(x[0].dim(0), x[0].dim(1), None);
            x[0].gather(1, &picks.reshape(&[x[0].dim(0), 1]))
        }),
        // ---- matrix products ----
        op(Matmul, "matmul [m,k] @ [k,n]",            matmul_2d,                  Any, |x, _| x[0].matmul(&x[1])),
        op(Matmul, "matmul Aᵀ B, A stored [k,m]",     matmul_a_stored_transposed, Any, |x, _| x[0].t().matmul(&x[1])),
        op(Matmul, "matmul A Bᵀ, B stored [n,k]",     matmul_b_stored_transposed, Any, |x, _| x[0].matmul(&x[1].t())),
        op(Matmul, "matmul_add X Wᵀ + b",              matmul_add_shapes,          Any, |x, _| x[0].matmul_add(&x[1].t(), &x[2])),
        op(Matmul, "matmul_add X W + P, P [m,n]",     matmul_add_matrix_shapes,   Any, |x, _| x[0].matmul_add(&x[1], &x[2])),
        op(Matmul, "matmul [b,m,k] @ [b,k,n]",        matmul_batched,             Any, |x, _| x[0].matmul(&x[1])),
        op(Matmul, "matmul [b2,1,m,k] @ [b1,k,n]",    matmul_broadcast_batch,     Any, |x, _| x[0].matmul(&x[1])),
        op(Matmul, "matmul [m,k] @ [b,k,n]",          matmul_matrix_by_batch,     Any, |x, _| x[0].matmul(&x[1])),
        op(Matmul, "matmul batched Aᵀ, A stored [b,k,m]", matmul_batched_a_stored_transposed, Any, |x, _| {
            x[0].t().matmul(&x[1])
        }),
        op(Matmul, "matmul of an expanded (stride 0) batch", matmul_2d, Any, |x, d| {
            x[0].broadcast_to(&[d.dims[3], x[0].dim(0), x[0].dim(1)]).matmul(&x[1])
        }),
        op(MatmulVector, "matmul [m,k] @ [k]",        matmul_matrix_vector,       Any, |x, _| x[0].matmul(&x[1])),
        op(MatmulVector, "matmul [k] @ [k,n]",        matmul_vector_matrix,       Any, |x, _| x[0].matmul(&x[1])),
        op(MatmulVector, "matmul [k] @ [k]",          matmul_dot,                 Any, |x, _| x[0].matmul(&x[1])),
        // ---- losses ----
        op(Loss, "binary_cross_entropy_with_logits, mean", any_rank, Any, |x, d| {
            let targets = d.constant(x[0].shape(), 0.0, 1.0);
            x[0].binary_cross_entropy_with_logits(&targets, None, Reduction::Mean)
        }),
        op(Loss, "binary_cross_entropy_with_logits, sum, weighted", any_rank, Any, |x, d| {
            let targets = d.constant(x[0].shape(), 0.0, 1.0);
            let weights = d.constant(x[0].shape(), 0.0, 2.0);
            x[0].binary_cross_entropy_with_logits(&targets, Some(&weights), Reduction::Sum)
        }),
        op(Loss, "binary_cross_entropy_with_logits, per element, weights broadcast", at_least_1d, Any, |x, d| {
            let targets = d.constant(x[0].shape(), 0.0, 1.0);
            let weights = d.constant(&[x[0].dim(x[0].ndim() - 1)], 0.0, 2.0);
            x[0].binary_cross_entropy_with_logits(&targets, Some(&weights), Reduction::PerElement)
        }),
        op(Loss, "binary_cross_entropy_with_logits, mean, 0/1 targets, 0/1 mask as weights", any_rank, Any, |x, d| {
            let targets = d.mask(x[0].shape(), 0.5);
            let weights = Tensor::bernoulli(x[0].shape(), 0.7, &mut d.rng(8));
            x[0].binary_cross_entropy_with_logits(&targets, Some(&weights), Reduction::Mean)
        }),
        op(Loss, "cross_entropy, mean", class_logits, Any, |x, d| {
            x[0].cross_entropy(&d.class_targets(&x[0], None), None, Reduction::Mean)
        }),
        op(Loss, "cross_entropy, sum, ignore_index a real class", class_logits, Any, |x, d| {
            x[0].cross_entropy(&d.class_targets(&x[0], Some(0)), Some(0), Reduction::Sum)
        }),
        op(Loss, "cross_entropy, mean over the targets not ignored", class_logits, Any, |x, d| {
            x[0].cross_entropy(&d.class_targets(&x[0], Some(1)), Some(1), Reduction::Mean)
        }),
        op(Loss, "cross_entropy, per element, ignore_index a padding id past the classes", class_logits, Any, |x, d| {
            let padding = x[0].dim(1) + 3;
            x[0].cross_entropy(&d.class_targets(&x[0], Some(padding)), Some(padding), Reduction::PerElement)
        }),
        op(Loss, "mse",                 any_rank, Any, |x, d| x[0].mse(&d.constant(x[0].shape(), -1.0, 1.0))),
        op(Loss, "mse, the target broadcasting", at_least_1d, Any, |x, d| {
            x[0].mse(&d.constant(&[x[0].dim(x[0].ndim() - 1)], -1.0, 1.0))
        }),
    ]
}

/// Every differentiable op `Var` offers. Each must name (begin) at least one row.
const EVERY_OP: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "add_scalar",
    "sub_scalar",
    "mul_scalar",
    "div_scalar",
    "maximum",
    "minimum",
    "where_",
    "dropout_with_mask",
    "dropout",
    "exp",
    "ln",
    "log1p",
    "tanh",
    "sigmoid",
    "relu",
    "sqrt",
    "square",
    "abs",
    "powf",
    "clamp",
    "matmul",
    "matmul_add",
    "sum",
    "sum_axis",
    "mean",
    "mean_axis",
    "max",
    "max_axis",
    "softmax",
    "log_softmax",
    "reshape",
    "permute",
    "transpose",
    "t",
    "contiguous",
    "narrow",
    "select",
    "squeeze",
    "unsqueeze",
    "broadcast_to",
    "concat",
    "stack",
    "split",
    "chunk",
    "unbind",
    "index_select",
    "gather",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "mse",
];

// ---------------------------------------------------------------------------
// Running a row
// ---------------------------------------------------------------------------

impl OpTest {
    /// The row's inputs for a draw: shapes from `inputs`, values from `domain`
    /// (drawn jointly, so `Distinct` holds across inputs), laid out as the draw says.
    fn inputs(&self, draw: &Draw) -> Vec<Tensor<f64>> {
        let shapes = (self.inputs)(draw);
        let total = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
        let values = self
            .domain
            .sample(total, &mut StdRng::seed_from_u64(draw.seed));
        let mut start = 0;
        shapes
            .iter()
            .map(|shape| {
                let n: usize = shape.iter().product();
                start += n;
                lay_out(&values[start - n..start], shape, draw.layout)
            })
            .collect()
    }

    /// Gradient-checks this row on one draw. The error names the op, the
    /// inputs' layout, and gradcheck's report (the worst element).
    fn check(&self, draw: &Draw) -> Result<(), String> {
        let inputs = self.inputs(draw);
        let f = |_: &Tape<f64>, vars: &[V]| {
            let out = (self.build)(vars, draw);
            if draw.transpose_output && out.ndim() >= 2 {
                out.permute(&(0..out.ndim()).rev().collect::<Vec<_>>())
            } else {
                out
            }
        };
        // Training tapes, so dropout rows draw real masks (the same at every evaluation).
        let options = GradcheckOptions {
            seed: draw.seed,
            training_seed: Some(draw.seed),
            ..Default::default()
        };
        let describe = || {
            let layouts: Vec<String> = inputs
                .iter()
                .map(|t| format!("shape {:?} strides {:?}", t.shape(), t.strides()))
                .collect();
            format!(
                "inputs [{}], output read transposed: {}",
                layouts.join("; "),
                draw.transpose_output
            )
        };
        match catch_unwind(AssertUnwindSafe(|| gradcheck(f, &inputs, &options))) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(report)) => Err(format!("op `{}`: {report}\n{}", self.name, describe())),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!(
                    "op `{}` panicked: {message}\n{}",
                    self.name,
                    describe()
                ))
            }
        }
    }
}

/// Runs every row of `family` on one draw; the first failure fails the case.
fn check_family(family: Family, draw: &Draw) -> Result<(), TestCaseError> {
    for row in ops().iter().filter(|row| row.family == family) {
        row.check(draw).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

proptest! {
    // No regression files: a failure prints its minimal `Draw`, which is all a
    // case depends on (paste it into a unit test to replay it).
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn unary_ops_match_finite_differences_on_any_strides(draw in draws()) {
        check_family(Family::Unary, &draw)?;
    }

    #[test]
    fn binary_ops_match_finite_differences_when_broadcasting_on_any_strides(draw in draws()) {
        check_family(Family::Binary, &draw)?;
    }

    #[test]
    fn reductions_match_finite_differences_along_any_axis_on_any_strides(draw in draws()) {
        check_family(Family::Reduce, &draw)?;
    }

    #[test]
    fn shape_ops_match_finite_differences_and_slices_add_into_their_part(draw in draws()) {
        check_family(Family::Shape, &draw)?;
    }

    #[test]
    fn index_ops_match_finite_differences_with_repeated_ids(draw in draws()) {
        check_family(Family::Index, &draw)?;
    }

    #[test]
    fn matmul_matches_finite_differences_batched_broadcast_and_transposed(draw in draws()) {
        check_family(Family::Matmul, &draw)?;
    }

    /// `Tensor::matmul` takes 1-D operands (`[m,k] @ [k]`, `[k] @ [k,n]`, `[k] @ [k]`),
    /// so `Var::matmul` records them, and its backward must handle them too.
    #[test]
    fn matmul_with_a_vector_operand_matches_finite_differences(draw in draws()) {
        check_family(Family::MatmulVector, &draw)?;
    }

    #[test]
    fn losses_match_finite_differences_with_weights_reductions_and_ignore_index(draw in draws()) {
        check_family(Family::Loss, &draw)?;
    }
}

#[test]
fn the_table_has_a_row_for_every_op() {
    let table = ops();
    // A row's op is the first word of its name: "sum_axis(keepdim)" is `sum_axis`.
    let first_word = |name: &str| {
        name.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_string()
    };
    let covered: Vec<String> = table.iter().map(|row| first_word(row.name)).collect();
    let missing: Vec<&&str> = EVERY_OP
        .iter()
        .filter(|op| !covered.iter().any(|c| c == **op))
        .collect();
    assert!(
        missing.is_empty(),
        "ops without a row in the gradcheck table: {missing:?}"
    );
    for family in [
        Family::Unary,
        Family::Binary,
        Family::Reduce,
        Family::Shape,
        Family::Index,
        Family::Matmul,
        Family::MatmulVector,
        Family::Loss,
    ] {
        assert!(
            table.iter().any(|row| row.family == family),
            "no row runs in the {family:?} test"
        );
    }
}

#[test]
fn a_wrong_backward_rule_fails_with_the_op_name_and_worst_element() {
    // A row whose op records `y = x^2` with the wrong rule `dL/dx = g` (should be `2 x g`).
    let wrong = op(
        Family::Unary,
        "square with a wrong rule",
        any_rank,
        Domain::Any,
        |x, _| {
            let value = x[0].value().square();
            x[0].tape()
                .record("wrong_square", value, &[&x[0]], vec![], |input| {
                    smallvec::smallvec![autograd::gradients::full(input.grad_output)]
                })
        },
    );
    let draw = Draw {
        dims: [3, 2, 1, 1, 1],
        rank: 2,
        axis: 0,
        pick: 0,
        stretch: [0; 4],
        dropped: 0,
        layout: Layout::Transposed,
        transpose_output: true,
        seed: 1,
    };
    let message = wrong.check(&draw).unwrap_err();
    for expected in [
        "square with a wrong rule",
        "FAILED",
        "worst: input 0 at element",
        "strides [1, 3]",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from: {message}"
        );
    }
}

#[test]
fn layouts_hold_the_same_values_in_different_places() {
    let values: Vec<f64> = (0..6).map(f64::from).collect();
    for layout in [
        Layout::Contiguous,
        Layout::Transposed,
        Layout::Strided,
        Layout::StridedTransposed,
    ] {
        let t = lay_out(&values, &[2, 3], layout);
        assert_eq!(t.to_vec(), values, "{layout:?}");
        assert_eq!(
            t.is_contiguous(),
            layout == Layout::Contiguous,
            "{layout:?}"
        );
    }
    assert_eq!(
        lay_out(&values, &[2, 3], Layout::StridedTransposed).strides(),
        &[2, 4]
    );
}

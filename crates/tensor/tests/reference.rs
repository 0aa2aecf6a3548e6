//! The appendix's fast matrix product equals the core's three loops.
//!
//! [`Tensor::matmul`] (blocked, packed, SIMD, threaded) and
//! [`Tensor::matmul_reference`] (`c[i, j] = sum_p a[i, p] * b[p, j]`, in order of
//! `p`) add the same `k` products in different groupings, so they may differ
//! by rounding, and by no more: each is within `gamma(k) * sum_p |a_ip| |b_pj|`
//! of the exact value, where `gamma(k) = k eps / (1 - k eps)` is the classic
//! bound for a `k`-term dot product (Higham, *Accuracy and Stability of
//! Numerical Algorithms*, section 3.1). So the tolerance for element `(i, j)` is
//!
//! ```text
//! |fast - reference| <= 2 (k + 1) eps (|A| |B|)[i, j]
//! ```
//!
//! (`eps` the unit roundoff of the element type, one extra `k + 1` for the
//! store), checked on random shapes with every operand layout a view can have.
//! The product with a prepacked right operand (`PackedMatrix`) must equal the
//! plain product exactly.

use proptest::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use tensor::fast::matmul::PackedMatrix;
use tensor::{Element, Tensor};

/// How an operand of a given logical shape is laid out.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// A fresh row-major matrix.
    Contiguous,
    /// The transpose of a row-major matrix (column-major).
    Transposed,
    /// A block cut out of a larger matrix: an offset and a longer row stride.
    Narrowed,
    /// Every other element of each row (column stride 2).
    Strided,
    /// One row repeated (row stride 0).
    Broadcast,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Contiguous),
        Just(Layout::Transposed),
        Just(Layout::Narrowed),
        Just(Layout::Strided),
        Just(Layout::Broadcast),
    ]
}

/// A `rows x cols` matrix in [-1, 1) laid out as `layout` says.
fn matrix<T: Element>(rows: usize, cols: usize, layout: Layout, rng: &mut StdRng) -> Tensor<T> {
    let m = match layout {
        Layout::Contiguous => Tensor::rand_uniform(&[rows, cols], -1.0, 1.0, rng),
        Layout::Transposed => Tensor::rand_uniform(&[cols, rows], -1.0, 1.0, rng).t(),
        Layout::Narrowed => Tensor::rand_uniform(&[rows + 2, cols + 3], -1.0, 1.0, rng)
            .narrow(0, 1, rows)
            .narrow(1, 2, cols),
        Layout::Strided => Tensor::rand_uniform(&[rows, cols, 2], -1.0, 1.0, rng).select(2, 0),
        Layout::Broadcast => {
            Tensor::rand_uniform(&[1, cols], -1.0, 1.0, rng).broadcast_to(&[rows, cols])
        }
    };
    assert_eq!(m.shape(), &[rows, cols]);
    m
}

/// Unit roundoff of `T`, found from its arithmetic: the gap above 1 is `2 eps`.
fn epsilon<T: Element>() -> f64 {
    let mut e = 1.0f64;
    while T::from_f64(1.0 + e / 2.0) != T::ONE {
        e /= 2.0;
    }
    e / 2.0
}

/// Panics, naming the worst element, unless `fast` and `reference` agree within the
/// tolerance of the module docs for products of depth `k` with `|A| |B| = bound`.
fn assert_within_rounding<T: Element>(
    fast: &Tensor<T>,
    reference: &Tensor<T>,
    bound: &Tensor<T>,
    k: usize,
) {
    assert_eq!(fast.shape(), reference.shape());
    let tolerance = 2.0 * (k as f64 + 1.0) * epsilon::<T>();
    let (fast, reference, bound) = (fast.to_vec(), reference.to_vec(), bound.to_vec());
    for (i, ((f, r), b)) in fast.iter().zip(&reference).zip(&bound).enumerate() {
        let (f, r, b) = (f.to_f64(), r.to_f64(), b.to_f64());
        assert!(
            (f - r).abs() <= tolerance * b,
            "element {i}: fast {f}, reference {r}, differ by {} > {tolerance} * {b}",
            (f - r).abs()
        );
    }
}

/// One random product of the given shape and layouts, fast against reference.
fn check<T: Element>(m: usize, k: usize, n: usize, layouts: (Layout, Layout), seed: u64) {
    let rng = &mut StdRng::seed_from_u64(seed);
    let a = matrix::<T>(m, k, layouts.0, rng);
    let b = matrix::<T>(k, n, layouts.1, rng);
    let bound = a.abs().matmul_reference(&b.abs());
    assert_within_rounding(&a.matmul(&b), &a.matmul_reference(&b), &bound, k);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matmul_equals_reference_within_rounding_for_any_layout_f32(
        m in 1usize..70, k in 1usize..300, n in 1usize..70,
        a in layout(), b in layout(), seed in any::<u64>()
    ) {
        check::<f32>(m, k, n, (a, b), seed);
    }

    /// A prepacked right operand (`PackedMatrix`, the time loop's `W_hh^T`)
    /// gives the plain product exactly, for any layout of either operand.
    #[test]
    fn matmul_packed_equals_matmul_bit_for_bit_for_any_layout(
        m in 1usize..140, k in 1usize..600, n in 1usize..140,
        a in layout(), b in layout(), seed in any::<u64>()
    ) {
        let rng = &mut StdRng::seed_from_u64(seed);
        let a = matrix::<f32>(m, k, a, rng);
        let b = matrix::<f32>(k, n, b, rng);
        prop_assert_eq!(a.matmul_packed(&PackedMatrix::new(&b)), a.matmul(&b));
    }

    #[test]
    fn matmul_equals_reference_within_rounding_for_any_layout_f64(
        m in 1usize..70, k in 1usize..300, n in 1usize..70,
        a in layout(), b in layout(), seed in any::<u64>()
    ) {
        check::<f64>(m, k, n, (a, b), seed);
    }
}

/// Each matrix of a batched product (one weight shared by the batch, folded into
/// one tall product; and one weight per batch entry) is the reference product of
/// the two matrices at that batch index.
#[test]
fn batched_matmul_is_the_reference_product_of_each_batch_entry() {
    let rng = &mut StdRng::seed_from_u64(7);
    let (batch, m, k, n) = (3, 17, 40, 9);
    let a = Tensor::<f32>::rand_uniform(&[batch, m, k], -1.0, 1.0, rng);
    let shared = Tensor::<f32>::rand_uniform(&[k, n], -1.0, 1.0, rng);
    let each = Tensor::<f32>::rand_uniform(&[batch, n, k], -1.0, 1.0, rng).transpose(1, 2);
    for (b, product) in [(None, a.matmul(&shared)), (Some(&each), a.matmul(&each))] {
        assert_eq!(product.shape(), &[batch, m, n]);
        for i in 0..batch {
            let (a_i, b_i) = (a.select(0, i), b.map_or(shared.clone(), |b| b.select(0, i)));
            let bound = a_i.abs().matmul_reference(&b_i.abs());
            assert_within_rounding(
                &product.select(0, i),
                &a_i.matmul_reference(&b_i),
                &bound,
                k,
            );
        }
    }
}

#[test]
#[should_panic(expected = "matmul_reference: shapes [2, 3] and [4, 2] cannot be multiplied")]
fn reference_checks_inner_dimensions() {
    Tensor::<f32>::zeros(&[2, 3]).matmul_reference(&Tensor::zeros(&[4, 2]));
}

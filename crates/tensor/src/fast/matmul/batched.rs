//! The batched product behind [`Tensor::matmul`]: the core's one call into
//! this appendix.
//!
//! The core (`crate::matmul`) applies NumPy's rules (vectors promoted, batch
//! axes broadcast, shapes checked) and hands over the operands as storage,
//! offset and strides. Each matrix of the batch becomes one call of the GEMM
//! on the operands' own strides; when the right operand is one matrix for the
//! whole batch and the left one's rows are evenly spaced, the batch folds
//! into one tall product instead.

use smallvec::SmallVec;

use super::{gemm_impl, Kernel, MatMut, MatRef};
use crate::scalar::Element;
#[cfg(doc)]
use crate::tensor::Tensor;

/// The operands of a batched product `[..batch, m, k] @ [..batch, k, n]`, as
/// the core's [`Tensor::matmul`] prepared them: each operand's storage and
/// offset, its strides along the (broadcast) batch axes, and its row and
/// column strides.
pub struct BatchedOperands<'a, T> {
    /// The broadcast batch shape.
    pub batch: &'a [usize],
    /// `A`'s storage and offset.
    pub a: (&'a [T], usize),
    /// `A`'s stride along each batch axis (0 where it broadcasts).
    pub a_batch_strides: &'a [usize],
    /// `A`'s row and column strides.
    pub a_strides: [usize; 2],
    /// `B`'s storage and offset.
    pub b: (&'a [T], usize),
    /// `B`'s stride along each batch axis (0 where it broadcasts).
    pub b_batch_strides: &'a [usize],
    /// `B`'s row and column strides.
    pub b_strides: [usize; 2],
    /// `m`, `k` and `n`.
    pub mkn: [usize; 3],
}

/// Writes the batched product into `out` (row-major `[..batch, m, n]`).
/// `threads: None` is the crate-wide default, looked up only for products
/// big enough to use threads.
pub fn batched_gemm<T: Element>(
    operands: &BatchedOperands<'_, T>,
    out: &mut [T],
    kernel: Option<Kernel>,
    threads: Option<usize>,
) {
    crate::fast::build_profile::warn_once_if_unoptimized();
    let BatchedOperands { batch, a, b, .. } = *operands;
    let [m, k, n] = operands.mkn;
    let ([a_rs, a_cs], [b_rs, b_cs]) = (operands.a_strides, operands.b_strides);
    let gemm = |a: MatRef<'_, T>, b: MatRef<'_, T>, c: MatMut<'_, T>| {
        gemm_impl(kernel, threads, T::ONE, a, b, T::ZERO, c);
    };
    // One big product when B is the same matrix for every batch entry and
    // A's batch axes and row axis fold into a single evenly strided axis.
    if operands.b_batch_strides.iter().all(|&s| s == 0) {
        if let Some(row_stride) = fold_rows(batch, operands.a_batch_strides, m, a_rs) {
            let rows = out.len() / n;
            gemm(
                MatRef::new(a.0, a.1, rows, k, row_stride, a_cs),
                MatRef::new(b.0, b.1, k, n, b_rs, b_cs),
                MatMut::from_slice(out, rows, n),
            );
            return;
        }
    }
    // Otherwise one product per batch entry, walking the batch index like an odometer.
    let mut index: SmallVec<[usize; 4]> = smallvec::smallvec![0; batch.len()];
    let offset = |start: usize, strides: &[usize], index: &[usize]| {
        start + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>()
    };
    for c_block in out.chunks_exact_mut(m * n) {
        let a_off = offset(a.1, operands.a_batch_strides, &index);
        let b_off = offset(b.1, operands.b_batch_strides, &index);
        gemm(
            MatRef::new(a.0, a_off, m, k, a_rs, a_cs),
            MatRef::new(b.0, b_off, k, n, b_rs, b_cs),
            MatMut::from_slice(c_block, m, n),
        );
        for axis in (0..batch.len()).rev() {
            index[axis] += 1;
            if index[axis] < batch[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

/// If the axes `batch..., m` of A (strides `batch_strides..., row_stride`) visit
/// rows that are evenly spaced, returns that spacing: the batch then folds into
/// the row axis of one `(batch * m) x k` matrix.
fn fold_rows(
    batch: &[usize],
    batch_strides: &[usize],
    m: usize,
    row_stride: usize,
) -> Option<usize> {
    // Walk from the innermost axis outwards, skipping axes of length 1 (their
    // stride never matters). `span` is how far the axes folded so far reach.
    let mut folded: Option<(usize, usize)> = None; // (stride, span)
    let axes = batch
        .iter()
        .zip(batch_strides)
        .map(|(&len, &s)| (len, s))
        .chain(std::iter::once((m, row_stride)));
    let axes: SmallVec<[(usize, usize); 5]> = axes.filter(|&(len, _)| len != 1).collect();
    for &(len, stride) in axes.iter().rev() {
        folded = match folded {
            None => Some((stride, len * stride)),
            Some((inner, span)) if stride == span && stride != 0 => Some((inner, len * stride)),
            Some(_) => return None,
        };
    }
    Some(folded.map_or(0, |(stride, _)| stride))
}

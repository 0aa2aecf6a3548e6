//! `Tensor::matmul`: NumPy's matrix-product rules on top of [`gemm`](super::gemm).
//!
//! Vectors are promoted to matrices, batch axes broadcast, and each matrix of
//! the batch becomes one call of the GEMM on the operands' own strides. When
//! the right operand is one matrix for the whole batch and the left one's rows
//! are evenly spaced, the batch folds into one tall product instead.

use smallvec::SmallVec;

use super::{gemm_impl, GemmConfig, Kernel, MatMut, MatRef};
use crate::shape::{self, Dims};
use crate::tensor::Tensor;
use crate::Element;

impl<T: Element> Tensor<T> {
    /// Matrix product, with NumPy's `matmul` rules, using the default [`GemmConfig`].
    ///
    /// - `[m, k] @ [k, n] -> [m, n]`.
    /// - Batched: `[..., m, k] @ [..., k, n] -> [..., m, n]`, where the leading
    ///   (batch) axes broadcast against each other: `[4, 1, m, k] @ [3, k, n]`
    ///   gives `[4, 3, m, n]`.
    /// - A 1-D operand is a vector: on the left it becomes `[1, k]`, on the
    ///   right `[k, 1]`, and that axis is removed from the result
    ///   (`[k] @ [k, n] -> [n]`, `[m, k] @ [k] -> [m]`, `[k] @ [k] -> []`).
    ///
    /// Operands may have any strides: a transposed (`.t()`), sliced or
    /// broadcast operand is read in place by the packing step, never copied
    /// first. When the right operand is one matrix shared by the whole batch
    /// and the left one's batch rows are evenly spaced (a contiguous
    /// `[batch, time, features] @ [features, out]`, say), the whole batch is
    /// done as one large product.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    /// assert_eq!(a.matmul(&b).to_vec(), vec![4.0, 5.0, 10.0, 11.0]);
    /// assert_eq!(a.t().matmul(&a).shape(), &[3, 3]); // a transposed view, not a copy
    /// ```
    ///
    /// # Panics
    /// If an operand is 0-D, if the inner dimensions differ, or if the batch
    /// axes do not broadcast; the message names `matmul` and both shapes.
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.matmul_impl(other, None, None)
    }

    /// [`matmul`](Tensor::matmul) with an explicit kernel and thread count.
    ///
    /// # Panics
    /// As [`matmul`](Tensor::matmul), and if `config.kernel` is not supported by this CPU.
    pub fn matmul_with(&self, other: &Tensor<T>, config: &GemmConfig) -> Tensor<T> {
        self.matmul_impl(other, config.kernel, Some(config.threads))
    }

    /// [`matmul_with`](Tensor::matmul_with); `threads: None` is the crate default (see `gemm_impl`).
    fn matmul_impl(
        &self,
        other: &Tensor<T>,
        kernel: Option<Kernel>,
        threads: Option<usize>,
    ) -> Tensor<T> {
        let fail = |why: &str| -> ! {
            panic!(
                "matmul: shapes {:?} and {:?} {why}",
                self.shape(),
                other.shape()
            )
        };
        if self.ndim() == 0 || other.ndim() == 0 {
            fail("are not matrices or vectors (0-D operand)");
        }
        // Promote vectors to matrices, remembering to drop the added axis at the end.
        let (mut a_shape, mut a_strides): (Dims, Dims) =
            (self.shape().into(), self.strides().into());
        let (mut b_shape, mut b_strides): (Dims, Dims) =
            (other.shape().into(), other.strides().into());
        let (a_vector, b_vector) = (self.ndim() == 1, other.ndim() == 1);
        if a_vector {
            a_shape.insert(0, 1);
            a_strides.insert(0, 0);
        }
        if b_vector {
            b_shape.push(1);
            b_strides.push(0);
        }
        let (a_nd, b_nd) = (a_shape.len(), b_shape.len());
        let (m, k) = (a_shape[a_nd - 2], a_shape[a_nd - 1]);
        let (k2, n) = (b_shape[b_nd - 2], b_shape[b_nd - 1]);
        if k != k2 {
            fail(&format!(
                "cannot be multiplied: inner dimensions {k} and {k2} differ"
            ));
        }
        let Some(batch) = shape::broadcast_shapes(&a_shape[..a_nd - 2], &b_shape[..b_nd - 2])
        else {
            fail("cannot be multiplied: batch dimensions do not broadcast");
        };
        let a_batch =
            shape::broadcast_strides(&a_shape[..a_nd - 2], &a_strides[..a_nd - 2], &batch)
                .expect("broadcast_shapes agreed");
        let b_batch =
            shape::broadcast_strides(&b_shape[..b_nd - 2], &b_strides[..b_nd - 2], &batch)
                .expect("broadcast_shapes agreed");
        let (a_rs, a_cs) = (a_strides[a_nd - 2], a_strides[a_nd - 1]);
        let (b_rs, b_cs) = (b_strides[b_nd - 2], b_strides[b_nd - 1]);

        let mut out_shape: Dims = batch.clone();
        if !a_vector {
            out_shape.push(m);
        }
        if !b_vector {
            out_shape.push(n);
        }
        // The batch axes of two valid operands can still broadcast to a product
        // (with m and n) that overflows: checked, so it panics rather than wraps.
        let Some(count) = shape::checked_numel(&out_shape) else {
            fail(&format!(
                "give a product of shape {out_shape:?}, more elements than a usize can count"
            ));
        };
        let batch_count = shape::numel(&batch);
        let mut out = vec![T::ZERO; count];
        if out.is_empty() {
            return Tensor::from_vec(out, &out_shape);
        }
        let (a_data, b_data) = (self.storage(), other.storage());

        // One big product when B is the same matrix for every batch entry and
        // A's batch axes and row axis fold into a single evenly strided axis.
        if b_batch.iter().all(|&s| s == 0) {
            if let Some(row_stride) = fold_rows(&batch, &a_batch, m, a_rs) {
                let rows = batch_count * m;
                let a = MatRef::new(a_data, self.offset(), rows, k, row_stride, a_cs);
                let b = MatRef::new(b_data, other.offset(), k, n, b_rs, b_cs);
                gemm_impl(
                    kernel,
                    threads,
                    T::ONE,
                    a,
                    b,
                    T::ZERO,
                    MatMut::from_slice(&mut out, rows, n),
                );
                return Tensor::from_vec(out, &out_shape);
            }
        }

        // Otherwise one product per batch entry, walking the batch index like an odometer.
        let mut index: SmallVec<[usize; 4]> = smallvec::smallvec![0; batch.len()];
        for c_block in out.chunks_exact_mut(m * n) {
            let a_off = self.offset()
                + index
                    .iter()
                    .zip(&a_batch)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            let b_off = other.offset()
                + index
                    .iter()
                    .zip(&b_batch)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            let a = MatRef::new(a_data, a_off, m, k, a_rs, a_cs);
            let b = MatRef::new(b_data, b_off, k, n, b_rs, b_cs);
            gemm_impl(
                kernel,
                threads,
                T::ONE,
                a,
                b,
                T::ZERO,
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
        Tensor::from_vec(out, &out_shape)
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

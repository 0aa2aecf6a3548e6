//! The matrix product: its definition, three loops, and NumPy's rules for
//! batches and vectors.
//!
//! For `A: m x k` and `B: k x n`, the product `C = A B` is the `m x n` matrix
//!
//! ```text
//! C[i, j] = sum over p of A[i, p] * B[p, j]
//! ```
//!
//! [`Tensor::matmul_reference`] computes exactly that, one dot product per
//! element of `C`, reading both operands through their strides (the formula
//! of the [crate docs](crate)), so a transposed or sliced operand is used where
//! it lies. It is the version to read; it is also slow, because it reads `B`
//! down a column and reuses nothing from cache.
//!
//! [`Tensor::matmul`] is the product the crates above use. This file gives
//! its rules (vectors promoted to matrices, batch axes broadcast, shapes
//! checked); the arithmetic is the appendix's
//! ([`fast::matmul`](crate::fast::matmul)), entered through one call,
//! [`batched_gemm`]: packed blocks, SIMD
//! micro-kernels, threads. It adds the same products in a different grouping
//! (blocks of the depth, fused multiply-adds), so the two agree up to
//! rounding: `crates/tensor/tests/reference.rs` checks that they differ by no
//! more than a dot product of `k` terms may round, on random shapes and on
//! transposed, sliced and broadcast operands.

use crate::fast::matmul::{batched_gemm, BatchedOperands, GemmConfig, Kernel};
use crate::scalar::{Element, Scalar};
use crate::shape::{self, Dims};
use crate::tensor::{allocation_len, Tensor};

impl<T: Scalar> Tensor<T> {
    /// The matrix product `[m, k] @ [k, n] -> [m, n]` by the textbook triple
    /// loop: `c[i, j] = sum_p a[i, p] * b[p, j]`, summed in order of `p`.
    ///
    /// Operands may have any strides. For speed, batches and vectors, use
    /// [`matmul`](Tensor::matmul), which computes the same numbers up to rounding.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], &[3, 2]);
    /// assert_eq!(a.matmul_reference(&b).to_vec(), vec![4.0, 5.0, 10.0, 11.0]);
    /// // A transposed view is read in place: a^T a is 3 x 3.
    /// assert_eq!(a.t().matmul_reference(&a).shape(), &[3, 3]);
    /// assert_eq!(a.t().matmul_reference(&a).to_vec(), a.t().matmul(&a).to_vec());
    /// ```
    ///
    /// # Panics
    /// If an operand is not 2-D or the inner dimensions differ; the message
    /// names `matmul_reference` and both shapes.
    pub fn matmul_reference(&self, other: &Tensor<T>) -> Tensor<T> {
        assert!(
            self.ndim() == 2 && other.ndim() == 2,
            "matmul_reference: shapes {:?} and {:?} are not both matrices",
            self.shape(),
            other.shape()
        );
        let (m, k, n) = (self.dim(0), self.dim(1), other.dim(1));
        assert!(
            other.dim(0) == k,
            "matmul_reference: shapes {:?} and {:?} cannot be multiplied: inner dimensions {k} and {} differ",
            self.shape(),
            other.shape(),
            other.dim(0)
        );
        // Element (i, p) of A sits at a[a0 + i * a_rows + p * a_cols]; likewise B.
        let (a, a0, [a_rows, a_cols]) = (self.storage(), self.offset(), two(self.strides()));
        let (b, b0, [b_rows, b_cols]) = (other.storage(), other.offset(), two(other.strides()));
        let mut c = Vec::with_capacity(allocation_len::<T>(&[m, n], "matmul_reference"));
        for i in 0..m {
            for j in 0..n {
                let mut sum = T::ZERO;
                for p in 0..k {
                    sum += a[a0 + i * a_rows + p * a_cols] * b[b0 + p * b_rows + j * b_cols];
                }
                c.push(sum);
            }
        }
        Tensor::from_vec(c, &[m, n])
    }
}

/// The two strides of a matrix, as an array.
fn two(strides: &[usize]) -> [usize; 2] {
    [strides[0], strides[1]]
}

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
    /// broadcast operand is read in place by the appendix's packing step,
    /// never copied first.
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
        self.matmul_options(other, None, None)
    }

    /// [`matmul`](Tensor::matmul) with an explicit kernel and thread count.
    ///
    /// # Panics
    /// As [`matmul`](Tensor::matmul), and if `config.kernel` is not supported by this CPU.
    pub fn matmul_with(&self, other: &Tensor<T>, config: &GemmConfig) -> Tensor<T> {
        self.matmul_options(other, config.kernel, Some(config.threads))
    }

    /// The rules: promote vectors, check the shapes, broadcast the batch
    /// axes, then hand the strided operands to the appendix's GEMM.
    /// `threads: None` is the crate-wide default.
    fn matmul_options(
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
        // A vector is a one-row (left) or one-column (right) matrix whose
        // added axis is dropped from the result.
        let (a_vector, b_vector) = (self.ndim() == 1, other.ndim() == 1);
        let (a_shape, a_strides) = as_matrices(self, a_vector, 0);
        let (b_shape, b_strides) = as_matrices(other, b_vector, 1);
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
        let batch_strides = |shape: &[usize], strides: &[usize]| {
            let nd = shape.len();
            shape::broadcast_strides(&shape[..nd - 2], &strides[..nd - 2], &batch)
                .expect("broadcast_shapes agreed")
        };
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
        let mut out = vec![T::ZERO; count];
        if !out.is_empty() {
            let operands = BatchedOperands {
                batch: &batch,
                a: (self.storage(), self.offset()),
                a_batch_strides: &batch_strides(&a_shape, &a_strides),
                a_strides: [a_strides[a_nd - 2], a_strides[a_nd - 1]],
                b: (other.storage(), other.offset()),
                b_batch_strides: &batch_strides(&b_shape, &b_strides),
                b_strides: [b_strides[b_nd - 2], b_strides[b_nd - 1]],
                mkn: [m, k, n],
            };
            // The seam: the appendix multiplies, on the operands' own strides.
            batched_gemm(&operands, &mut out, kernel, threads);
        }
        Tensor::from_vec(out, &out_shape)
    }
}

/// The shape and strides of `t` with a vector promoted to a matrix: a length-1
/// axis (stride 0) inserted at `axis` 0 (a row) or appended (`axis` 1, a column).
fn as_matrices<T: Scalar>(t: &Tensor<T>, vector: bool, axis: usize) -> (Dims, Dims) {
    let (mut shape, mut strides): (Dims, Dims) = (t.shape().into(), t.strides().into());
    if vector {
        let at = if axis == 0 { 0 } else { shape.len() };
        shape.insert(at, 1);
        strides.insert(at, 0);
    }
    (shape, strides)
}

//! The matrix product, as its definition: three loops.
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
//! [`Tensor::matmul`] (in the appendix, [`fast::matmul`](crate::fast::matmul))
//! computes the same numbers tens of times faster, and also takes batches and
//! vectors. It adds the same products in a different grouping (blocks of the
//! depth, fused multiply-adds), so the two agree up to rounding:
//! `crates/tensor/tests/reference.rs` checks that they differ by no more than
//! a dot product of `k` terms may round, on random shapes and on transposed,
//! sliced and broadcast operands.

use crate::scalar::Scalar;
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

//! Chapter 1, `tensor`: write these after reading `crates/tensor/src/lib.rs`,
//! `shape.rs`, `view.rs` and `matmul.rs`.
//!
//! Replace each `todo!()` with your code, then run
//! `cargo run -p exercises -- 1.` to see which pass.

// A skeleton's arguments are unused until you write its body.
#![allow(unused_variables)]

use tensor::Tensor;

/// **Exercise 1.1**: where element `index` of a strided tensor sits in its
/// buffer.
///
/// The formula opens `crates/tensor/src/shape.rs`: the element at
/// `[i0, .., in-1]` sits at `offset + i0*s0 + .. + in-1*sn-1`. A transposed
/// view swaps the strides, a broadcast axis has stride 0, a narrowed view
/// moves the offset; the same formula reads them all.
///
/// The library's solution: `tensor::shape::element_position`.
pub fn element_position(offset: usize, strides: &[usize], index: &[usize]) -> usize {
    todo!("exercise 1.1, element_position")
}

/// **Exercise 1.2**: the shape two operands broadcast to, or `None` when
/// they cannot be (NumPy's rule).
///
/// Align the two shapes on the right; a missing axis counts as size 1; two
/// sizes are compatible when they are equal or one of them is 1, and the
/// result takes the larger. `[3, 1, 5]` and `[4, 5]` give `[3, 4, 5]`; `[3]`
/// and `[4]` give `None` (`crates/tensor/src/shape.rs`, module docs).
///
/// The library's solution: `tensor::shape::broadcast_shapes`.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    todo!("exercise 1.2, broadcast_shapes")
}

/// **Exercise 1.3**: `t` with axes `axis_a` and `axis_b` swapped, as a
/// view: no element is copied, the result shares `t`'s buffer.
///
/// Swap the two axes' sizes and strides and keep the offset; build the view
/// with [`Tensor::as_strided`] from `t.shape()`, `t.strides()` and
/// `t.offset()` (`crates/tensor/src/view.rs`, the table in the module docs).
///
/// The library's solution: `Tensor::transpose` (through `Tensor::permute`).
pub fn transpose_view(t: &Tensor<f64>, axis_a: usize, axis_b: usize) -> Tensor<f64> {
    todo!("exercise 1.3, transpose_view")
}

/// **Exercise 1.4**: the matrix product `[m, k] @ [k, n] -> [m, n]` by its
/// definition, three loops: `c[i, j] = sum_p a[i, p] * b[p, j]`.
///
/// The operands may have any strides (a transposed view, say): read them
/// with [`Tensor::get`], and build the result with [`Tensor::from_vec`].
/// Sum over `p` in order, from 0, and your numbers are the library's to the
/// last bit.
///
/// The library's solution: `Tensor::matmul_reference` (`crates/tensor/src/matmul.rs`).
pub fn matmul(a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 1.4, matmul")
}

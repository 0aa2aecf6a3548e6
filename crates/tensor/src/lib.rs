//! # tensor: strided CPU tensors and a fast matrix multiply
//!
//! The first crate of tapegrad, and the only one that touches raw numbers.
//! Everything above it (autograd, layers, training) is written in terms of the
//! [`Tensor`] type defined here.
//!
//! ## What a tensor is
//! A tensor is a flat buffer of numbers plus a rule for reading it as an
//! n-dimensional array: a **shape** (the size of each axis), **strides** (how
//! many elements to skip to move one step along each axis) and an **offset**
//! (where element `[0, .., 0]` sits). The element at index `i` is
//!
//! ```text
//! storage[offset + sum_k i_k * strides_k]
//! ```
//!
//! Because the buffer is shared (`Arc`), transposing, slicing or broadcasting a
//! tensor only computes new strides; no data moves. Broadcasting gives an axis
//! stride 0, so it reads the same element many times.
//!
//! ## Reading order
//! The core, front to back, is everything a tensor *does*:
//! 1. [`scalar`]: the two number types (`f32` for training, `f64` for gradient checks).
//! 2. [`shape`]: strides, contiguity, and NumPy's broadcasting rule.
//! 3. [`tensor`]: the [`Tensor`] struct and its constructors.
//! 4. [`view`]: reshape, permute, transpose, narrow, select, broadcast — all without copying.
//! 5. [`walk`]: the one loop that visits the elements of strided tensors.
//! 6. [`elementwise`]: unary and binary ops with broadcasting, and the `+ - * /` operators.
//! 7. [`reduce`]: sums, means, extrema, softmax, and `sum_to` (the adjoint of broadcasting).
//! 8. [`index`]: integer [`Indices`], embedding lookup (`index_select`), `gather`, and their adjoints.
//! 9. [`combine`]: `concat` and `stack`.
//! 10. [`random`]: seeded random tensors.
//! 11. [`matmul`](mod@matmul): the matrix product as its definition (three
//!     loops), and [`Tensor::matmul`]'s rules for batches and vectors.
//!
//! Then the appendix, [`fast`], is how the same results come out fast: `f32`
//! math a loop can vectorize, wide SIMD, a pool of worker threads, matrix
//! multiplication the BLIS way (packing, cache blocking, SIMD micro-kernels,
//! threads, tested equal to the three loops), denormals flushed and freed
//! buffers kept for reuse. It is entered through one documented seam,
//! [`fast`]'s module docs list its three doors: [`Tensor::matmul`] hands its
//! operands to the appendix's GEMM, large elementwise ops split their output
//! over its threads, and `f32`'s `exp`/`tanh`/`sigmoid` are its
//! vectorizable formulas. [`Element`], the number type of the crates above,
//! is a [`Scalar`] the GEMM has kernels for.
//!
//! A second appendix, [`durable`], writes files that survive a crash: the
//! checkpoints, caches and histories of the crates above go through it.
//!
//! ```
//! use tensor::Tensor;
//! let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
//! let at = a.t();                       // a view: strides [1, 3], no copy
//! assert_eq!(at.shape(), &[3, 2]);
//! let row = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
//! let b = &a + &row;                     // broadcasts over both rows
//! assert_eq!(b.sum_axis(0, false).to_vec(), vec![25.0, 47.0, 69.0]);
//! assert_eq!(a.matmul(&at).to_vec(), vec![14.0, 32.0, 32.0, 77.0]);
//! ```
//!
//! ## Panics
//! Shape errors are programming errors, so tensor ops panic on them with a
//! message that names the op and both shapes (`"add: shapes [2, 3] and [4] cannot
//! be broadcast together"`). Each op documents its panics.

#![warn(missing_docs)]

// The core, in reading order.
pub mod combine;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod random;
pub mod reduce;
pub mod scalar;
pub mod shape;
pub mod tensor;
pub mod view;
pub mod walk;

// The appendices.
pub mod durable;
pub mod fast;

pub use fast::threads::{num_threads, parallel_map, set_num_threads};
pub use index::Indices;
pub use scalar::{Element, Scalar};
pub use tensor::Tensor;

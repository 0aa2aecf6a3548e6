//! # Appendix: the fast path
//!
//! The core chapter says *what* every op computes, in loops a reader can
//! follow. This appendix holds the machinery that makes the same results come
//! out fast. Nothing in it changes a number: each piece is tested against the
//! plain version it replaces, and the matrix product's results do not depend
//! on the kernel or the thread count.
//!
//! Read it after the core, in this order:
//! 1. [`fastmath`]: `exp`, `tanh` and `sigmoid` for `f32` as straight-line
//!    arithmetic a loop can vectorize (what [`Scalar`](crate::Scalar) uses for `f32`).
//! 2. [`simd`]: running a loop compiled for the widest vector instructions the
//!    CPU has, chosen at run time.
//! 3. [`threads`]: how many threads big ops use, and `pool.rs`: the worker
//!    threads they run on, started once and kept (atomics, a spin, then sleep).
//! 4. [`matmul`]: matrix multiplication the BLIS way — strided operands
//!    (`mat.rs`), the five loops around a micro-kernel (`mod.rs` and
//!    `macro_kernel.rs`), SIMD micro-kernels (`kernel/`), packing (`pack.rs`),
//!    threads (`parallel.rs`), the batches of [`Tensor::matmul`](crate::Tensor::matmul)
//!    (`batched.rs`), and a right operand packed once for the many products
//!    of a time loop (`prepacked.rs`, bit for bit the plain product). It is
//!    the fast twin of [`Tensor::matmul_reference`](crate::Tensor::matmul_reference),
//!    and the crate's tests prove the two equal within rounding.
//!
//! 5. [`denormals`]: flushing numbers too small to matter to zero, so the
//!    CPU never takes its slow path for them (what a fading gradient needs).
//! 6. [`heap`]: keeping freed buffers in the process, so the allocator does
//!    not hand a training step fresh pages (and their page faults) every time.
//! 7. [`build_profile`]: whether this crate was compiled with optimisation,
//!    and the one-line warning the first matrix product prints if not.
//!
//! ## The seam
//! The core enters this appendix through three doors, and nowhere else:
//! - [`Tensor::matmul`](crate::Tensor::matmul) hands its operands to
//!   [`matmul::batched_gemm`] (and [`Element`](crate::Element) names the
//!   GEMM's per-type kernels, `matmul::GemmElement`);
//! - the elementwise ops' contiguous loops run through
//!   `threads::fill_in_parallel`, which splits a large output over the pool;
//! - `f32`'s `exp`, `tanh` and `sigmoid` are [`fastmath`]'s formulas.
//!
//! `unsafe` in this crate lives here only (the pool, `simd`, the packing,
//! the kernels and the floating-point mode), each block with a `// SAFETY:` line.

pub mod build_profile;
pub mod denormals;
pub mod fastmath;
pub mod heap;
pub mod matmul;
mod pool;
pub mod simd;
pub mod threads;

//! Matrix multiplication: a BLIS-style GEMM with SIMD micro-kernels.
//!
//! [`gemm`] computes `C = alpha * A B + beta * C` for `A: m x k`, `B: k x n`,
//! `C: m x n`, each given as a slice plus strides ([`MatRef`], [`MatMut`]), so a
//! transposed, sliced or broadcast operand is used where it lies, never copied
//! first. [`Tensor::matmul`] builds on it (batched, NumPy-style broadcasting).
//!
//! # Why not three nested loops
//! A naive `for i, for j, for p: c[i][j] += a[i][p] * b[p][j]` does two loads per
//! multiply-add and strides through B down a column: it runs at a few percent of
//! what the CPU can do. A modern core can issue two 8-wide FMAs per cycle, but
//! only if the operands are already in registers or L1. The whole game is data
//! reuse: every element of A is used `n` times and every element of B `m` times,
//! and the algorithm below arranges the loops so each reuse hits the fastest
//! memory level that can hold the reused data.
//!
//! # The five loops around the micro-kernel (BLIS, Goto and van de Geijn)
//! ```text
//! loop 5  for jc in (0..n).step_by(NC)          C[:, jc..] and B[:, jc..]: NC columns
//! loop 4    for pc in (0..k).step_by(KC)        rank-KC update
//!             pack B[pc.., jc..] -> B~ (KC x NC)      B~ lives in L3
//! loop 3      for ic in (0..m).step_by(MC)
//!               pack A[ic.., pc..] -> A~ (MC x KC)    A~ lives in L2
//! loop 2        for jr in (0..NC).step_by(NR)        one KC x NR sliver of B~ lives in L1
//! loop 1          for ir in (0..MC).step_by(MR)      one MR x KC sliver of A~ streams from L2
//!                   micro-kernel: C[ir.., jr..] (MR x NR, in registers) += A~ sliver x B~ sliver
//! ```
//! Reading from the inside out:
//! - the **micro-kernel** (`kernel/`) holds an `MR x NR` tile of C in vector
//!   registers for the whole depth `KC`: per step it loads `MR + NR` values and
//!   does `MR * NR` multiply-adds, so loads no longer limit it;
//! - **loop 1** runs it down a column of tiles: the same `KC x NR` sliver of
//!   packed B is used by every tile of that column, so it stays in **L1**, while
//!   the slivers of A come from L2;
//! - **loop 2** moves along the row of slivers: the whole packed block of A
//!   (`MC x KC`) is reused by every sliver of B, so it is sized for **L2**;
//! - **loop 3** moves down C: the packed panel of B (`KC x NC`) is reused by every
//!   block of A, so it is sized for **L3**;
//! - **loop 4** walks the depth in chunks of `KC`, each one a rank-`KC` update
//!   of C (the first with `beta`, later ones with `beta = 1`); **loop 5** walks
//!   the columns of C in chunks of `NC`.
//!
//! The files of this folder, in reading order: `mat.rs` (the strided
//! operands), this file (loops 5 to 3), `macro_kernel.rs` (loops 2 and 1),
//! `kernel/` (the micro-kernels), `pack.rs` (packing), `parallel.rs`
//! (threads), `batched.rs` (the batches of [`Tensor::matmul`], the core's
//! entry) and
//! `prepacked.rs` (a right operand packed once for many products).
//!
//! Each kernel's block sizes and the reasons for them are next to it in
//! `kernel/*.rs`. Packing (`pack.rs`) copies each block once into the order the
//! kernel reads, turning any strides into unit-stride streams; its cost
//! (`O(mk + kn)` copies) is small next to the `O(mnk)` arithmetic.
//!
//! # Threads
//! `parallel.rs` shares one product between the threads of the crate's pool
//! (started once and kept): C is cut into one block of rows or of columns per
//! thread, along its longer side, and each thread runs the loops above on its
//! block. The depth `k` is never split, so every element of C is the same sum
//! in the same order whatever the number of threads: results are bitwise
//! identical for 1, 2 or 16 threads. Products too small to repay handing work
//! to another thread run on the calling thread.

mod batched;
mod kernel;
mod macro_kernel;
mod mat;
pub(crate) mod pack;
mod parallel;
mod prepacked;

use crate::scalar::Element;
#[cfg(doc)]
use crate::tensor::Tensor;
pub use batched::{batched_gemm, BatchedOperands};
pub use kernel::Kernel;
#[doc(hidden)]
pub use kernel::{GemmElement, MicroKernel};
use macro_kernel::{macro_kernel, CView};
pub use mat::{MatMut, MatRef};
pub use prepacked::PackedMatrix;

/// How [`gemm_with`] and [`Tensor::matmul_with`] run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GemmConfig {
    /// The micro-kernel to use, or `None` for the fastest this CPU supports
    /// ([`Kernel::detected`]). Forcing a kernel the CPU lacks panics.
    pub kernel: Option<Kernel>,
    /// The most threads to use (0 counts as 1). Small products use fewer: see
    /// `matmul/parallel.rs`. Results do not depend on this number.
    pub threads: usize,
}

impl Default for GemmConfig {
    /// The detected kernel and [`crate::fast::threads::num_threads`] threads.
    fn default() -> Self {
        GemmConfig {
            kernel: None,
            threads: crate::fast::threads::num_threads(),
        }
    }
}

impl GemmConfig {
    /// The default configuration restricted to one thread.
    pub fn single_threaded() -> Self {
        GemmConfig {
            kernel: None,
            threads: 1,
        }
    }
}

/// `C = alpha * A B + beta * C`, with the default [`GemmConfig`].
///
/// `A` is `m x k`, `B` is `k x n`, `C` is `m x n`; all three may have any strides.
/// When `beta == 0` the old contents of `C` are ignored (not multiplied by 0),
/// so a `C` full of NaN or garbage is fine.
///
/// ```
/// use tensor::fast::matmul::{gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0f32, 6.0, 7.0, 8.0]; // [[5, 6], [7, 8]]
/// let mut c = [f32::NAN; 4];
/// gemm(1.0, MatRef::from_slice(&a, 2, 2), MatRef::from_slice(&b, 2, 2), 0.0, MatMut::from_slice(&mut c, 2, 2));
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// ```
///
/// # Panics
/// If the dimensions do not agree.
pub fn gemm<T: Element>(alpha: T, a: MatRef<'_, T>, b: MatRef<'_, T>, beta: T, c: MatMut<'_, T>) {
    gemm_impl(None, None, alpha, a, b, beta, c);
}

/// `C = alpha * A B + beta * C`, with an explicit kernel choice and thread count.
///
/// # Panics
/// If the dimensions do not agree, or if `config.kernel` names a kernel this
/// CPU cannot run.
pub fn gemm_with<T: Element>(
    config: &GemmConfig,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
) {
    gemm_impl(config.kernel, Some(config.threads), alpha, a, b, beta, c);
}

/// [`gemm_with`], where `threads: None` means the crate-wide default, looked up
/// only if the product is big enough for threads to matter at all (asking the
/// OS for the core count is not free, and most products in an LSTM step are small).
fn gemm_impl<T: Element>(
    kernel: Option<Kernel>,
    threads: Option<usize>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
) {
    assert!(
        a.cols == b.rows && a.rows == c.rows && b.cols == c.cols,
        "gemm: A is {}x{}, B is {}x{}, C is {}x{}: need A m x k, B k x n, C m x n",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    let kernel = kernel.unwrap_or_else(Kernel::detected);
    assert!(
        kernel.is_available(),
        "gemm: kernel {kernel:?} is not supported by this CPU"
    );
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    let mut c = c;
    if k == 0 || alpha == T::ZERO {
        // No products to add: C = beta * C (and beta = 0 means zeros, not 0 * NaN).
        c.scale(beta);
        return;
    }
    // The kernels store rows of a tile with vector stores when C's columns are
    // adjacent (col_stride 1). If instead C's rows are adjacent (a column-major
    // or transposed C), compute C^T = B^T A^T: the same numbers, with the roles
    // of the operands swapped and C seen the favourable way round.
    let (a, b, c) = if c.row_stride == 1 && c.rows > 1 && c.col_stride != 1 {
        (b.t(), a.t(), c.t())
    } else {
        (a, b, c)
    };
    let micro = T::micro_kernel(kernel);
    parallel::gemm_threaded(threads, &micro, alpha, a, b, beta, CView::new(c));
}

/// Splits `len` into `ceil(len / max)` nearly equal blocks, each rounded up to
/// a multiple of `unit`, and returns the block length.
///
/// A product with `k = 260` and `KC = 256` then does two rank-130 updates
/// rather than a rank-256 and a rank-4 one.
fn balanced_block(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    len.div_ceil(blocks).div_ceil(unit) * unit
}

/// The five loops on one thread: `C = alpha * A B + beta * C` for one block of C.
///
/// `workspace` holds the packed blocks; it is grown as needed and kept by the
/// caller between products, so small products do not allocate (or fault in
/// fresh pages) every time.
fn gemm_serial<T: Element>(
    micro: &MicroKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: CView<'_, T>,
    workspace: &mut Vec<T>,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    debug_assert!(c.rows() == m && c.cols() == n && k > 0);
    if m == 0 || n == 0 {
        return;
    }
    let (mr, nr) = (micro.mr, micro.nr);
    // The depth blocking is the only one that changes the arithmetic (it decides
    // where partial sums are written to C and read back), and it depends only on
    // k: never on the thread count or on this block's size.
    let kc = balanced_block(k, micro.kc, 1);
    let mc = balanced_block(m, micro.mc, mr);
    let nc = balanced_block(n, micro.nc, nr);
    let (a_packed, b_packed) = split_workspace(workspace, mc * kc, nc * kc);

    for jc in (0..n).step_by(nc) {
        // Loop 5: a panel of NC columns of B and C.
        let ncb = nc.min(n - jc);
        for pc in (0..k).step_by(kc) {
            // Loop 4: one rank-KC update. Pack B[pc.., jc..] once; it stays in L3
            // while every block of A below is multiplied by it.
            let kcb = kc.min(k - pc);
            (micro.pack_b)(b.block(pc, kcb, jc, ncb), b_packed);
            let beta_here = if pc == 0 { beta } else { T::ONE };
            rows_times_packed_block(
                micro,
                alpha,
                a.block(0, m, pc, kcb),
                b_packed,
                beta_here,
                &mut c.block(0, m, jc, ncb),
                a_packed,
            );
        }
    }
}

/// Loop 3 for one packed block of B: each block of `MC` rows of `a` (the
/// depth slice that matches `b_packed`, sized for L2) is packed into
/// `a_packed` and multiplied into the same rows of `c` (loops 2 and 1).
/// `c` is the block of C that `b_packed`'s columns produce.
fn rows_times_packed_block<T: Element>(
    micro: &MicroKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b_packed: &[T],
    beta: T,
    c: &mut CView<'_, T>,
    a_packed: &mut [T],
) {
    let (m, depth, cols) = (a.rows, a.cols, c.cols());
    let mc = balanced_block(m, micro.mc, micro.mr);
    for ic in (0..m).step_by(mc) {
        let mcb = mc.min(m - ic);
        (micro.pack_a)(a.block(ic, mcb, 0, depth), a_packed);
        macro_kernel(
            micro,
            depth,
            alpha,
            a_packed,
            b_packed,
            beta,
            &mut c.block(ic, mcb, 0, cols),
        );
    }
}

/// Carves two 64-byte-aligned buffers of `a_len` and `b_len` elements out of `workspace`.
///
/// Alignment keeps each packed sliver on whole cache lines, so a vector load
/// never straddles two.
fn split_workspace<T: Element>(
    workspace: &mut Vec<T>,
    a_len: usize,
    b_len: usize,
) -> (&mut [T], &mut [T]) {
    const ALIGN: usize = 64;
    let per_line = (ALIGN / T::BYTES).max(1);
    let a_room = a_len.div_ceil(per_line) * per_line;
    let needed = per_line + a_room + b_len;
    if workspace.len() < needed {
        workspace.clear();
        workspace.resize(needed, T::ZERO);
    }
    let start = workspace.as_ptr().align_offset(ALIGN).min(per_line);
    let (a, b) = workspace[start..].split_at_mut(a_room);
    (&mut a[..a_len], &mut b[..b_len])
}

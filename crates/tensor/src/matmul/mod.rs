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

mod kernel;
pub(crate) mod pack;
mod parallel;

use smallvec::SmallVec;

use crate::element::Element;
use crate::shape::{self, Dims};
use crate::tensor::Tensor;
pub use kernel::Kernel;
use kernel::{macro_kernel, CView};
#[doc(hidden)]
pub use kernel::{GemmElement, MicroKernel};

/// A read-only strided matrix: `rows x cols` elements of a slice, element
/// `(i, j)` at `data[offset + i * row_stride + j * col_stride]`.
///
/// Strides are in elements and may be anything, including 0 (a row or column
/// repeated by broadcasting). The constructor checks that every element lies
/// inside `data`, so code that reads a `MatRef` never goes out of bounds.
///
/// ```
/// use tensor::matmul::MatRef;
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::new(&data, 0, 2, 3, 3, 1); // [[1, 2, 3], [4, 5, 6]]
/// assert_eq!(a.get(1, 0), 4.0);
/// assert_eq!(a.t().get(0, 1), 4.0); // the transpose is a view: strides swapped
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// Panics unless every element `(i, j)` of a `rows x cols` matrix at `offset`
/// with strides `(rs, cs)` lies inside a slice of `len` elements.
///
/// The farthest element is `(rows - 1, cols - 1)` (strides are never negative);
/// the arithmetic is checked, so absurd strides panic instead of wrapping around.
fn check_bounds(
    what: &str,
    len: usize,
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) {
    if rows == 0 || cols == 0 {
        return; // an empty matrix touches nothing
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .and_then(|down| {
            (cols - 1)
                .checked_mul(cs)
                .and_then(|across| down.checked_add(across))
        })
        .and_then(|reach| reach.checked_add(offset));
    assert!(
        matches!(last, Some(last) if last < len),
        "{what}: a {rows}x{cols} matrix at offset {offset} with strides ({rs}, {cs}) \
         does not fit in a slice of {len} elements"
    );
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A `rows x cols` view of `data` starting at `offset` with the given strides (in elements).
    ///
    /// # Panics
    /// If some element `(i, j)` would lie outside `data`.
    pub fn new(
        data: &'a [T],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        check_bounds(
            "MatRef::new",
            data.len(),
            offset,
            rows,
            cols,
            row_stride,
            col_stride,
        );
        MatRef {
            data,
            offset,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A row-major `rows x cols` matrix filling `data` exactly.
    ///
    /// # Panics
    /// If `data.len() != rows * cols` (or that product overflows).
    pub fn from_slice(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(
            rows.checked_mul(cols) == Some(data.len()),
            "MatRef::from_slice: {} elements for a {rows}x{cols} matrix",
            data.len()
        );
        MatRef::new(data, 0, rows, cols, cols, 1)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance in elements between `(i, j)` and `(i + 1, j)`.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// Distance in elements between `(i, j)` and `(i, j + 1)`.
    pub fn col_stride(&self) -> usize {
        self.col_stride
    }

    /// The transpose, as a view (no copy): rows and columns swap, and so do the strides.
    pub fn t(self) -> Self {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// The element at row `i`, column `j`.
    ///
    /// # Panics
    /// If `(i, j)` is outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> T {
        assert!(
            i < self.rows && j < self.cols,
            "MatRef::get: ({i}, {j}) outside a {}x{} matrix",
            self.rows,
            self.cols
        );
        self.data[self.offset + i * self.row_stride + j * self.col_stride]
    }

    /// The `rows x cols` block starting at `(r0, c0)`, as a view.
    pub(crate) fn block(self, r0: usize, rows: usize, c0: usize, cols: usize) -> Self {
        assert!(
            r0 <= self.rows && rows <= self.rows - r0 && c0 <= self.cols && cols <= self.cols - c0,
            "MatRef::block out of range"
        );
        MatRef {
            offset: self.offset + r0 * self.row_stride + c0 * self.col_stride,
            rows,
            cols,
            ..self
        }
    }
}

/// A writable strided matrix: like [`MatRef`], over a `&mut [T]`.
///
/// Besides bounds, the constructor checks that no two elements share a memory
/// location (so a stride of 0 is only allowed along an axis of length 1): the
/// GEMM writes different elements from different threads.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T: Copy> MatMut<'a, T> {
    /// A writable `rows x cols` view of `data` starting at `offset` with the given strides.
    ///
    /// # Panics
    /// If some element lies outside `data`, or if two elements would alias
    /// (e.g. a zero stride along an axis longer than 1).
    pub fn new(
        data: &'a mut [T],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        check_bounds(
            "MatMut::new",
            data.len(),
            offset,
            rows,
            cols,
            row_stride,
            col_stride,
        );
        assert!(
            !may_alias(rows, cols, row_stride, col_stride),
            "MatMut::new: strides ({row_stride}, {col_stride}) make elements of a {rows}x{cols} matrix overlap"
        );
        MatMut {
            data,
            offset,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A row-major `rows x cols` matrix filling `data` exactly.
    ///
    /// # Panics
    /// If `data.len() != rows * cols` (or that product overflows).
    pub fn from_slice(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        assert!(
            rows.checked_mul(cols) == Some(data.len()),
            "MatMut::from_slice: {} elements for a {rows}x{cols} matrix",
            data.len()
        );
        MatMut::new(data, 0, rows, cols, cols, 1)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The transpose, as a view (no copy).
    pub fn t(self) -> Self {
        MatMut {
            data: self.data,
            offset: self.offset,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// The same matrix as a read-only view.
    pub fn as_mat_ref(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.data,
            offset: self.offset,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.row_stride,
            col_stride: self.col_stride,
        }
    }
}

impl<T: Element> MatMut<'_, T> {
    /// `C = beta * C`, where `beta = 0` writes zeros without reading `C`.
    fn scale(&mut self, beta: T) {
        for i in 0..self.rows {
            for j in 0..self.cols {
                let slot = &mut self.data[self.offset + i * self.row_stride + j * self.col_stride];
                *slot = if beta == T::ZERO {
                    T::ZERO
                } else {
                    beta * *slot
                };
            }
        }
    }
}

/// Whether a `rows x cols` layout with these strides maps two indices to one place.
///
/// Order the two axes by stride; the layout is one-to-one when the inner axis
/// (if it is ever stepped along) has a nonzero stride, and the outer axis steps
/// over the whole extent of the inner one.
fn may_alias(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    let ((inner_stride, inner_len), (outer_stride, outer_len)) = if rs <= cs {
        ((rs, rows), (cs, cols))
    } else {
        ((cs, cols), (rs, rows))
    };
    match (inner_len > 1, outer_len > 1) {
        (false, false) => false,
        (true, false) => inner_stride == 0,
        (false, true) => outer_stride == 0,
        (true, true) => inner_stride == 0 || outer_stride < inner_stride.saturating_mul(inner_len),
    }
}

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
    /// The detected kernel and [`crate::threads::num_threads`] threads.
    fn default() -> Self {
        GemmConfig {
            kernel: None,
            threads: crate::threads::num_threads(),
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
/// use tensor::matmul::{gemm, MatMut, MatRef};
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
            for ic in (0..m).step_by(mc) {
                // Loop 3: pack A[ic.., pc..] (sized for L2), then loops 2 and 1.
                let mcb = mc.min(m - ic);
                (micro.pack_a)(a.block(ic, mcb, pc, kcb), a_packed);
                macro_kernel(
                    micro,
                    kcb,
                    alpha,
                    a_packed,
                    b_packed,
                    beta_here,
                    &mut c.block(ic, mcb, jc, ncb),
                );
            }
        }
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

//! Loops 2 and 1 of the GEMM, the *macro-kernel*: the micro-kernel run over
//! every register tile of one block of `C`, and [`CView`], the handle on `C`
//! that lets blocks of it go to different threads.

use std::marker::PhantomData;

use super::kernel::{update_tile, MicroKernel, MAX_TILE};
use super::MatMut;
use crate::scalar::Element;

/// Exclusive access to a (sub)matrix of `C`, shareable across threads.
///
/// A [`MatMut`] borrows its whole backing slice, and two blocks of a strided
/// matrix (say the even and odd rows of a column-major C) interleave in memory,
/// so they cannot be two `&mut [T]`. A `CView` instead keeps a raw pointer and
/// the strides, and hands out only disjoint blocks: like `split_at_mut`, but in
/// two dimensions.
pub(crate) struct CView<'a, T> {
    base: *mut T,
    offset: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: a CView is an exclusive borrow of the elements it addresses (built from
// a `&mut [T]` whose layout `MatMut::new` checked to be injective, and split only
// into disjoint blocks), so moving it to another thread is like moving a `&mut [T]`.
unsafe impl<T: Send> Send for CView<'_, T> {}

impl<'a, T: Element> CView<'a, T> {
    /// Takes over the borrow of a checked output matrix.
    pub(crate) fn new(c: MatMut<'a, T>) -> Self {
        CView {
            base: c.data.as_mut_ptr(),
            offset: c.offset,
            rows: c.rows,
            cols: c.cols,
            rs: c.row_stride,
            cs: c.col_stride,
            _borrow: PhantomData,
        }
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Reborrows the block of `rows x cols` elements starting at `(r0, c0)`.
    pub(crate) fn block(&mut self, r0: usize, rows: usize, c0: usize, cols: usize) -> CView<'_, T> {
        // Written so that no sum can wrap: `r0 + rows` with a huge `rows` could.
        assert!(
            r0 <= self.rows && rows <= self.rows - r0 && c0 <= self.cols && cols <= self.cols - c0,
            "CView::block out of range"
        );
        CView {
            base: self.base,
            offset: self.offset + r0 * self.rs + c0 * self.cs,
            rows,
            cols,
            rs: self.rs,
            cs: self.cs,
            _borrow: PhantomData,
        }
    }

    /// Splits into rows `..at` and rows `at..`.
    pub(crate) fn split_rows(self, at: usize) -> (Self, Self) {
        assert!(at <= self.rows, "CView::split_rows out of range");
        let top = CView { rows: at, ..self };
        let bottom = CView {
            rows: self.rows - at,
            offset: self.offset + at * self.rs,
            ..self
        };
        (top, bottom)
    }

    /// Splits into columns `..at` and columns `at..`.
    pub(crate) fn split_cols(self, at: usize) -> (Self, Self) {
        assert!(at <= self.cols, "CView::split_cols out of range");
        let left = CView { cols: at, ..self };
        let right = CView {
            cols: self.cols - at,
            offset: self.offset + at * self.cs,
            ..self
        };
        (left, right)
    }

    /// Pointer to element `(i, j)`.
    ///
    /// The bound is a real `assert!`, on in every profile: `ptr` is called once
    /// per `MR x NR` tile (not per element), so the two comparisons cost
    /// nothing measurable next to the tile's `MR * NR * KC` multiply-adds.
    ///
    /// # Panics
    /// If `(i, j)` is outside the view.
    fn ptr(&mut self, i: usize, j: usize) -> *mut T {
        assert!(
            i < self.rows && j < self.cols,
            "CView::ptr: ({i}, {j}) is outside a {}x{} view",
            self.rows,
            self.cols
        );
        // SAFETY: `MatMut::new` checked, with checked arithmetic, that every
        // (i, j) inside the matrix lands inside the slice; blocks and splits only
        // shrink the range (their asserts above), and (i, j) is inside this view
        // (asserted just above), so the offset is in bounds and cannot wrap.
        unsafe { self.base.add(self.offset + i * self.rs + j * self.cs) }
    }
}

/// Loops 2 and 1 of the GEMM (the "macro-kernel"): runs the micro-kernel over
/// every `MR x NR` tile of `c`, from packed blocks of A (`m x kc`) and B (`kc x n`).
///
/// Loop 2 walks the `NR`-wide slivers of packed B: one sliver (`kc x NR`) is
/// reused by every tile in its column, so it stays in L1. Loop 1 walks the
/// `MR`-tall slivers of packed A, which stream in from L2. Tiles that stick out
/// of `c` at the bottom or right edge are computed into a scratch tile and only
/// their inside is written back.
#[allow(clippy::too_many_arguments)] // BLAS-style: scalars, two buffers, one output
pub(crate) fn macro_kernel<T: Element>(
    mk: &MicroKernel<T>,
    kc: usize,
    alpha: T,
    a_packed: &[T],
    b_packed: &[T],
    beta: T,
    c: &mut CView<'_, T>,
) {
    let (mr, nr) = (mk.mr, mk.nr);
    let (m, n) = (c.rows, c.cols);
    assert!(
        mr * nr <= MAX_TILE,
        "micro-kernel tile larger than the edge scratch tile"
    );
    assert!(
        a_packed.len() >= m.div_ceil(mr) * mr * kc,
        "packed A is too short"
    );
    assert!(
        b_packed.len() >= n.div_ceil(nr) * nr * kc,
        "packed B is too short"
    );
    let mut scratch = [T::ZERO; MAX_TILE];
    for (jp, j0) in (0..n).step_by(nr).enumerate() {
        let b_sliver = &b_packed[jp * nr * kc..(jp + 1) * nr * kc];
        let w = nr.min(n - j0);
        for (ip, i0) in (0..m).step_by(mr).enumerate() {
            let a_sliver = &a_packed[ip * mr * kc..(ip + 1) * mr * kc];
            let h = mr.min(m - i0);
            let (rs, cs) = (c.rs, c.cs);
            let tile_c = c.ptr(i0, j0);
            if h == mr && w == nr {
                // SAFETY: the slivers hold mr*kc and nr*kc elements (sliced just
                // above); the whole tile (i0.., j0..) lies inside `c`, which we
                // borrow exclusively; `mk` was built for a kernel this CPU runs
                // (checked by `gemm_impl` before anything else runs).
                unsafe {
                    (mk.tile)(
                        kc,
                        alpha,
                        a_sliver.as_ptr(),
                        b_sliver.as_ptr(),
                        beta,
                        tile_c,
                        rs,
                        cs,
                    )
                };
            } else {
                // SAFETY: as above for the slivers; the scratch tile holds
                // MAX_TILE >= mr*nr elements at row stride nr, column stride 1.
                unsafe {
                    (mk.tile)(
                        kc,
                        T::ONE,
                        a_sliver.as_ptr(),
                        b_sliver.as_ptr(),
                        T::ZERO,
                        scratch.as_mut_ptr(),
                        nr,
                        1,
                    );
                }
                // SAFETY: only the h x w part inside `c` is written.
                unsafe { update_tile(&scratch, nr, h, w, alpha, beta, tile_c, rs, cs) };
            }
        }
    }
}

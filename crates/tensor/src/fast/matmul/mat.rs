//! Strided matrices: the operands of the GEMM, as a slice plus strides.
//!
//! [`MatRef`] and [`MatMut`] are the two-axis special case of a tensor view: a
//! transposed, sliced or broadcast matrix is described where it lies, never
//! copied first. Their constructors check bounds (and, for an output, that no
//! two elements share a place), so the loops and kernels behind them can trust
//! every index.

use crate::scalar::Element;

/// A read-only strided matrix: `rows x cols` elements of a slice, element
/// `(i, j)` at `data[offset + i * row_stride + j * col_stride]`.
///
/// Strides are in elements and may be anything, including 0 (a row or column
/// repeated by broadcasting). The constructor checks that every element lies
/// inside `data`, so code that reads a `MatRef` never goes out of bounds.
///
/// ```
/// use tensor::fast::matmul::MatRef;
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::new(&data, 0, 2, 3, 3, 1); // [[1, 2, 3], [4, 5, 6]]
/// assert_eq!(a.get(1, 0), 4.0);
/// assert_eq!(a.t().get(0, 1), 4.0); // the transpose is a view: strides swapped
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    pub(super) data: &'a [T],
    pub(super) offset: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
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
    pub(super) fn block(self, r0: usize, rows: usize, c0: usize, cols: usize) -> Self {
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
    pub(super) data: &'a mut [T],
    pub(super) offset: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) row_stride: usize,
    pub(super) col_stride: usize,
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
    pub(super) fn scale(&mut self, beta: T) {
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

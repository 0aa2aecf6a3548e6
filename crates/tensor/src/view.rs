//! Views: new shapes and strides over the same storage, with no copy.
//!
//! Each function here returns a tensor that shares its parent's storage. Only
//! [`Tensor::reshape`] of a non-contiguous tensor has to copy, because no
//! choice of strides can then describe the new shape.
//!
//! | view | what changes |
//! |---|---|
//! | `reshape` | shape, strides recomputed (copy if not contiguous) |
//! | `permute`, `transpose`, `t` | shape and strides reordered |
//! | `narrow` | one axis shortened; offset moves to the first kept element |
//! | `select` | one axis removed; offset moves to the chosen entry |
//! | `squeeze`, `unsqueeze` | a size-1 axis removed or added |
//! | `broadcast_to` | size-1 axes stretched with stride 0 |
//! | `split`, `chunk` | several `narrow`s covering one axis |
//! | `as_strided` | any shape, strides and offset, given outright |

use crate::scalar::Scalar;
use crate::shape::{self, Dims};
use crate::tensor::Tensor;

impl<T: Scalar> Tensor<T> {
    fn view(&self, shape: Dims, strides: Dims, offset: usize) -> Tensor<T> {
        Tensor {
            storage: self.storage.clone(),
            shape,
            strides,
            offset,
        }
    }

    /// A view of the same buffer with the layout given outright: element
    /// `index` is `storage[offset + sum_k index[k] * strides[k]]` (PyTorch's
    /// `as_strided`). Every view below is one of these with the layout
    /// computed for you; this one trusts the layout it is given, and checks
    /// only that every element it names lies inside the buffer.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(6).reshape(&[2, 3]);
    /// let by_columns = t.as_strided(&[3, 2], &[1, 3], 0); // the transpose, by hand
    /// assert_eq!(by_columns.to_vec(), t.t().to_vec());
    /// assert!(by_columns.shares_storage_with(&t));
    /// ```
    ///
    /// # Panics
    /// If `shape` and `strides` differ in length, or the last element the
    /// layout names lies past the end of the buffer.
    pub fn as_strided(&self, shape: &[usize], strides: &[usize], offset: usize) -> Tensor<T> {
        assert_eq!(
            shape.len(),
            strides.len(),
            "as_strided: shape {shape:?} and strides {strides:?} differ in length"
        );
        if !shape.contains(&0) {
            // The last element's position, `offset + sum_k (n_k - 1) s_k`, without wrapping.
            let furthest = shape.iter().zip(strides).try_fold(offset, |sum, (&n, &s)| {
                (n - 1)
                    .checked_mul(s)
                    .and_then(|step| sum.checked_add(step))
            });
            assert!(
                furthest.is_some_and(|last| last < self.storage.len()),
                "as_strided: shape {shape:?}, strides {strides:?} and offset {offset} reach past the end of a buffer of {} elements",
                self.storage.len()
            );
        }
        self.view(shape.into(), strides.into(), offset)
    }

    /// The same elements in row-major order, read as `shape`. A view if the tensor
    /// is contiguous, a copy otherwise.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(6).reshape(&[2, 3]);
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(t.shares_storage_with(&t.reshape(&[3, 2]))); // contiguous: a view
    /// ```
    ///
    /// # Panics
    /// If `shape` holds a different number of elements (or more than a `usize` can count).
    pub fn reshape(&self, shape: &[usize]) -> Tensor<T> {
        assert_eq!(
            shape::numel_or_panic(shape, "reshape"),
            self.numel(),
            "reshape: cannot view shape {:?} as {:?}",
            self.shape(),
            shape
        );
        let source = self.contiguous();
        source.view(
            shape.into(),
            shape::contiguous_strides(shape),
            source.offset,
        )
    }

    /// Reorders the axes: axis `i` of the result is axis `order[i]` of `self`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::zeros(&[2, 3, 4]);
    /// let p = t.permute(&[2, 0, 1]);
    /// assert_eq!((p.shape(), p.strides()), (&[4, 2, 3][..], &[1, 12, 4][..]));
    /// ```
    ///
    /// # Panics
    /// If `order` is not a permutation of `0..ndim`.
    pub fn permute(&self, order: &[usize]) -> Tensor<T> {
        let mut seen = vec![false; self.ndim()];
        let valid = order.len() == self.ndim()
            && order
                .iter()
                .all(|&a| a < seen.len() && !std::mem::replace(&mut seen[a], true));
        assert!(
            valid,
            "permute: {order:?} is not a permutation of the axes of shape {:?}",
            self.shape()
        );
        let shape = order.iter().map(|&a| self.shape[a]).collect();
        let strides = order.iter().map(|&a| self.strides[a]).collect();
        self.view(shape, strides, self.offset)
    }

    /// Swaps two axes.
    ///
    /// # Panics
    /// If either axis is out of range.
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Tensor<T> {
        shape::check_axis(axis_a, self.ndim(), "transpose");
        shape::check_axis(axis_b, self.ndim(), "transpose");
        let mut order: Vec<usize> = (0..self.ndim()).collect();
        order.swap(axis_a, axis_b);
        self.permute(&order)
    }

    /// The matrix transpose: swaps the last two axes.
    ///
    /// # Panics
    /// If the tensor has fewer than two axes.
    pub fn t(&self) -> Tensor<T> {
        assert!(
            self.ndim() >= 2,
            "t: needs at least 2 axes, got shape {:?}",
            self.shape()
        );
        self.transpose(self.ndim() - 2, self.ndim() - 1)
    }

    /// Entries `start..start + length` along `axis`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(12).reshape(&[3, 4]);
    /// let middle = t.narrow(1, 1, 2); // columns 1 and 2 of every row
    /// assert_eq!(middle.to_vec(), vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    /// assert_eq!(t.select(0, 2).to_vec(), vec![8.0, 9.0, 10.0, 11.0]); // row 2, axis removed
    /// ```
    ///
    /// # Panics
    /// If the range does not fit in the axis.
    pub fn narrow(&self, axis: usize, start: usize, length: usize) -> Tensor<T> {
        shape::check_axis(axis, self.ndim(), "narrow");
        // `start + length` is checked: with a huge `length` it would wrap to a small end.
        assert!(
            start
                .checked_add(length)
                .is_some_and(|end| end <= self.shape[axis]),
            "narrow: start {start} and length {length} are out of bounds for axis {axis} of shape {:?}",
            self.shape()
        );
        let mut shape = self.shape.clone();
        shape[axis] = length;
        let offset = if length == 0 {
            self.offset
        } else {
            self.offset + start * self.strides[axis]
        };
        self.view(shape, self.strides.clone(), offset)
    }

    /// Entry `index` along `axis`, with that axis removed.
    ///
    /// # Panics
    /// If the index is out of bounds.
    pub fn select(&self, axis: usize, index: usize) -> Tensor<T> {
        shape::check_axis(axis, self.ndim(), "select");
        assert!(
            index < self.shape[axis],
            "select: index {index} is out of bounds for axis {axis} of shape {:?}",
            self.shape()
        );
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        let offset = self.offset + index * strides[axis];
        shape.remove(axis);
        strides.remove(axis);
        self.view(shape, strides, offset)
    }

    /// Removes a size-1 axis.
    ///
    /// # Panics
    /// If the axis is out of range or its size is not 1.
    pub fn squeeze(&self, axis: usize) -> Tensor<T> {
        shape::check_axis(axis, self.ndim(), "squeeze");
        assert_eq!(
            self.shape[axis],
            1,
            "squeeze: axis {axis} of shape {:?} does not have size 1",
            self.shape()
        );
        self.select(axis, 0)
    }

    /// Inserts a size-1 axis before position `axis` (`axis == ndim` appends one).
    ///
    /// # Panics
    /// If `axis > ndim`.
    pub fn unsqueeze(&self, axis: usize) -> Tensor<T> {
        assert!(
            axis <= self.ndim(),
            "unsqueeze: axis {axis} is out of range for shape {:?}",
            self.shape()
        );
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        shape.insert(axis, 1);
        strides.insert(axis, 0);
        self.view(shape, strides, self.offset)
    }

    /// Stretches size-1 axes (and adds leading axes) to reach `shape`, with stride 0.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let row = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]);
    /// let rows = row.broadcast_to(&[2, 3]); // stride 0 along the new axis: no copy
    /// assert_eq!(rows.strides(), &[0, 1]);
    /// assert_eq!(rows.to_vec(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    /// ```
    ///
    /// # Panics
    /// If the tensor does not broadcast to `shape`, or `shape` has more elements
    /// than a `usize` can count (a broadcast view copies nothing, but every op
    /// that reads it counts its elements).
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor<T> {
        shape::numel_or_panic(shape, "broadcast_to");
        let strides =
            shape::broadcast_strides(&self.shape, &self.strides, shape).unwrap_or_else(|| {
                panic!(
                    "broadcast_to: shape {:?} cannot broadcast to {:?}",
                    self.shape(),
                    shape
                )
            });
        self.view(shape.into(), strides, self.offset)
    }

    /// PyTorch's name for [`Tensor::broadcast_to`].
    ///
    /// # Panics
    /// As `broadcast_to`.
    pub fn expand(&self, shape: &[usize]) -> Tensor<T> {
        self.broadcast_to(shape)
    }

    /// Cuts `axis` into consecutive pieces of the given sizes (views).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(5);
    /// let pieces = t.split(&[2, 3], 0);
    /// assert_eq!((pieces[0].to_vec(), pieces[1].to_vec()), (vec![0.0, 1.0], vec![2.0, 3.0, 4.0]));
    /// assert_eq!(t.reshape(&[1, 4 + 1]).chunk(5, 1).len(), 5);
    /// ```
    ///
    /// # Panics
    /// If the sizes do not add up to the axis length.
    pub fn split(&self, sizes: &[usize], axis: usize) -> Vec<Tensor<T>> {
        shape::check_split(&self.shape, sizes, axis);
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let piece = self.narrow(axis, start, n);
                start += n;
                piece
            })
            .collect()
    }

    /// Cuts `axis` into `chunks` equal pieces (views).
    ///
    /// # Panics
    /// If the axis length is not divisible by `chunks`.
    pub fn chunk(&self, chunks: usize, axis: usize) -> Vec<Tensor<T>> {
        self.split(&shape::chunk_sizes(&self.shape, chunks, axis), axis)
    }

    /// Every entry along `axis`, each with that axis removed (views).
    pub fn unbind(&self, axis: usize) -> Vec<Tensor<T>> {
        shape::check_axis(axis, self.ndim(), "unbind");
        (0..self.shape[axis])
            .map(|i| self.select(axis, i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Tensor<f32> {
        Tensor::from_vec((0..6).map(|x| x as f32).collect(), &[2, 3])
    }

    #[test]
    fn as_strided_reads_any_layout_and_refuses_one_past_the_buffer() {
        let t = grid();
        let diagonal = t.as_strided(&[2], &[4], 0);
        assert_eq!(diagonal.to_vec(), vec![0.0, 4.0]);
        assert_eq!(
            t.as_strided(&[2, 2], &[0, 1], 1).to_vec(),
            vec![1.0, 2.0, 1.0, 2.0]
        );
        assert_eq!(t.as_strided(&[0, 9], &[100, 100], 50).numel(), 0);
        let past = std::panic::catch_unwind(|| t.as_strided(&[2, 3], &[3, 1], 1));
        assert!(past.is_err(), "[2, 3] from offset 1 reaches element 6 of 6");
        let wrapping = std::panic::catch_unwind(|| t.as_strided(&[2], &[usize::MAX], 0));
        assert!(wrapping.is_err(), "a stride that wraps around is refused");
    }

    #[test]
    fn transpose_shares_storage_and_swaps_strides() {
        let t = grid().t();
        assert_eq!(t.shape(), &[3, 2]);
        assert_eq!(t.strides(), &[1, 3]);
        assert!(t.shares_storage_with(&grid().t()) || !t.is_contiguous());
        assert_eq!(t.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }

    #[test]
    fn narrow_and_select_move_the_offset() {
        let g = grid();
        let column = g.narrow(1, 1, 2);
        assert_eq!(column.to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
        assert!(column.shares_storage_with(&g));
        assert_eq!(g.select(0, 1).to_vec(), vec![3.0, 4.0, 5.0]);
        assert_eq!(g.select(1, 2).to_vec(), vec![2.0, 5.0]);
    }

    #[test]
    fn reshape_of_a_transpose_copies_in_row_major_order() {
        let r = grid().t().reshape(&[6]);
        assert_eq!(r.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let g = grid();
        assert!(g.reshape(&[3, 2]).shares_storage_with(&g));
    }

    #[test]
    fn broadcast_reads_one_row_many_times() {
        let row = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
        let b = row.broadcast_to(&[3, 2]);
        assert_eq!(b.strides(), &[0, 1]);
        assert_eq!(b.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    }

    #[test]
    fn split_and_chunk_cover_the_axis() {
        let parts = grid().split(&[1, 2], 1);
        assert_eq!(parts[1].to_vec(), vec![1.0, 2.0, 4.0, 5.0]);
        let rows = grid().chunk(2, 0);
        assert_eq!(rows[1].to_vec(), vec![3.0, 4.0, 5.0]);
        assert_eq!(grid().unbind(1)[0].to_vec(), vec![0.0, 3.0]);
    }

    #[test]
    fn squeeze_and_unsqueeze_are_inverse() {
        let u = grid().unsqueeze(1);
        assert_eq!(u.shape(), &[2, 1, 3]);
        assert_eq!(u.squeeze(1).shape(), &[2, 3]);
    }

    #[test]
    #[should_panic(expected = "reshape: cannot view shape [2, 3] as [4]")]
    fn reshape_to_a_different_size_panics_with_both_shapes() {
        grid().reshape(&[4]);
    }

    #[test]
    #[should_panic(
        expected = "narrow: start 1 and length 18446744073709551615 are out of bounds for axis 1"
    )]
    fn narrow_with_a_length_that_wraps_the_end_panics() {
        // 1 + usize::MAX wraps to 0 <= 3.
        grid().narrow(1, 1, usize::MAX);
    }

    #[test]
    #[should_panic(expected = "split: sizes [18446744073709551615, 4] do not add up to axis 1")]
    fn split_sizes_that_wrap_to_the_axis_length_panic() {
        // usize::MAX + 4 wraps to 3, the axis length.
        grid().split(&[usize::MAX, 4], 1);
    }

    #[test]
    #[should_panic(expected = "reshape: shape [4294967296, 4294967296, 0] has more elements")]
    fn reshape_to_a_shape_whose_size_overflows_panics() {
        Tensor::<f32>::zeros(&[0]).reshape(&[1 << 32, 1 << 32, 0]);
    }

    #[test]
    #[should_panic(expected = "broadcast_to: shape [4294967296, 4294967296] has more elements")]
    fn broadcast_to_a_shape_whose_size_overflows_panics() {
        Tensor::<f32>::zeros(&[1, 1]).broadcast_to(&[1 << 32, 1 << 32]);
    }

    #[test]
    #[should_panic(expected = "broadcast_to: shape [2, 3] cannot broadcast to [2, 4]")]
    fn broadcast_to_an_incompatible_shape_panics() {
        grid().broadcast_to(&[2, 4]);
    }
}

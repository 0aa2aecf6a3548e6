//! Reductions: sums, means, extrema and softmax along an axis or over everything.
//!
//! One engine, `reduce_keepdim`, reduces any set of axes: it walks the input
//! alongside an output whose reduced axes have stride 0, so every input element
//! lands on its output slot (`out[o] = f(out[o], x)`), visiting memory in the
//! input's own order. [`Tensor::sum_to`] uses it to undo broadcasting, which is
//! exactly what the backward pass of every broadcasting op needs.
//!
//! Softmax is computed stably: `softmax(x)_i = e^(x_i - m) / sum_j e^(x_j - m)` with
//! `m = max_j x_j`, so no exponent ever overflows.

use crate::index::Indices;
use crate::scalar::Scalar;
use crate::shape::{self, Dims};
use crate::tensor::Tensor;
use crate::walk::for_each_row;

/// Sums a slice with eight independent accumulators: vectorizable, and more
/// accurate than one running total for long rows.
fn sum_slice<T: Scalar>(values: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    let tail: T = chunks.remainder().iter().copied().sum();
    lanes.iter().copied().sum::<T>() + tail
}

impl<T: Scalar> Tensor<T> {
    /// Reduces the axes marked in `reduced` with `f`, starting from `init`; the
    /// result keeps every axis (reduced ones with size 1).
    fn reduce_keepdim(&self, reduced: &[bool], init: T, f: impl Fn(T, T) -> T) -> Tensor<T> {
        let out_shape: Dims = self
            .shape()
            .iter()
            .zip(reduced)
            .map(|(&n, &r)| if r { 1 } else { n })
            .collect();
        let mut out_strides = shape::contiguous_strides(&out_shape);
        for (stride, &r) in out_strides.iter_mut().zip(reduced) {
            if r {
                *stride = 0;
            }
        }
        let mut out = vec![init; shape::numel(&out_shape)];
        let data = self.storage();
        for_each_row(
            self.shape(),
            [self.strides(), &out_strides],
            [self.offset(), 0],
            |[si, so], len, [di, dout]| {
                // The common cases as slices, the same operations in the same
                // order (so the same bits) but without an index check per
                // element: a row reduced into one slot, or a row added onto a
                // row of the output (summing over the leading axes of a
                // contiguous tensor: a bias gradient), which the compiler vectorizes.
                if (di, dout) == (1, 0) {
                    out[so] = data[si..si + len].iter().fold(out[so], |acc, &x| f(acc, x));
                } else if (di, dout) == (1, 1) {
                    for (o, &x) in out[so..so + len].iter_mut().zip(&data[si..si + len]) {
                        *o = f(*o, x);
                    }
                } else if dout == 0 {
                    let mut acc = out[so];
                    for i in 0..len {
                        acc = f(acc, data[si + i * di]);
                    }
                    out[so] = acc;
                } else {
                    for i in 0..len {
                        out[so + i * dout] = f(out[so + i * dout], data[si + i * di]);
                    }
                }
            },
        );
        Tensor::from_vec(out, &out_shape)
    }

    fn axis_mask(&self, axis: usize, op: &str) -> Vec<bool> {
        shape::check_axis(axis, self.ndim(), op);
        (0..self.ndim()).map(|a| a == axis).collect()
    }

    fn drop_axis_unless(&self, keepdim: bool, axis: usize) -> Tensor<T> {
        if keepdim {
            self.clone()
        } else {
            self.squeeze(axis)
        }
    }

    /// The sum of all elements, as a `[]` tensor.
    pub fn sum(&self) -> Tensor<T> {
        let total = match self.as_slice() {
            Some(values) => sum_slice(values),
            None => sum_slice(&self.to_vec()),
        };
        Tensor::scalar(total)
    }

    /// Sums along `axis`; `keepdim` keeps it with size 1.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!(t.sum_axis(0, false).to_vec(), vec![5.0, 7.0, 9.0]); // down the columns
    /// assert_eq!(t.sum_axis(1, true).shape(), &[2, 1]);
    /// assert_eq!(t.sum().item(), 21.0);
    /// ```
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let mask = self.axis_mask(axis, "sum_axis");
        self.reduce_keepdim(&mask, T::ZERO, |a, b| a + b)
            .drop_axis_unless(keepdim, axis)
    }

    /// The mean of all elements, as a `[]` tensor.
    pub fn mean(&self) -> Tensor<T> {
        let n = T::from_usize(self.numel());
        self.sum().map(|s| s / n)
    }

    /// The mean along `axis`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let n = T::from_usize(self.dim(axis));
        self.sum_axis(axis, keepdim).map(|s| s / n)
    }

    /// The largest element, as a `[]` tensor; NaN if any element is NaN
    /// (as in PyTorch and NumPy: a NaN is never passed over).
    ///
    /// # Panics
    /// If the tensor is empty.
    pub fn max(&self) -> Tensor<T> {
        assert!(
            self.numel() > 0,
            "max: tensor of shape {:?} is empty",
            self.shape()
        );
        let all = vec![true; self.ndim()];
        self.reduce_keepdim(&all, -T::INFINITY, larger).reshape(&[])
    }

    /// The smallest element, as a `[]` tensor; NaN if any element is NaN.
    ///
    /// # Panics
    /// If the tensor is empty.
    pub fn min(&self) -> Tensor<T> {
        assert!(
            self.numel() > 0,
            "min: tensor of shape {:?} is empty",
            self.shape()
        );
        let all = vec![true; self.ndim()];
        self.reduce_keepdim(&all, T::INFINITY, smaller).reshape(&[])
    }

    /// The maximum along `axis`; NaN where the axis holds a NaN.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let mask = self.axis_mask(axis, "max_axis");
        assert!(
            self.shape()[axis] > 0,
            "max_axis: axis {axis} of shape {:?} is empty",
            self.shape()
        );
        self.reduce_keepdim(&mask, -T::INFINITY, larger)
            .drop_axis_unless(keepdim, axis)
    }

    /// The minimum along `axis`; NaN where the axis holds a NaN.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn min_axis(&self, axis: usize, keepdim: bool) -> Tensor<T> {
        let mask = self.axis_mask(axis, "min_axis");
        assert!(
            self.shape()[axis] > 0,
            "min_axis: axis {axis} of shape {:?} is empty",
            self.shape()
        );
        self.reduce_keepdim(&mask, T::INFINITY, smaller)
            .drop_axis_unless(keepdim, axis)
    }

    /// The position of the largest entry along `axis` (the first one on
    /// ties, the first NaN if there is one, as in PyTorch); the result has
    /// that axis removed.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn argmax_axis(&self, axis: usize) -> Indices {
        shape::check_axis(axis, self.ndim(), "argmax_axis");
        let len = self.shape()[axis];
        assert!(
            len > 0,
            "argmax_axis: axis {axis} of shape {:?} is empty",
            self.shape()
        );
        let rows = self.move_axis_last(axis).contiguous();
        let values = rows.as_slice().expect("contiguous");
        let best = values
            .chunks(len)
            .map(|row| {
                let mut best = 0;
                for (i, &x) in row.iter().enumerate() {
                    if x > row[best] || (x.is_nan() && !row[best].is_nan()) {
                        best = i;
                    }
                }
                best
            })
            .collect();
        let mut out_shape: Dims = self.shape().into();
        out_shape.remove(axis);
        Indices::new(best, &out_shape)
    }

    /// Sums a broadcast result back down to `shape`: the adjoint of `broadcast_to`.
    ///
    /// Axes that broadcasting added (on the left) or stretched (from size 1) are summed.
    ///
    /// ```
    /// use tensor::Tensor;
    /// // A bias [3] was broadcast over 2 rows; its gradient sums the rows back.
    /// let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!(g.sum_to(&[3]).to_vec(), vec![5.0, 7.0, 9.0]);
    /// assert_eq!(g.sum_to(&[2, 1]).to_vec(), vec![6.0, 15.0]);
    /// ```
    ///
    /// # Panics
    /// If `shape` does not broadcast to `self.shape()`.
    pub fn sum_to(&self, shape: &[usize]) -> Tensor<T> {
        if self.shape() == shape {
            return self.clone();
        }
        assert!(
            shape::broadcast_strides(shape, &shape::contiguous_strides(shape), self.shape())
                .is_some(),
            "sum_to: shape {:?} cannot be reduced to {:?}",
            self.shape(),
            shape
        );
        let lead = self.ndim() - shape.len();
        let reduced: Vec<bool> = (0..self.ndim())
            .map(|a| a < lead || (shape[a - lead] == 1 && self.shape()[a] != 1))
            .collect();
        self.reduce_keepdim(&reduced, T::ZERO, |a, b| a + b)
            .reshape(shape)
    }

    /// A view with `axis` moved to the end (the other axes keep their order).
    fn move_axis_last(&self, axis: usize) -> Tensor<T> {
        let mut order: Vec<usize> = (0..self.ndim()).filter(|&a| a != axis).collect();
        order.push(axis);
        self.permute(&order)
    }

    /// Applies `f` to every row along `axis` (writing a new row), returning the result.
    fn map_rows(&self, axis: usize, op: &str, f: impl Fn(&[T], &mut [T])) -> Tensor<T> {
        shape::check_axis(axis, self.ndim(), op);
        let len = self.shape()[axis];
        let rows = self.move_axis_last(axis).contiguous();
        let input = rows.as_slice().expect("contiguous");
        let mut out = vec![T::ZERO; input.len()];
        if len > 0 {
            for (row_in, row_out) in input.chunks(len).zip(out.chunks_mut(len)) {
                f(row_in, row_out);
            }
        }
        let moved = Tensor::from_vec(out, rows.shape());
        // Undo the move: the last axis goes back to position `axis`.
        let mut order: Vec<usize> = (0..self.ndim() - 1).collect();
        order.insert(axis, self.ndim() - 1);
        moved.permute(&order).contiguous()
    }

    /// `softmax(x)_i = e^(x_i - max) / sum_j e^(x_j - max)` along `axis`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let p = Tensor::from_vec(vec![0.0f64, 0.0, 1000.0, 1000.0], &[2, 2]).softmax(1);
    /// assert_eq!(p.to_vec(), vec![0.5, 0.5, 0.5, 0.5]); // no overflow: the max is subtracted first
    /// ```
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn softmax(&self, axis: usize) -> Tensor<T> {
        self.map_rows(axis, "softmax", |row, out| {
            let max = row.iter().fold(-T::max_value(), |m, &x| m.max(x));
            let mut total = T::ZERO;
            for (o, &x) in out.iter_mut().zip(row) {
                *o = (x - max).exp();
                total += *o;
            }
            for o in out.iter_mut() {
                *o /= total;
            }
        })
    }

    /// `log_softmax(x)_i = x_i - max - ln(sum_j e^(x_j - max))` along `axis`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn log_softmax(&self, axis: usize) -> Tensor<T> {
        self.map_rows(axis, "log_softmax", |row, out| {
            let max = row.iter().fold(-T::max_value(), |m, &x| m.max(x));
            let log_total = row.iter().map(|&x| (x - max).exp()).sum::<T>().ln();
            for (o, &x) in out.iter_mut().zip(row) {
                *o = x - max - log_total;
            }
        })
    }
}

/// The larger of `a` and `b`, or NaN if either is NaN (`T::max` passes a NaN over).
fn larger<T: Scalar>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        a + b
    } else {
        a.max(b)
    }
}

/// The smaller of `a` and `b`, or NaN if either is NaN.
fn smaller<T: Scalar>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        a + b
    } else {
        a.min(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Tensor<f64> {
        Tensor::from_vec(vec![1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3])
    }

    #[test]
    fn sums_along_each_axis() {
        assert_eq!(grid().sum().item(), 21.0);
        assert_eq!(grid().sum_axis(0, false).to_vec(), vec![5.0, 7.0, 9.0]);
        assert_eq!(grid().sum_axis(1, true).shape(), &[2, 1]);
        assert_eq!(grid().sum_axis(1, true).to_vec(), vec![9.0, 12.0]);
        assert_eq!(grid().t().sum_axis(1, false).to_vec(), vec![5.0, 7.0, 9.0]);
        assert_eq!(grid().mean_axis(1, false).to_vec(), vec![3.0, 4.0]);
    }

    #[test]
    fn extrema_and_argmax() {
        assert_eq!(grid().max().item(), 6.0);
        assert_eq!(grid().min().item(), 1.0);
        assert_eq!(grid().max_axis(1, false).to_vec(), vec![5.0, 6.0]);
        assert_eq!(grid().argmax_axis(1).values(), &[1, 2]);
        assert_eq!(grid().argmax_axis(0).values(), &[1, 0, 1]);
    }

    #[test]
    fn sum_to_undoes_broadcasting() {
        let g = grid();
        assert_eq!(g.sum_to(&[3]).to_vec(), vec![5.0, 7.0, 9.0]);
        assert_eq!(g.sum_to(&[2, 1]).to_vec(), vec![9.0, 12.0]);
        assert_eq!(g.sum_to(&[]).item(), 21.0);
    }

    /// softmax([1000, 1000]) = [1/2, 1/2]: computed naively, e^1000 overflows to inf.
    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let t = Tensor::from_vec(vec![1000.0f32, 1000.0, -1000.0, 0.0], &[2, 2]);
        assert_eq!(t.softmax(1).to_vec()[..2], [0.5, 0.5]);
        let log = t.log_softmax(1).to_vec();
        assert!((log[2] + 1000.0).abs() < 1e-3 && log[3].abs() < 1e-6);
        let columns = grid().softmax(0);
        assert!((columns.sum_axis(0, false).to_vec()[1] - 1.0).abs() < 1e-12);
    }
}

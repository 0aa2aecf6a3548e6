//! Indexing by integer lists: embedding lookups, gathers, and their adjoints.
//!
//! [`Indices`] is a small integer tensor (token ids, class targets). With it:
//!
//! | op | result | adjoint (used by its backward) |
//! |---|---|---|
//! | `index_select(axis, ids)` | the entries `ids` along `axis` (an embedding lookup) | `index_add` |
//! | `gather(axis, index)` | `out[.., j, ..] = x[.., index[.., j, ..], ..]` (PyTorch's `gather`) | `scatter_add` |
//!
//! Each adjoint *adds* where its forward *reads*, so a row looked up twice
//! receives both gradients.

use crate::scalar::Scalar;
use crate::shape::{self, Dims};
use crate::tensor::{allocation_len, Tensor};

/// A tensor of non-negative integers: token ids, class targets, positions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indices {
    values: Vec<usize>,
    shape: Dims,
}

impl Indices {
    /// Reads `values` row-major as `shape`.
    ///
    /// # Panics
    /// If `values.len()` is not the product of `shape` (or that product overflows).
    pub fn new(values: Vec<usize>, shape: &[usize]) -> Self {
        assert_eq!(
            values.len(),
            shape::numel_or_panic(shape, "Indices::new"),
            "Indices::new: {} values cannot fill shape {shape:?}",
            values.len()
        );
        Indices {
            values,
            shape: shape.into(),
        }
    }

    /// A 1-D list of indices.
    pub fn from_slice(values: &[usize]) -> Self {
        Self::new(values.to_vec(), &[values.len()])
    }

    /// The values in row-major order.
    pub fn values(&self) -> &[usize] {
        &self.values
    }

    /// The size of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of indices.
    pub fn numel(&self) -> usize {
        self.values.len()
    }

    /// The same values read as another shape of the same size.
    ///
    /// # Panics
    /// If the sizes differ.
    pub fn reshape(&self, shape: &[usize]) -> Indices {
        Indices::new(self.values.clone(), shape)
    }

    /// The values as floats (for metrics or masks).
    pub fn to_tensor<T: Scalar>(&self) -> Tensor<T> {
        Tensor::from_vec(
            self.values.iter().map(|&v| T::from_usize(v)).collect(),
            &self.shape,
        )
    }
}

/// `(outer, size, inner)`: the products of the axes before `axis`, its size, and those after.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

impl<T: Scalar> Tensor<T> {
    /// The entries `ids` along `axis`, in order (repeats allowed). With `axis = 0` on a
    /// `[vocab, dim]` table this is an embedding lookup giving `[ids.len(), dim]`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let table = Tensor::<f32>::arange(6).reshape(&[3, 2]); // 3 words, 2 features each
    /// assert_eq!(table.index_select(0, &[2, 0, 2]).to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
    /// ```
    ///
    /// # Panics
    /// If the axis is out of range or an id is out of bounds.
    pub fn index_select(&self, axis: usize, ids: &[usize]) -> Tensor<T> {
        shape::check_axis(axis, self.ndim(), "index_select");
        let (outer, size, inner) = split_at_axis(self.shape(), axis);
        if let Some(&bad) = ids.iter().find(|&&i| i >= size) {
            panic!(
                "index_select: index {bad} is out of bounds for axis {axis} of shape {:?}",
                self.shape()
            );
        }
        let mut out_shape: Dims = self.shape().into();
        out_shape[axis] = ids.len();
        let count = allocation_len::<T>(&out_shape, "index_select");
        let source = self.contiguous();
        let data = source.as_slice().expect("contiguous");
        let mut out = Vec::with_capacity(count);
        for o in 0..outer {
            for &i in ids {
                let start = (o * size + i) * inner;
                out.extend_from_slice(&data[start..start + inner]);
            }
        }
        Tensor::from_vec(out, &out_shape)
    }

    /// `self` plus `source` added at entries `ids` along `axis` (repeated ids add up):
    /// the adjoint of [`Tensor::index_select`].
    ///
    /// # Panics
    /// If `source`'s shape is not `self`'s with `axis` resized to `ids.len()`, or an id
    /// is out of bounds.
    pub fn index_add(&self, axis: usize, ids: &[usize], source: &Tensor<T>) -> Tensor<T> {
        let mut out = Tensor::from_vec(self.to_vec(), self.shape());
        out.index_add_assign(axis, ids, source);
        out
    }

    /// [`Tensor::index_add`] in place: `self[.., ids[j], ..] += source[.., j, ..]`.
    /// Writes into `self`'s buffer (copying it first only if it is shared or
    /// not contiguous), so an embedding's gradient is one buffer, not two.
    ///
    /// # Panics
    /// As [`Tensor::index_add`].
    pub fn index_add_assign(&mut self, axis: usize, ids: &[usize], source: &Tensor<T>) {
        shape::check_axis(axis, self.ndim(), "index_add");
        let mut expected: Dims = self.shape().into();
        expected[axis] = ids.len();
        assert_eq!(
            source.shape(),
            expected.as_slice(),
            "index_add: source shape {:?} does not match target shape {:?} with {} ids along axis {axis}",
            source.shape(),
            self.shape(),
            ids.len()
        );
        let (outer, size, inner) = split_at_axis(self.shape(), axis);
        if let Some(&bad) = ids.iter().find(|&&i| i >= size) {
            panic!(
                "index_add: index {bad} is out of bounds for axis {axis} of shape {:?}",
                self.shape()
            );
        }
        let source = source.contiguous();
        let added = source.as_slice().expect("contiguous");
        let out = self.data_mut();
        for o in 0..outer {
            for (j, &i) in ids.iter().enumerate() {
                let to = (o * size + i) * inner;
                let from = (o * ids.len() + j) * inner;
                for (t, &s) in out[to..to + inner]
                    .iter_mut()
                    .zip(&added[from..from + inner])
                {
                    *t += s;
                }
            }
        }
    }

    /// Adds `source` into entries `start..start + source.dim(axis)` along `axis`, in
    /// place: the adjoint of [`Tensor::narrow`]. Costs O(size of `source`), plus one
    /// copy of `self` if its storage is shared or not contiguous.
    ///
    /// # Panics
    /// If `source` does not fit that region of `self`.
    pub fn narrow_add_assign(&mut self, axis: usize, start: usize, source: &Tensor<T>) {
        shape::check_axis(axis, self.ndim(), "narrow_add_assign");
        let fits = source.ndim() == self.ndim()
            && source
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(
                    |(a, (&s, &t))| {
                        if a == axis {
                            start + s <= t
                        } else {
                            s == t
                        }
                    },
                );
        assert!(
            fits,
            "narrow_add_assign: source shape {:?} does not fit shape {:?} at {start} along axis {axis}",
            source.shape(),
            self.shape()
        );
        let strides = shape::contiguous_strides(self.shape());
        let region_start = start * strides[axis];
        let added = source.storage();
        let target = self.data_mut();
        crate::walk::for_each_row(
            source.shape(),
            [&strides, source.strides()],
            [region_start, source.offset()],
            |[t, s], len, [dt, ds]| {
                if dt == 1 && ds == 1 {
                    // The common case (a slice of rows): a contiguous, vectorizable loop.
                    for (x, &y) in target[t..t + len].iter_mut().zip(&added[s..s + len]) {
                        *x += y;
                    }
                } else {
                    for i in 0..len {
                        target[t + i * dt] += added[s + i * ds];
                    }
                }
            },
        );
    }

    /// Checks a gather/scatter index against `self` and returns, for each index
    /// element, the storage-free row-major position it addresses in `self`.
    fn gather_positions(&self, axis: usize, index: &Indices, op: &str) -> Vec<usize> {
        shape::check_axis(axis, self.ndim(), op);
        let fits = index.shape().len() == self.ndim()
            && index
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(a, (&i, &s))| a == axis || i <= s);
        assert!(
            fits,
            "{op}: index shape {:?} does not fit tensor shape {:?} along axis {axis}",
            index.shape(),
            self.shape()
        );
        let strides = shape::contiguous_strides(self.shape());
        let mut position: Dims = smallvec::smallvec![0; self.ndim()];
        let mut out = Vec::with_capacity(index.numel());
        for &value in index.values() {
            assert!(
                value < self.shape()[axis],
                "{op}: index {value} is out of bounds for axis {axis} of shape {:?}",
                self.shape()
            );
            let flat: usize = (0..self.ndim())
                .map(|a| if a == axis { value } else { position[a] } * strides[a])
                .sum();
            out.push(flat);
            for a in (0..self.ndim()).rev() {
                position[a] += 1;
                if position[a] < index.shape()[a] {
                    break;
                }
                position[a] = 0;
            }
        }
        out
    }

    /// PyTorch's `gather`: `out[i][j] = self[i][index[i][j]]` for `axis = 1` (likewise
    /// for any axis). The result has the index's shape.
    ///
    /// ```
    /// use tensor::{Indices, Tensor};
    /// let scores = Tensor::from_vec(vec![0.1f32, 0.7, 0.2, 0.5, 0.3, 0.2], &[2, 3]);
    /// let targets = Indices::new(vec![1, 0], &[2, 1]); // one class per row
    /// assert_eq!(scores.gather(1, &targets).to_vec(), vec![0.7, 0.5]);
    /// ```
    ///
    /// # Panics
    /// If the index has another number of axes, is larger than `self` off `axis`, or
    /// holds an out-of-bounds value.
    pub fn gather(&self, axis: usize, index: &Indices) -> Tensor<T> {
        let positions = self.gather_positions(axis, index, "gather");
        let source = self.contiguous();
        let data = source.as_slice().expect("contiguous");
        Tensor::from_vec(positions.iter().map(|&p| data[p]).collect(), index.shape())
    }

    /// `self` plus `source` added where [`Tensor::gather`] would read: the adjoint of gather.
    ///
    /// # Panics
    /// As `gather`, or if `source` does not have the index's shape.
    pub fn scatter_add(&self, axis: usize, index: &Indices, source: &Tensor<T>) -> Tensor<T> {
        assert_eq!(
            source.shape(),
            index.shape(),
            "scatter_add: source shape {:?} differs from index shape {:?}",
            source.shape(),
            index.shape()
        );
        let positions = self.gather_positions(axis, index, "scatter_add");
        let mut out = self.to_vec();
        for (&p, s) in positions.iter().zip(source.to_vec()) {
            out[p] += s;
        }
        Tensor::from_vec(out, self.shape())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Tensor<f32> {
        Tensor::from_vec((0..6).map(|x| x as f32).collect(), &[3, 2])
    }

    #[test]
    fn index_select_looks_up_rows_and_index_add_returns_them() {
        let rows = table().index_select(0, &[2, 0, 2]);
        assert_eq!(rows.to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        let grad = Tensor::<f32>::zeros(&[3, 2]).index_add(0, &[2, 0, 2], &Tensor::ones(&[3, 2]));
        assert_eq!(grad.to_vec(), vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
        assert_eq!(table().index_select(1, &[1]).to_vec(), vec![1.0, 3.0, 5.0]);
    }

    #[test]
    fn gather_picks_one_entry_per_row_and_scatter_add_is_its_adjoint() {
        let picked = table().gather(1, &Indices::new(vec![1, 0, 1], &[3, 1]));
        assert_eq!(picked.to_vec(), vec![1.0, 2.0, 5.0]);
        let back = Tensor::<f32>::zeros(&[3, 2]).scatter_add(
            1,
            &Indices::new(vec![1, 0, 1], &[3, 1]),
            &Tensor::ones(&[3, 1]),
        );
        assert_eq!(back.to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn narrow_add_assign_adds_into_one_slice() {
        let mut total = Tensor::<f32>::zeros(&[2, 3]);
        total.narrow_add_assign(1, 1, &Tensor::ones(&[2, 2]));
        total.narrow_add_assign(1, 2, &Tensor::ones(&[2, 1]).scale(2.0));
        assert_eq!(total.to_vec(), vec![0.0, 1.0, 3.0, 0.0, 1.0, 3.0]);
    }

    #[test]
    #[should_panic(expected = "Indices::new: shape [9223372036854775809, 2] has more elements")]
    fn indices_of_a_shape_whose_size_wraps_panic() {
        Indices::new(vec![0, 1], &[(1 << 63) + 1, 2]);
    }

    #[test]
    #[should_panic(expected = "index_select: index 3 is out of bounds for axis 0 of shape [3, 2]")]
    fn an_out_of_range_id_panics() {
        table().index_select(0, &[3]);
    }
}

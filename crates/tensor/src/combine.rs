//! Joining tensors: `concat` along an existing axis, `stack` along a new one.
//!
//! Both copy (the inputs live in different buffers). Their adjoints are views:
//! `split` undoes `concat` and `unbind` undoes `stack`.

use crate::scalar::Scalar;
use crate::shape::Dims;
use crate::tensor::{allocation_len, Tensor};

impl<T: Scalar> Tensor<T> {
    /// Joins tensors along `axis`; all other axes must match.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let (a, b) = (Tensor::<f32>::zeros(&[2, 1]), Tensor::<f32>::ones(&[2, 2]));
    /// let joined = Tensor::concat(&[a.clone(), b], 1);
    /// assert_eq!(joined.to_vec(), vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    /// assert_eq!(Tensor::stack(&[a.clone(), a], 0).shape(), &[2, 2, 1]);
    /// ```
    ///
    /// # Panics
    /// If the list is empty, the axis is out of range, or shapes differ off `axis`.
    pub fn concat(tensors: &[Tensor<T>], axis: usize) -> Tensor<T> {
        assert!(!tensors.is_empty(), "concat: needs at least one tensor");
        let first = tensors[0].shape();
        crate::shape::check_axis(axis, first.len(), "concat");
        for t in tensors {
            let compatible = t.ndim() == first.len()
                && t.shape()
                    .iter()
                    .zip(first)
                    .enumerate()
                    .all(|(a, (x, y))| a == axis || x == y);
            assert!(
                compatible,
                "concat: shape {:?} does not match {:?} off axis {axis}",
                t.shape(),
                first
            );
        }
        let mut shape: Dims = first.into();
        shape[axis] = tensors
            .iter()
            .try_fold(0usize, |sum, t| sum.checked_add(t.shape()[axis]))
            .unwrap_or_else(|| panic!("concat: the sizes along axis {axis} overflow a usize"));
        let count = allocation_len::<T>(&shape, "concat");
        let outer: usize = first[..axis].iter().product();
        let mut out = Vec::with_capacity(count);
        if outer == 1 {
            // Every axis before `axis` has size 1: the result is each part's
            // elements, one part after another, copied once from any layout.
            for part in tensors {
                part.append_to(&mut out);
            }
            return Tensor::from_vec(out, &shape);
        }
        let parts: Vec<Tensor<T>> = tensors.iter().map(Tensor::contiguous).collect();
        let inner_sizes: Vec<usize> = parts
            .iter()
            .map(|t| t.shape()[axis..].iter().product())
            .collect();
        for o in 0..outer {
            for (part, &inner) in parts.iter().zip(&inner_sizes) {
                let data = part.as_slice().expect("contiguous");
                out.extend_from_slice(&data[o * inner..(o + 1) * inner]);
            }
        }
        Tensor::from_vec(out, &shape)
    }

    /// Stacks equally shaped tensors along a new axis at position `axis`.
    ///
    /// # Panics
    /// If the list is empty, shapes differ, or `axis > ndim`.
    pub fn stack(tensors: &[Tensor<T>], axis: usize) -> Tensor<T> {
        assert!(!tensors.is_empty(), "stack: needs at least one tensor");
        let first = tensors[0].shape();
        for t in tensors {
            assert_eq!(
                t.shape(),
                first,
                "stack: shape {:?} differs from {:?}",
                t.shape(),
                first
            );
        }
        let expanded: Vec<Tensor<T>> = tensors.iter().map(|t| t.unsqueeze(axis)).collect();
        Tensor::concat(&expanded, axis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_then_split_is_the_identity() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let b = Tensor::from_vec(vec![5.0f32, 6.0], &[2, 1]);
        let joined = Tensor::concat(&[a.clone(), b.clone()], 1);
        assert_eq!(joined.to_vec(), vec![1.0, 2.0, 5.0, 3.0, 4.0, 6.0]);
        let parts = joined.split(&[2, 1], 1);
        assert_eq!(parts[0], a);
        assert_eq!(parts[1], b);
    }

    /// Parts that are views (a transpose, a column slice) are read in their
    /// logical order, whichever path `concat` takes.
    #[test]
    fn concat_reads_strided_parts_in_logical_order() {
        let m = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let (t, column) = (m.t(), m.narrow(1, 1, 1)); // [3, 2] and [2, 1], both views
        let rows = Tensor::concat(&[t.clone(), m.narrow(1, 0, 2).t()], 0);
        assert_eq!(rows.shape(), &[5, 2]);
        assert_eq!(
            rows.to_vec(),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 1.0, 4.0, 2.0, 5.0]
        );
        let leading_one = Tensor::concat(&[t.unsqueeze(0), t.unsqueeze(0)], 1);
        assert_eq!(leading_one.to_vec()[..6], t.to_vec()[..]);
        let columns = Tensor::concat(&[column.clone(), column], 1);
        assert_eq!(columns.to_vec(), vec![2.0, 2.0, 5.0, 5.0]);
    }

    #[test]
    fn stack_adds_an_axis() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
        let b = Tensor::from_vec(vec![3.0f32, 4.0], &[2]);
        assert_eq!(
            Tensor::stack(&[a.clone(), b.clone()], 0).to_vec(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(Tensor::stack(&[a, b], 1).to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    #[should_panic(expected = "concat: shape [3] does not match [2, 2] off axis 0")]
    fn concat_of_mismatched_shapes_panics() {
        Tensor::<f32>::concat(&[Tensor::zeros(&[2, 2]), Tensor::zeros(&[3])], 0);
    }
}

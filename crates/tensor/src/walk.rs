//! Visiting every element of one or more strided tensors in row-major order.
//!
//! Ops on non-contiguous tensors all need the same loop: step through every
//! index of a shape and find where each operand's element sits. [`for_each_row`]
//! does that once for everyone. It hands over one *innermost row* at a time —
//! a start position and a stride per operand — so the caller's inner loop is a
//! plain `for i in 0..len` the compiler can vectorize.
//!
//! Before walking, neighbouring axes that every operand lays out back to back
//! are merged: a contiguous `[64, 512]` tensor is walked as a single row of
//! 32,768 elements, not 64 rows.

use crate::shape::Dims;

/// Calls `row(starts, len, steps)` for each innermost row of `shape`, in row-major
/// order, for `K` operands that share the shape but have their own strides and
/// offsets. Element `i` of the row sits at `starts[k] + i * steps[k]` in operand `k`.
pub fn for_each_row<const K: usize>(
    shape: &[usize],
    strides: [&[usize]; K],
    offsets: [usize; K],
    mut row: impl FnMut([usize; K], usize, [usize; K]),
) {
    if shape.contains(&0) {
        return;
    }
    // Merge axes that are contiguous with each other in every operand, and drop size-1 axes.
    let mut sizes: Dims = Dims::new();
    let mut merged: [Dims; K] = std::array::from_fn(|_| Dims::new());
    for axis in 0..shape.len() {
        if shape[axis] == 1 {
            continue;
        }
        let can_merge = !sizes.is_empty()
            && (0..K).all(|k| merged[k][merged[k].len() - 1] == strides[k][axis] * shape[axis]);
        if can_merge {
            let last = sizes.len() - 1;
            sizes[last] *= shape[axis];
            for k in 0..K {
                merged[k][last] = strides[k][axis];
            }
        } else {
            sizes.push(shape[axis]);
            for k in 0..K {
                merged[k].push(strides[k][axis]);
            }
        }
    }
    if sizes.is_empty() {
        row(offsets, 1, [0; K]);
        return;
    }
    let inner = sizes.len() - 1;
    let len = sizes[inner];
    let steps: [usize; K] = std::array::from_fn(|k| merged[k][inner]);
    // Odometer over the outer axes.
    let mut index: Dims = smallvec::smallvec![0; inner];
    let mut starts = offsets;
    loop {
        row(starts, len, steps);
        let mut axis = inner;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            for k in 0..K {
                starts[k] += merged[k][axis];
            }
            if index[axis] < sizes[axis] {
                break;
            }
            for k in 0..K {
                starts[k] -= merged[k][axis] * sizes[axis];
            }
            index[axis] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contiguous_tensor_is_one_row() {
        let mut rows = Vec::new();
        for_each_row(&[4, 8], [&[8, 1]], [3], |s, n, st| rows.push((s, n, st)));
        assert_eq!(rows, vec![([3], 32, [1])]);
    }

    #[test]
    fn a_transposed_tensor_is_walked_column_by_column() {
        // A [3, 2] view of a row-major [2, 3] buffer: strides [1, 3].
        let mut positions = Vec::new();
        for_each_row(&[3, 2], [&[1, 3]], [0], |[s], n, [st]| {
            positions.extend((0..n).map(|i| s + i * st));
        });
        assert_eq!(positions, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn a_scalar_is_one_row_of_one() {
        let mut count = 0;
        for_each_row(&[], [&[]], [5], |[s], n, _| {
            assert_eq!((s, n), (5, 1));
            count += 1;
        });
        assert_eq!(count, 1);
    }
}

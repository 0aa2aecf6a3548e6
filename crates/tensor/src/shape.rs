//! Shapes, strides and the broadcasting rule.
//!
//! A tensor's elements live in one flat buffer. Its *shape* `[d0, d1, ..., dn-1]`
//! says how many entries each axis has; its *strides* `[s0, ..., sn-1]` say how
//! far apart (in elements) two neighbours along each axis are. The element at
//! index `[i0, ..., in-1]` sits at `offset + i0*s0 + ... + in-1*sn-1`.
//!
//! A freshly allocated tensor is *row-major contiguous*: the last axis has
//! stride 1 and each earlier stride is the product of the sizes after it, so a
//! `[2, 3]` tensor has strides `[3, 1]`. Every view (transpose, slice, broadcast)
//! is just another choice of shape, strides and offset over the same buffer.
//!
//! **Broadcasting** (NumPy's rule): align two shapes on the right; two sizes are
//! compatible when they are equal or one of them is 1; the result takes the
//! larger. A size-1 axis is stretched by giving it stride 0, so it reads the same
//! element again and again without copying.

use smallvec::SmallVec;

/// A list of axis sizes or strides, stored inline for up to four axes.
pub type Dims = SmallVec<[usize; 4]>;

/// The number of elements of a tensor of this shape (1 for a scalar `[]`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides for `shape`: `[2, 3, 4]` gives `[12, 4, 1]`.
pub fn contiguous_strides(shape: &[usize]) -> Dims {
    let mut strides: Dims = smallvec::smallvec![0; shape.len()];
    let mut step = 1;
    for axis in (0..shape.len()).rev() {
        strides[axis] = step;
        step *= shape[axis];
    }
    strides
}

/// Whether `strides` lay out `shape` row-major with no gaps.
///
/// Axes of size 1 may have any stride: they are never stepped along.
pub fn is_contiguous(shape: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1;
    for axis in (0..shape.len()).rev() {
        if shape[axis] != 1 && strides[axis] != expected {
            return false;
        }
        expected *= shape[axis];
    }
    true
}

/// The shape two operands broadcast to, or `None` when they are incompatible.
///
/// `[3, 1, 5]` and `[4, 5]` broadcast to `[3, 4, 5]`; `[3]` and `[4]` do not.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Dims> {
    let ndim = a.len().max(b.len());
    let mut out: Dims = smallvec::smallvec![0; ndim];
    for i in 0..ndim {
        // Walk from the right: `i` counts axes from the end.
        let da = if i < a.len() { a[a.len() - 1 - i] } else { 1 };
        let db = if i < b.len() { b[b.len() - 1 - i] } else { 1 };
        out[ndim - 1 - i] = match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => return None,
        };
    }
    Some(out)
}

/// Strides that read a tensor of `shape`/`strides` as if it had `target` shape:
/// new leading axes and stretched size-1 axes get stride 0.
///
/// Returns `None` if `shape` does not broadcast to `target`.
pub fn broadcast_strides(shape: &[usize], strides: &[usize], target: &[usize]) -> Option<Dims> {
    if shape.len() > target.len() {
        return None;
    }
    let lead = target.len() - shape.len();
    let mut out: Dims = smallvec::smallvec![0; target.len()];
    for (axis, &size) in shape.iter().enumerate() {
        let want = target[lead + axis];
        out[lead + axis] = if size == want {
            strides[axis]
        } else if size == 1 {
            0
        } else {
            return None;
        };
    }
    Some(out)
}

/// Checks that `axis` names one of `ndim` axes and returns it.
///
/// # Panics
/// If the axis is out of range; the message names `op`.
pub fn check_axis(axis: usize, ndim: usize, op: &str) -> usize {
    if axis >= ndim {
        panic!("{op}: axis {axis} is out of range for a tensor with {ndim} axes");
    }
    axis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_of_a_2x3x4_tensor_are_12_4_1() {
        assert_eq!(contiguous_strides(&[2, 3, 4]).as_slice(), &[12, 4, 1]);
        assert!(is_contiguous(&[2, 3, 4], &[12, 4, 1]));
        assert!(!is_contiguous(&[2, 3], &[1, 2]));
        // A size-1 axis may carry any stride.
        assert!(is_contiguous(&[2, 1, 4], &[4, 99, 1]));
    }

    #[test]
    fn broadcasting_aligns_on_the_right() {
        assert_eq!(
            broadcast_shapes(&[3, 1, 5], &[4, 5]).unwrap().as_slice(),
            &[3, 4, 5]
        );
        assert_eq!(broadcast_shapes(&[], &[2]).unwrap().as_slice(), &[2]);
        assert!(broadcast_shapes(&[3], &[4]).is_none());
        assert_eq!(
            broadcast_strides(&[1, 5], &[5, 1], &[2, 3, 5])
                .unwrap()
                .as_slice(),
            &[0, 0, 1]
        );
    }

    #[test]
    #[should_panic(expected = "sum: axis 3 is out of range")]
    fn an_axis_past_the_end_panics_naming_the_op() {
        check_axis(3, 3, "sum");
    }
}

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
//!
//! **Sizes never wrap.** Overflow checks are off in every build profile (they
//! would sit in every inner loop), so `usize` arithmetic wraps silently: a
//! `[2^32, 2^32]` shape would have `0` elements. Every place where a shape
//! becomes an element count therefore goes through [`checked_numel`] (or
//! [`numel_or_panic`], which names the op): the product of the non-zero sizes
//! must fit in a `usize`. Leaving zero sizes out of the product is NumPy's rule,
//! and it means contiguous strides, which are partial products of the sizes,
//! never overflow either. Once a tensor exists its shape has passed that check,
//! so [`numel`] of an existing tensor's shape needs no second one.

use smallvec::SmallVec;

/// A list of axis sizes or strides, stored inline for up to four axes.
pub type Dims = SmallVec<[usize; 4]>;

/// The number of elements of a tensor of this shape (1 for a scalar `[]`).
///
/// Unchecked: use it on the shape of a tensor that exists (its shape was
/// checked when it was made), and [`checked_numel`] on any other shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The number of elements of `shape`, or `None` when the product of its
/// non-zero sizes does not fit in a `usize` (then no tensor can have it).
///
/// `[2^32, 2^32]` gives `None`, not the wrapped-around `0`; so does
/// `[0, 2^40, 2^40]`, whose strides would overflow although it has no elements.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    let mut product: usize = 1;
    let mut empty = false;
    for &size in shape {
        if size == 0 {
            empty = true;
        } else {
            product = product.checked_mul(size)?;
        }
    }
    Some(if empty { 0 } else { product })
}

/// [`checked_numel`] for a shape that `op` is about to give a tensor.
///
/// # Panics
/// If the sizes multiply past `usize::MAX`; the message names `op` and the shape.
pub fn numel_or_panic(shape: &[usize], op: &str) -> usize {
    checked_numel(shape).unwrap_or_else(|| {
        panic!(
            "{op}: shape {shape:?} has more elements than a usize can count (the sizes overflow)"
        )
    })
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

/// Where element `index` sits in the buffer: `offset + sum_k index[k] * strides[k]`.
///
/// The one formula of a strided tensor ([`Tensor::get`](crate::Tensor::get)
/// reads through it): `[1, 2]` of a `[2, 3]` row-major tensor (strides
/// `[3, 1]`) sits at `1*3 + 2*1 = 5`; of its transpose's view (strides `[1, 3]`), at `1 + 6 = 7`.
///
/// ```
/// use tensor::shape::element_position;
/// assert_eq!(element_position(0, &[3, 1], &[1, 2]), 5);
/// assert_eq!(element_position(0, &[1, 3], &[1, 2]), 7);
/// assert_eq!(element_position(4, &[0, 1], &[9, 2]), 6); // a broadcast axis: stride 0
/// ```
pub fn element_position(offset: usize, strides: &[usize], index: &[usize]) -> usize {
    offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>()
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

/// Checks a request to cut `axis` of `shape` into pieces of the given sizes
/// ([`Tensor::split`](crate::Tensor::split)).
///
/// # Panics
/// Naming `split` and the shape, if the axis is out of range or the sizes do
/// not add up to its length.
pub fn check_split(shape: &[usize], sizes: &[usize], axis: usize) {
    check_axis(axis, shape.len(), "split");
    let total = sizes.iter().try_fold(0usize, |sum, &n| sum.checked_add(n));
    assert!(
        total == Some(shape[axis]),
        "split: sizes {sizes:?} do not add up to axis {axis} of shape {shape:?}"
    );
}

/// The sizes of `chunks` equal pieces of `axis` of `shape`
/// ([`Tensor::chunk`](crate::Tensor::chunk)).
///
/// # Panics
/// Naming `chunk` and the shape, if the axis is out of range or its length is
/// not a multiple of `chunks`.
pub fn chunk_sizes(shape: &[usize], chunks: usize, axis: usize) -> Vec<usize> {
    check_axis(axis, shape.len(), "chunk");
    let n = shape[axis];
    assert!(
        chunks > 0 && n.is_multiple_of(chunks),
        "chunk: axis {axis} of shape {shape:?} cannot be cut into {chunks} equal pieces"
    );
    vec![n / chunks; chunks]
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
    fn element_counts_that_overflow_are_refused_not_wrapped() {
        assert_eq!(checked_numel(&[2, 3]), Some(6));
        assert_eq!(checked_numel(&[]), Some(1));
        assert_eq!(checked_numel(&[3, 0]), Some(0));
        // 2^32 * 2^32 wraps to 0 in unchecked arithmetic.
        assert_eq!(numel(&[1 << 32, 1 << 32]), 0);
        assert_eq!(checked_numel(&[1 << 32, 1 << 32]), None);
        // (2^63 + 1) * 2 wraps to 2.
        assert_eq!(checked_numel(&[(1 << 63) + 1, 2]), None);
        // No elements, but strides that would not fit.
        assert_eq!(checked_numel(&[0, 1 << 40, 1 << 40]), None);
        assert_eq!(checked_numel(&[usize::MAX, 1]), Some(usize::MAX));
    }

    #[test]
    #[should_panic(
        expected = "reshape: shape [4294967296, 4294967296] has more elements than a usize"
    )]
    fn numel_or_panic_names_the_op_and_the_shape() {
        numel_or_panic(&[1 << 32, 1 << 32], "reshape");
    }

    #[test]
    #[should_panic(expected = "sum: axis 3 is out of range")]
    fn an_axis_past_the_end_panics_naming_the_op() {
        check_axis(3, 3, "sum");
    }
}

//! The `Tensor` struct: shared storage seen through a shape, strides and offset.
//!
//! Cloning a tensor clones an `Arc`, not the data. Views (see [`view`](crate::view))
//! share the storage too. Data is copied only by ops that make new values, and by
//! [`Tensor::contiguous`] when a layout really must change.

use std::fmt;
use std::sync::Arc;

use crate::scalar::Scalar;
use crate::shape::{self, Dims};

/// An n-dimensional array of `f32` or `f64` on the CPU.
///
/// `storage` is shared between a tensor and its views; `shape`, `strides` and
/// `offset` say which elements of it this tensor sees and in what order:
/// index `[i0, .., ik]` lives at `storage[offset + i0*strides[0] + .. + ik*strides[k]]`.
#[derive(Clone)]
pub struct Tensor<T: Scalar = f32> {
    pub(crate) storage: Arc<Vec<T>>,
    pub(crate) shape: Dims,
    pub(crate) strides: Dims,
    pub(crate) offset: usize,
}

/// The element count of a buffer that `op` is about to allocate for `shape`:
/// [`shape::numel_or_panic`], no more bytes than one allocation may hold
/// (`isize::MAX`), and no more than the machine's memory, so an absurd
/// shape panics naming the op, the shape and the bytes rather than deep
/// inside `Vec` ("capacity overflow") or in the allocator (an abort).
pub(crate) fn allocation_len<T: Scalar>(shape: &[usize], op: &str) -> usize {
    let count = shape::numel_or_panic(shape, op);
    let bytes = count.checked_mul(T::BYTES);
    let fits = bytes.is_some_and(|bytes| bytes <= isize::MAX as usize);
    assert!(
        fits,
        "{op}: shape {shape:?} holds {count} elements of {} bytes, more than one allocation can hold",
        T::BYTES
    );
    let (bytes, memory) = (bytes.unwrap_or(usize::MAX), machine_memory());
    assert!(
        bytes as u64 <= memory,
        "{op}: shape {shape:?} needs {:.1} GB, more than this machine's {:.1} GB of memory",
        bytes as f64 / 1e9,
        memory as f64 / 1e9
    );
    count
}

/// The machine's physical memory in bytes (Linux's `MemTotal`, read once),
/// or `u64::MAX` where the system does not report it.
fn machine_memory() -> u64 {
    static MEMORY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MEMORY.get_or_init(|| {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(u64::MAX, |kb| kb.saturating_mul(1024))
    })
}

impl<T: Scalar> Tensor<T> {
    /// Builds a contiguous tensor that owns `data`, read row-major as `shape`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    /// assert_eq!((t.shape(), t.strides()), (&[2, 3][..], &[3, 1][..])); // row-major
    /// assert_eq!(t.get(&[1, 0]), 4.0);
    /// ```
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`, or that product overflows
    /// a `usize` (see [`shape::checked_numel`]).
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        Self::from_vec_named(data, shape, "from_vec")
    }

    /// [`Tensor::from_vec`], naming `op` in the panic messages.
    pub(crate) fn from_vec_named(data: Vec<T>, shape: &[usize], op: &str) -> Self {
        let expected = shape::numel_or_panic(shape, op);
        assert!(
            data.len() == expected,
            "{op}: {} values cannot fill shape {:?} ({} elements)",
            data.len(),
            shape,
            expected
        );
        Tensor {
            storage: Arc::new(data),
            shape: shape.into(),
            strides: shape::contiguous_strides(shape),
            offset: 0,
        }
    }

    /// A tensor of shape `[]` holding one value.
    pub fn scalar(value: T) -> Self {
        Self::from_vec(vec![value], &[])
    }

    /// A tensor of the given shape filled with `value`.
    ///
    /// # Panics
    /// If the sizes of `shape` multiply past `usize::MAX`, or the buffer would
    /// be larger than one allocation can hold (the same for every constructor below).
    pub fn full(shape: &[usize], value: T) -> Self {
        Self::filled(shape, value, "full")
    }

    fn filled(shape: &[usize], value: T, op: &str) -> Self {
        let count = allocation_len::<T>(shape, op);
        Self::from_vec_named(vec![value; count], shape, op)
    }

    /// A tensor of zeros.
    ///
    /// ```
    /// use tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::zeros(&[2, 2]).to_vec(), vec![0.0; 4]);
    /// assert_eq!(Tensor::full(&[3], 7.0f64).to_vec(), vec![7.0; 3]);
    /// assert_eq!(Tensor::<f32>::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If the sizes of `shape` multiply past `usize::MAX`: `zeros(&[1 << 32, 1 << 32])`
    /// is refused, not a tensor of `2^64 mod 2^64 = 0` elements.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::filled(shape, T::ZERO, "zeros")
    }

    /// A tensor of ones.
    ///
    /// # Panics
    /// If the sizes of `shape` multiply past `usize::MAX`.
    pub fn ones(shape: &[usize]) -> Self {
        Self::filled(shape, T::ONE, "ones")
    }

    /// A tensor of zeros with the shape of `other`.
    pub fn zeros_like(other: &Tensor<T>) -> Self {
        Self::zeros(other.shape())
    }

    /// The 1-D tensor `[0, 1, ..., n-1]`.
    ///
    /// # Panics
    /// If `n` elements are more than one allocation can hold.
    pub fn arange(n: usize) -> Self {
        allocation_len::<T>(&[n], "arange");
        Self::from_vec((0..n).map(T::from_usize).collect(), &[n])
    }

    /// The `n x n` identity matrix.
    ///
    /// # Panics
    /// If `n * n` overflows a `usize`.
    pub fn eye(n: usize) -> Self {
        let mut data = vec![T::ZERO; allocation_len::<T>(&[n, n], "eye")];
        for i in 0..n {
            data[i * n + i] = T::ONE;
        }
        Self::from_vec(data, &[n, n])
    }

    /// A tensor whose element at each index is `f(index)`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::from_fn(&[2, 3], |i| (10 * i[0] + i[1]) as f32);
    /// assert_eq!(t.to_vec(), vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
    /// ```
    ///
    /// # Panics
    /// If the sizes of `shape` multiply past `usize::MAX`.
    pub fn from_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> T) -> Self {
        let mut index: Dims = smallvec::smallvec![0; shape.len()];
        let count = allocation_len::<T>(shape, "from_fn");
        let mut data = Vec::with_capacity(count);
        for _ in 0..count {
            data.push(f(&index));
            // Odometer increment: bump the last axis, carry into earlier ones.
            for axis in (0..shape.len()).rev() {
                index[axis] += 1;
                if index[axis] < shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Self::from_vec_named(data, shape, "from_fn")
    }

    /// Builds a view over existing storage. Checks that every index stays in bounds.
    ///
    /// The farthest element a view reads is `offset + sum_k (shape_k - 1) * strides_k`;
    /// it is computed with checked arithmetic, so absurd strides or offsets are
    /// refused instead of wrapping around to a small, in-bounds number.
    ///
    /// # Panics
    /// If `shape` and `strides` differ in length, the sizes multiply past
    /// `usize::MAX`, or the view would read past the end of `storage`.
    pub fn from_parts(
        storage: Arc<Vec<T>>,
        shape: &[usize],
        strides: &[usize],
        offset: usize,
    ) -> Self {
        assert_eq!(
            shape.len(),
            strides.len(),
            "from_parts: shape {shape:?} and strides {strides:?} differ in length"
        );
        if shape::numel_or_panic(shape, "from_parts") > 0 {
            // Every size is at least 1 here, so `n - 1` cannot wrap.
            let last = shape
                .iter()
                .zip(strides)
                .try_fold(offset, |reach, (&n, &s)| {
                    (n - 1)
                        .checked_mul(s)
                        .and_then(|step| reach.checked_add(step))
                });
            assert!(
                matches!(last, Some(last) if last < storage.len()),
                "from_parts: shape {shape:?} with strides {strides:?} at offset {offset} reads past a buffer of {} elements",
                storage.len()
            );
        }
        Tensor {
            storage,
            shape: shape.into(),
            strides: strides.into(),
            offset,
        }
    }

    /// The size of each axis.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The step, in elements, between neighbours along each axis (0 on broadcast axes).
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Where this tensor's first element sits in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The whole underlying buffer, shared with every view of it.
    pub fn storage(&self) -> &[T] {
        &self.storage
    }

    /// Whether two tensors share one storage buffer (one is a view of the other, say).
    pub fn shares_storage_with(&self, other: &Tensor<T>) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        shape::numel(&self.shape)
    }

    /// The size of one axis.
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn dim(&self, axis: usize) -> usize {
        self.shape[shape::check_axis(axis, self.ndim(), "dim")]
    }

    /// Whether the elements are laid out row-major with no gaps.
    pub fn is_contiguous(&self) -> bool {
        shape::is_contiguous(&self.shape, &self.strides)
    }

    /// The elements as one slice, if they are contiguous in storage.
    pub fn as_slice(&self) -> Option<&[T]> {
        if self.is_contiguous() {
            Some(&self.storage[self.offset..self.offset + self.numel()])
        } else {
            None
        }
    }

    /// This tensor if it is already contiguous (no copy), otherwise a contiguous copy.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).t(); // a view, strides [1, 2]
    /// assert!(!t.is_contiguous());
    /// let c = t.contiguous(); // copied into row-major order
    /// assert_eq!((c.strides(), c.to_vec()), (&[2, 1][..], vec![1.0, 3.0, 2.0, 4.0]));
    /// ```
    pub fn contiguous(&self) -> Tensor<T> {
        if self.is_contiguous() {
            self.clone()
        } else {
            Tensor::from_vec(self.to_vec(), &self.shape)
        }
    }

    /// The elements in row-major order, as a new vector.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.numel());
        self.append_to(&mut out);
        out
    }

    /// Appends the elements in row-major order to `out` (one copy, from any layout).
    pub(crate) fn append_to(&self, out: &mut Vec<T>) {
        if let Some(slice) = self.as_slice() {
            out.extend_from_slice(slice);
            return;
        }
        crate::walk::for_each_row(
            &self.shape,
            [&self.strides],
            [self.offset],
            |[start], len, [step]| {
                if step == 1 {
                    out.extend_from_slice(&self.storage[start..start + len]);
                } else {
                    out.extend((0..len).map(|i| self.storage[start + i * step]));
                }
            },
        );
    }

    /// The element at a full index.
    ///
    /// # Panics
    /// If the index has the wrong number of axes or is out of bounds.
    pub fn get(&self, index: &[usize]) -> T {
        assert_eq!(
            index.len(),
            self.ndim(),
            "get: index {index:?} does not match shape {:?}",
            self.shape
        );
        for (&i, &n) in index.iter().zip(&self.shape) {
            assert!(
                i < n,
                "get: index {index:?} is out of bounds for shape {:?}",
                self.shape
            );
        }
        self.storage[shape::element_position(self.offset, &self.strides, index)]
    }

    /// The value of a one-element tensor (any shape with one element).
    ///
    /// # Panics
    /// If the tensor has more or fewer than one element.
    pub fn item(&self) -> T {
        assert_eq!(
            self.numel(),
            1,
            "item: tensor of shape {:?} has {} elements, not 1",
            self.shape,
            self.numel()
        );
        self.storage[self.offset]
    }

    /// Mutable access to the elements in row-major order.
    ///
    /// Copies first if the storage is shared with another tensor or the layout is
    /// not contiguous (copy-on-write), so no other tensor ever sees the change.
    pub fn data_mut(&mut self) -> &mut [T] {
        let n = self.numel();
        let owns_exactly = self.is_contiguous() && self.offset == 0 && self.storage.len() == n;
        if !owns_exactly
            || Arc::strong_count(&self.storage) > 1
            || Arc::weak_count(&self.storage) > 0
        {
            *self = Tensor::from_vec(self.to_vec(), &self.shape);
        }
        Arc::get_mut(&mut self.storage)
            .expect("storage is uniquely owned after the copy")
            .as_mut_slice()
    }

    /// Converts every element to another element type (`f32` to `f64`, say).
    pub fn cast<U: Scalar>(&self) -> Tensor<U> {
        Tensor::from_vec(
            self.to_vec()
                .into_iter()
                .map(|x| U::from_f64(x.to_f64()))
                .collect(),
            &self.shape,
        )
    }

    /// Whether both tensors have the same shape and every pair of elements
    /// differs by at most `tolerance`.
    pub fn all_close(&self, other: &Tensor<T>, tolerance: f64) -> bool {
        self.shape == other.shape
            && self
                .to_vec()
                .iter()
                .zip(other.to_vec())
                .all(|(a, b)| (a.to_f64() - b.to_f64()).abs() <= tolerance)
    }

    /// Bytes held by this tensor's storage (shared storage is counted in full).
    pub fn storage_bytes(&self) -> usize {
        self.storage.len() * T::BYTES
    }
}

impl<T: Scalar> PartialEq for Tensor<T> {
    /// Equal when shapes match and every element is equal (layouts may differ).
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.to_vec() == other.to_vec()
    }
}

impl<T: Scalar> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor<{}>{:?} ", T::NAME, self.shape.as_slice())?;
        fmt::Display::fmt(self, f)
    }
}

impl<T: Scalar> fmt::Display for Tensor<T> {
    /// Prints nested brackets like NumPy; long axes show their first and last three entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write_axis<T: Scalar>(
            t: &Tensor<T>,
            f: &mut fmt::Formatter<'_>,
            index: &mut Vec<usize>,
        ) -> fmt::Result {
            let axis = index.len();
            if axis == t.ndim() {
                return write!(f, "{:.4}", t.get(index));
            }
            let n = t.shape[axis];
            write!(f, "[")?;
            let mut i = 0;
            while i < n {
                if n > 8 && i == 3 {
                    write!(f, "..., ")?;
                    i = n - 3;
                }
                index.push(i);
                write_axis(t, f, index)?;
                index.pop();
                if i + 1 < n {
                    write!(f, ", ")?;
                }
                i += 1;
            }
            write!(f, "]")
        }
        write_axis(self, f, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_reads_row_major() {
        let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(t.get(&[1, 0]), 4.0);
        assert_eq!(t.strides(), &[3, 1]);
        assert!(t.is_contiguous());
    }

    #[test]
    #[should_panic(expected = "from_vec: 5 values cannot fill shape [2, 3]")]
    fn from_vec_checks_the_length() {
        Tensor::from_vec(vec![0.0f32; 5], &[2, 3]);
    }

    /// The three overflows of issue 12: each was accepted and wrapped around.
    #[test]
    #[should_panic(
        expected = "zeros: shape [4294967296, 4294967296] has more elements than a usize can count"
    )]
    fn zeros_of_a_shape_whose_size_overflows_panics() {
        // 2^32 * 2^32 = 2^64 wraps to 0: this was a 0-element tensor whose sum was 0.
        Tensor::<f32>::zeros(&[1 << 32, 1 << 32]);
    }

    #[test]
    #[should_panic(expected = "from_vec: shape [9223372036854775809, 2] has more elements")]
    fn from_vec_refuses_a_shape_whose_size_wraps_to_the_data_length() {
        // (2^63 + 1) * 2 = 2^64 + 2 wraps to 2, the number of values given.
        Tensor::from_vec(vec![1.0f32, 2.0], &[(1 << 63) + 1, 2]);
    }

    #[test]
    #[should_panic(
        expected = "from_parts: shape [3] with strides [9223372036854775808] at offset 0 reads past"
    )]
    fn from_parts_bounds_check_does_not_wrap() {
        // The last element sits at 2 * 2^63 = 2^64, which wraps to 0: "in bounds".
        Tensor::from_parts(Arc::new(vec![0.0f32; 4]), &[3], &[1 << 63], 0);
    }

    #[test]
    #[should_panic(
        expected = "from_parts: shape [2] with strides [1] at offset 18446744073709551615 reads past"
    )]
    fn from_parts_offset_overflow_is_refused() {
        // usize::MAX + 1 wraps to 0, inside the buffer.
        Tensor::from_parts(Arc::new(vec![0.0f32; 4]), &[2], &[1], usize::MAX);
    }

    #[test]
    #[should_panic(expected = "eye: shape [4294967296, 4294967296] has more elements")]
    fn eye_of_a_size_whose_square_overflows_panics() {
        Tensor::<f32>::eye(1 << 32);
    }

    #[test]
    fn constructors_fill_as_named() {
        assert_eq!(Tensor::<f64>::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(Tensor::<f32>::arange(3).to_vec(), vec![0.0, 1.0, 2.0]);
        assert_eq!(Tensor::<f32>::full(&[2], 7.0).to_vec(), vec![7.0, 7.0]);
        assert_eq!(Tensor::<f32>::scalar(3.0).item(), 3.0);
        let t = Tensor::<f64>::from_fn(&[2, 2], |i| (i[0] * 10 + i[1]) as f64);
        assert_eq!(t.to_vec(), vec![0.0, 1.0, 10.0, 11.0]);
    }

    #[test]
    fn data_mut_copies_shared_storage_first() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2]);
        let mut b = a.clone();
        b.data_mut()[0] = 9.0;
        assert_eq!(a.to_vec(), vec![1.0, 2.0]);
        assert_eq!(b.to_vec(), vec![9.0, 2.0]);
    }

    #[test]
    fn display_shows_nested_brackets() {
        let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        assert_eq!(t.to_string(), "[[1.0000, 2.0000], [3.0000, 4.0000]]");
    }
}

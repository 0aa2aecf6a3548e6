//! Elementwise ops: one function applied at every index, with broadcasting.
//!
//! Two engines do all the work. [`Tensor::map`] applies a unary function;
//! [`Tensor::zip_with`] applies a binary one after broadcasting both operands
//! to a common shape (see [`shape`]). Each has a fast path for
//! contiguous operands — a plain loop over slices that the compiler vectorizes
//! and that large tensors split over threads (`fill_in_parallel`, from the
//! appendix's [`fast::threads`](crate::fast::threads); read it as "run this
//! loop over `out`, in pieces") — and a strided path for views.
//! Every named op below (`exp`, `add`, `maximum`, ...) is one line on top of them.
//!
//! The Rust operators `+ - * /` work on `&Tensor` (and on `Tensor` by value) with
//! tensors or scalars on the right.

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use crate::fast::threads::{fill_in_parallel, worth_splitting};
use crate::scalar::Scalar;
use crate::shape::{self, broadcast_shapes, broadcast_strides};
use crate::tensor::{allocation_len, Tensor};
use crate::walk::for_each_row;

impl<T: Scalar> Tensor<T> {
    /// Applies `f` to every element.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::from_vec(vec![-1.0f32, 0.5, 2.0], &[3]);
    /// assert_eq!(t.map(|x| x.max(0.0)).to_vec(), vec![0.0, 0.5, 2.0]); // what `relu` is
    /// ```
    pub fn map(&self, f: impl Fn(T) -> T + Sync) -> Tensor<T> {
        if let Some(input) = self.as_slice() {
            if !worth_splitting(input.len()) {
                // Collected, not zero-filled and then overwritten.
                return Tensor::from_vec(input.iter().map(|&x| f(x)).collect(), self.shape());
            }
            let mut out = vec![T::ZERO; input.len()];
            fill_in_parallel(&mut out, |start, chunk| {
                let end = start + chunk.len();
                for (o, &x) in chunk.iter_mut().zip(&input[start..end]) {
                    *o = f(x);
                }
            });
            return Tensor::from_vec(out, self.shape());
        }
        let mut out = Vec::with_capacity(allocation_len::<T>(self.shape(), "map"));
        let data = self.storage();
        for_each_row(
            self.shape(),
            [self.strides()],
            [self.offset()],
            |[start], len, [step]| {
                if step == 1 {
                    // A contiguous row of a view (a gate block of an LSTM, say): vectorizes.
                    out.extend(data[start..start + len].iter().map(|&x| f(x)));
                } else {
                    out.extend((0..len).map(|i| f(data[start + i * step])));
                }
            },
        );
        Tensor::from_vec(out, self.shape())
    }

    /// Applies `f` to matching elements of `self` and `other`, broadcast to a common shape.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let column = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1]);
    /// let row = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
    /// let table = column.zip_with(&row, "times", |a, b| a * b); // [2, 1] and [3] broadcast to [2, 3]
    /// assert_eq!(table.to_vec(), vec![10.0, 20.0, 30.0, 20.0, 40.0, 60.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes do not broadcast, or broadcast to a shape with more elements
    /// than a `usize` can count (two broadcast views `[2^32, 1]` and `[1, 2^32]`);
    /// the message names `op` and the shapes.
    pub fn zip_with(&self, other: &Tensor<T>, op: &str, f: impl Fn(T, T) -> T + Sync) -> Tensor<T> {
        let shape = broadcast_shapes(self.shape(), other.shape()).unwrap_or_else(|| {
            panic!(
                "{op}: shapes {:?} and {:?} cannot be broadcast together",
                self.shape(),
                other.shape()
            )
        });
        if shape::checked_numel(&shape).is_none() {
            panic!(
                "{op}: shapes {:?} and {:?} broadcast to a shape {shape:?} with more elements than a usize can count",
                self.shape(),
                other.shape()
            )
        }
        if let (true, Some(a), Some(b)) = (
            self.shape() == other.shape(),
            self.as_slice(),
            other.as_slice(),
        ) {
            if !worth_splitting(a.len()) {
                let out = a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
                return Tensor::from_vec(out, &shape);
            }
            let mut out = vec![T::ZERO; a.len()];
            fill_in_parallel(&mut out, |start, chunk| {
                let end = start + chunk.len();
                for ((o, &x), &y) in chunk.iter_mut().zip(&a[start..end]).zip(&b[start..end]) {
                    *o = f(x, y);
                }
            });
            return Tensor::from_vec(out, &shape);
        }
        let strides_a =
            broadcast_strides(self.shape(), self.strides(), &shape).expect("checked above");
        let strides_b =
            broadcast_strides(other.shape(), other.strides(), &shape).expect("checked above");
        let (a, b) = (self.storage(), other.storage());
        let mut out = Vec::with_capacity(allocation_len::<T>(&shape, op));
        for_each_row(
            &shape,
            [&strides_a, &strides_b],
            [self.offset(), other.offset()],
            |[sa, sb], len, steps| match steps {
                [1, 1] => out.extend(
                    a[sa..sa + len]
                        .iter()
                        .zip(&b[sb..sb + len])
                        .map(|(&x, &y)| f(x, y)),
                ),
                [1, 0] => out.extend(a[sa..sa + len].iter().map(|&x| f(x, b[sb]))),
                [0, 1] => out.extend(b[sb..sb + len].iter().map(|&y| f(a[sa], y))),
                [da, db] => out.extend((0..len).map(|i| f(a[sa + i * da], b[sb + i * db]))),
            },
        );
        Tensor::from_vec(out, &shape)
    }

    /// `-x`.
    pub fn neg(&self) -> Tensor<T> {
        self.map(|x| -x)
    }
    /// `e^x`.
    pub fn exp(&self) -> Tensor<T> {
        self.map(T::exp)
    }
    /// Natural logarithm.
    pub fn ln(&self) -> Tensor<T> {
        self.map(T::ln)
    }
    /// `ln(1 + x)`, accurate near 0.
    pub fn log1p(&self) -> Tensor<T> {
        self.map(T::ln_1p)
    }
    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor<T> {
        self.map(T::tanh)
    }
    /// The logistic function `1 / (1 + e^-x)`, stable for large `|x|`.
    pub fn sigmoid(&self) -> Tensor<T> {
        self.map(T::sigmoid)
    }
    /// `max(x, 0)`; NaN stays NaN (as in PyTorch).
    pub fn relu(&self) -> Tensor<T> {
        self.map(|x| {
            if x > T::ZERO || x.is_nan() {
                x
            } else {
                T::ZERO
            }
        })
    }
    /// Square root.
    pub fn sqrt(&self) -> Tensor<T> {
        self.map(T::sqrt)
    }
    /// `x * x`.
    pub fn square(&self) -> Tensor<T> {
        self.map(|x| x * x)
    }
    /// Absolute value.
    pub fn abs(&self) -> Tensor<T> {
        self.map(T::abs)
    }
    /// `x^p`.
    pub fn powf(&self, exponent: T) -> Tensor<T> {
        self.map(|x| x.powf(exponent))
    }
    /// Limits every element to `[low, high]`.
    ///
    /// # Panics
    /// If `low > high`, or either bound is NaN.
    pub fn clamp(&self, low: T, high: T) -> Tensor<T> {
        assert!(
            low <= high,
            "clamp: low = {low} and high = {high} are not an interval (low <= high, no NaN)"
        );
        self.map(|x| {
            if x < low {
                low
            } else if x > high {
                high
            } else {
                x
            }
        })
    }
    /// `x * factor`.
    pub fn scale(&self, factor: T) -> Tensor<T> {
        self.map(|x| x * factor)
    }

    /// `a + b` with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn add(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "add", |a, b| a + b)
    }
    /// `a - b` with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn sub(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "sub", |a, b| a - b)
    }
    /// `a * b` with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn mul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "mul", |a, b| a * b)
    }
    /// `a / b` with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn div(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "div", |a, b| a / b)
    }
    /// The larger of each pair, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn maximum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "maximum", |a, b| if b > a { b } else { a })
    }
    /// The smaller of each pair, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn minimum(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "minimum", |a, b| if b < a { b } else { a })
    }

    /// Mask (1 where true, 0 where false) of `a > b`, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn gt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "gt", |a, b| if a > b { T::ONE } else { T::ZERO })
    }
    /// Mask of `a >= b`.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn ge(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "ge", |a, b| if a >= b { T::ONE } else { T::ZERO })
    }
    /// Mask of `a < b`.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn lt(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "lt", |a, b| if a < b { T::ONE } else { T::ZERO })
    }
    /// Mask of `a <= b`.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn le(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(other, "le", |a, b| if a <= b { T::ONE } else { T::ZERO })
    }
    /// Mask of `a == b`.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn eq_mask(&self, other: &Tensor<T>) -> Tensor<T> {
        self.zip_with(
            other,
            "eq_mask",
            |a, b| if a == b { T::ONE } else { T::ZERO },
        )
    }

    /// `on_true` where `mask` is non-zero, `on_false` elsewhere; all three broadcast.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn where_(mask: &Tensor<T>, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Tensor<T> {
        let values_shape =
            broadcast_shapes(on_true.shape(), on_false.shape()).unwrap_or_else(|| {
                panic!(
                    "where_: shapes {:?} and {:?} cannot be broadcast together",
                    on_true.shape(),
                    on_false.shape()
                )
            });
        let shape = broadcast_shapes(mask.shape(), &values_shape).unwrap_or_else(|| {
            panic!(
                "where_: mask shape {:?} and value shape {:?} cannot be broadcast together",
                mask.shape(),
                values_shape
            )
        });
        let count = allocation_len::<T>(&shape, "where_");
        let (m, a, b) = (
            mask.broadcast_to(&shape),
            on_true.broadcast_to(&shape),
            on_false.broadcast_to(&shape),
        );
        let (md, ad, bd) = (m.storage(), a.storage(), b.storage());
        let mut out = Vec::with_capacity(count);
        // Select rather than blend (m*a + (1-m)*b), so an infinity on the unused side never leaks in.
        for_each_row(
            &shape,
            [m.strides(), a.strides(), b.strides()],
            [m.offset(), a.offset(), b.offset()],
            |[sm, sa, sb], len, [dm, da, db]| {
                out.extend((0..len).map(|i| {
                    if md[sm + i * dm] != T::ZERO {
                        ad[sa + i * da]
                    } else {
                        bd[sb + i * db]
                    }
                }));
            },
        );
        Tensor::from_vec(out, &shape)
    }
}

impl<T: Scalar> AddAssign<&Tensor<T>> for Tensor<T> {
    /// Adds `other` (broadcast to `self`'s shape) in place; copies first only if the
    /// storage is shared.
    ///
    /// # Panics
    /// If `other` does not broadcast to `self`'s shape.
    fn add_assign(&mut self, other: &Tensor<T>) {
        let other = if other.shape() == self.shape() {
            other.clone()
        } else {
            let shape = self.shape().to_vec();
            assert!(
                broadcast_strides(other.shape(), other.strides(), &shape).is_some(),
                "add_assign: shape {:?} cannot broadcast to {:?}",
                other.shape(),
                shape
            );
            other.broadcast_to(&shape)
        };
        let target = self.data_mut();
        match other.as_slice() {
            Some(source) => {
                // Elementwise, so a large sum is split over threads with no change in the result.
                fill_in_parallel(target, |start, chunk| {
                    for (t, &s) in chunk.iter_mut().zip(&source[start..]) {
                        *t += s;
                    }
                });
            }
            None => {
                // A broadcast or strided source: walk it in row-major order beside the target.
                let target_strides = shape::contiguous_strides(other.shape());
                let source = other.storage();
                for_each_row(
                    other.shape(),
                    [&target_strides, other.strides()],
                    [0, other.offset()],
                    |[t, s], len, [dt, ds]| {
                        for i in 0..len {
                            target[t + i * dt] += source[s + i * ds];
                        }
                    },
                );
            }
        }
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:literal, $f:expr) => {
        impl<T: Scalar> $trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, other: &Tensor<T>) -> Tensor<T> {
                self.zip_with(other, $op, $f)
            }
        }
        impl<T: Scalar> $trait<Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, other: Tensor<T>) -> Tensor<T> {
                self.zip_with(&other, $op, $f)
            }
        }
        impl<T: Scalar> $trait<&Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, other: &Tensor<T>) -> Tensor<T> {
                self.zip_with(other, $op, $f)
            }
        }
        impl<T: Scalar> $trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, scalar: T) -> Tensor<T> {
                let f = $f;
                self.map(move |x| f(x, scalar))
            }
        }
        impl<T: Scalar> $trait<T> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, scalar: T) -> Tensor<T> {
                let f = $f;
                self.map(move |x| f(x, scalar))
            }
        }
    };
}

binary_operator!(Add, add, "add", |a: T, b: T| a + b);
binary_operator!(Sub, sub, "sub", |a: T, b: T| a - b);
binary_operator!(Mul, mul, "mul", |a: T, b: T| a * b);
binary_operator!(Div, div, "div", |a: T, b: T| a / b);

impl<T: Scalar> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|x| -x)
    }
}

impl<T: Scalar> Neg for Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|x| -x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_row_broadcasts_over_every_row() {
        let m = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let row = Tensor::from_vec(vec![10.0f32, 20.0], &[2]);
        assert_eq!((&m + &row).to_vec(), vec![11.0, 22.0, 13.0, 24.0]);
        let column = Tensor::from_vec(vec![10.0f32, 20.0], &[2, 1]);
        assert_eq!((&m * &column).to_vec(), vec![10.0, 20.0, 60.0, 80.0]);
    }

    #[test]
    fn ops_on_a_transposed_view_see_the_view() {
        let m = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2]);
        assert_eq!((&m.t() - &m).to_vec(), vec![0.0, 1.0, -1.0, 0.0]);
        assert_eq!(m.t().exp().to_vec(), m.exp().t().to_vec());
    }

    #[test]
    fn where_picks_without_blending_infinities() {
        let mask = Tensor::from_vec(vec![1.0f32, 0.0], &[2]);
        let a = Tensor::from_vec(vec![1.0f32, f32::INFINITY], &[2]);
        let b = Tensor::from_vec(vec![f32::NEG_INFINITY, 5.0], &[2]);
        assert_eq!(Tensor::where_(&mask, &a, &b).to_vec(), vec![1.0, 5.0]);
    }

    #[test]
    fn add_assign_accumulates_in_place() {
        let mut total = Tensor::<f32>::zeros(&[2, 2]);
        total += &Tensor::from_vec(vec![1.0, 2.0], &[2]);
        total += &Tensor::ones(&[2, 2]);
        assert_eq!(total.to_vec(), vec![2.0, 3.0, 2.0, 3.0]);
    }

    #[test]
    fn large_tensors_split_over_threads_give_the_same_values() {
        let n = 5 * crate::fast::threads::MIN_ELEMENTS_PER_THREAD + 3;
        let t = Tensor::<f32>::from_vec((0..n).map(|i| i as f32).collect(), &[n]);
        let doubled = &t + &t;
        assert!(doubled
            .to_vec()
            .iter()
            .enumerate()
            .all(|(i, &x)| x == 2.0 * i as f32));
    }

    #[test]
    #[should_panic(expected = "mul: shapes [2, 3] and [2] cannot be broadcast together")]
    fn mismatched_shapes_panic_naming_the_op_and_both_shapes() {
        let _ = Tensor::<f32>::zeros(&[2, 3]).mul(&Tensor::zeros(&[2]));
    }
}

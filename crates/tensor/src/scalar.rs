//! The numbers a tensor can hold.
//!
//! Every tensor op is written once, generically, over [`Scalar`]: the trait
//! gathers the arithmetic and the handful of math functions the ops need. Two
//! types implement it: `f32`, which models train in, and `f64`, which gradient
//! checks use because central finite differences in `f32` are too coarse to
//! tell a right gradient from a slightly wrong one.
//!
//! The crates above ask for [`Element`] instead: a `Scalar` that the matrix
//! product ([`matmul`](mod@crate::matmul)) can multiply with machine kernels.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar type a [`Tensor`](crate::Tensor) can hold (`f32` or `f64`).
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// The type's name as it appears in messages and checkpoints (`"f32"`).
    const NAME: &'static str;
    /// Size in bytes of one element.
    const BYTES: usize;
    /// Positive infinity (the identity of `min`; its negation, of `max`).
    const INFINITY: Self;
    /// The smallest positive normal number (below it, denormals).
    const MIN_POSITIVE: Self;

    /// Converts from `f64`, rounding to the nearest representable value.
    fn from_f64(value: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Converts a count or an index to this type.
    fn from_usize(value: usize) -> Self {
        Self::from_f64(value as f64)
    }
    /// `e^x`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, accurate for small `x`.
    fn ln_1p(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `x^p` for a real exponent `p`.
    fn powf(self, exponent: Self) -> Self;
    /// The larger of two values (NaN-propagating is not promised).
    fn max(self, other: Self) -> Self;
    /// The smaller of two values.
    fn min(self, other: Self) -> Self;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
    /// Whether the value is finite (not NaN, not infinite).
    fn is_finite(self) -> bool;
    /// The largest finite value.
    fn max_value() -> Self;
    /// `1 / (1 + e^-x)`, computed without overflow for large `|x|`.
    fn sigmoid(self) -> Self;
}

macro_rules! impl_element {
    ($t:ty, $name:literal, $exp:path, $tanh:path, $sigmoid:path) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            const BYTES: usize = std::mem::size_of::<$t>();
            const INFINITY: Self = <$t>::INFINITY;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;

            #[inline]
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                $sigmoid(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn powf(self, exponent: Self) -> Self {
                <$t>::powf(self, exponent)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn max_value() -> Self {
                <$t>::MAX
            }
        }
    };
}

/// `sigmoid` for `f64`, on whichever side keeps `e^x` from overflowing.
fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The number type of the crates above `tensor`: a [`Scalar`] whose matrix
/// products run on the appendix's machine kernels (`f32` and `f64`).
///
/// It adds no method of its own. Its hidden supertrait,
/// `fast::matmul::GemmElement`, is the one place where the core names the
/// appendix's matrix multiply by type: it hands
/// [`Tensor::matmul`](crate::Tensor::matmul) the SIMD micro-kernels written for
/// this exact type (`f32` and `f64` need different instructions). Every crate
/// above multiplies matrices, so they ask for `Element`; this chapter's ops
/// need only `Scalar`.
pub trait Element: Scalar + crate::fast::matmul::GemmElement {}

impl<T: Scalar + crate::fast::matmul::GemmElement> Element for T {}

// f32 uses the vectorizable versions of the appendix's `fast::fastmath` (within 2 ulp;
// they make an LSTM step markedly faster); f64, which gradient checks use, keeps the
// C library's.
impl_element!(
    f32,
    "f32",
    crate::fast::fastmath::exp_f32,
    crate::fast::fastmath::tanh_f32,
    crate::fast::fastmath::sigmoid_f32
);
impl_element!(f64, "f64", f64::exp, f64::tanh, sigmoid_f64);

#[cfg(test)]
mod tests {
    use super::*;

    /// sigmoid(0) = 1/2; sigmoid(-1000) underflows to 0 instead of NaN (e^1000 = inf).
    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(0.0f64.sigmoid(), 0.5);
        assert_eq!((-1000.0f32).sigmoid(), 0.0);
        assert_eq!(1000.0f32.sigmoid(), 1.0);
    }
}

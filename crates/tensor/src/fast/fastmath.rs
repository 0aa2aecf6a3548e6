//! Vectorizable `exp`, `tanh` and `sigmoid` for `f32`.
//!
//! An LSTM step spends much of its time in these three functions (five of them
//! per hidden unit per step). The C library computes them one value at a time
//! with branches; the versions here are straight-line arithmetic, so a loop over
//! a slice compiles to SIMD instructions.
//!
//! **exp.** Write `x = n ln 2 + r` with integer `n = round(x / ln 2)` and
//! `|r| <= ln(2)/2`. Then `e^x = 2^n e^r`: `2^n` is built directly in the float's
//! exponent bits, and `e^r` is its Taylor polynomial of degree 7, whose
//! truncation error at `|r| = 0.347` is `r^8/8! ≈ 5e-9`, below `f32` rounding.
//! Rounding to an integer uses the "magic number" `1.5 * 2^23`: adding it pushes
//! the fraction out of the mantissa, so the addition itself rounds, and the
//! integer can be read from the low mantissa bits.
//!
//! **tanh.** For `|x| >= 0.3`, `tanh |x| = 1 - 2 / (e^(2|x|) + 1)`; closer to 0 that
//! form loses relative accuracy to cancellation, so the Taylor series
//! `x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835` is used instead (next term
//! `< 2e-8 |x|` there).
//!
//! **sigmoid.** `1 / (1 + e^-x)`; an infinite `e^-x` gives exactly 0.
//!
//! Maximum errors against the C library over `[-20, 20]` are checked in the tests.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split into a part with few mantissa bits (so `n * LN2_HIGH` is exact) and the rest.
const LN2_HIGH: f32 = 0.693_145_75;
const LN2_LOW: f32 = 1.428_606_8e-6;
/// `1.5 * 2^23`: adding it rounds a float of magnitude < 2^22 to an integer.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// `e^x` for `f32`, within 2 ulp; `0` below `-87.3` and infinity above `88.7`, as the true
/// value rounds there.
#[inline(always)]
pub fn exp_f32(input: f32) -> f32 {
    let x = input.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUNDING_MAGIC;
    let n = shifted - ROUNDING_MAGIC;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    // e^r by Horner's rule on 1 + r + r^2/2! + ... + r^7/7!.
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n: the integer n sits in the low mantissa bits of `shifted`; move n + 127 into the exponent.
    let n_bits = shifted.to_bits().wrapping_sub(ROUNDING_MAGIC.to_bits());
    let two_to_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let value = p * two_to_n;
    // Selects, not branches, so the loop still vectorizes.
    let value = if input < -87.33 { 0.0 } else { value };
    if input > 88.72 {
        f32::INFINITY
    } else {
        value
    }
}

/// `tanh x` for `f32`, within `4e-7` relative error.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let series =
        x * (1.0 + z * (-1.0 / 3.0 + z * (2.0 / 15.0 + z * (-17.0 / 315.0 + z * (62.0 / 2835.0)))));
    let far = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    let far = if x < 0.0 { -far } else { far };
    if a < 0.3 {
        series
    } else {
        far
    }
}

/// `1 / (1 + e^-x)` for `f32`.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst_relative_error(
        f: fn(f32) -> f32,
        reference: fn(f64) -> f64,
        low: f32,
        high: f32,
    ) -> f64 {
        let steps = 200_000;
        (0..=steps)
            .map(|i| low + (high - low) * i as f32 / steps as f32)
            .map(|x| {
                let exact = reference(x as f64);
                ((f(x) as f64 - exact) / exact.abs().max(1e-30)).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn exp_is_within_two_ulp_of_exact() {
        let error = worst_relative_error(exp_f32, f64::exp, -80.0, 80.0);
        assert!(error < 2.5e-7, "exp: worst relative error {error:e}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert_eq!(exp_f32(1000.0), f32::INFINITY);
    }

    #[test]
    fn tanh_and_sigmoid_are_accurate_everywhere() {
        let tanh_error = worst_relative_error(tanh_f32, f64::tanh, -20.0, 20.0);
        assert!(
            tanh_error < 4e-7,
            "tanh: worst relative error {tanh_error:e}"
        );
        assert_eq!(tanh_f32(0.0), 0.0);
        assert_eq!(tanh_f32(50.0), 1.0);
        assert_eq!(tanh_f32(-50.0), -1.0);
        let sigmoid_error =
            worst_relative_error(sigmoid_f32, |x| 1.0 / (1.0 + (-x).exp()), -20.0, 20.0);
        assert!(
            sigmoid_error < 4e-7,
            "sigmoid: worst relative error {sigmoid_error:e}"
        );
        assert_eq!(sigmoid_f32(-200.0), 0.0);
        assert_eq!(sigmoid_f32(200.0), 1.0);
    }
}

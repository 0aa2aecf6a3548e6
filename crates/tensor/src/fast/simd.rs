//! Wide vectors for elementwise loops: the same code, compiled for the CPU it runs on.
//!
//! The crate is compiled for the baseline of its target (on x86-64: SSE2,
//! four `f32` lanes), so that the binary runs on any machine. A plain loop
//! such as `out[j] = sigmoid(x[j])` is vectorized by the compiler, but only
//! at that width. [`wide`] runs a loop inside a function compiled with
//! AVX-512 or AVX2 enabled, chosen at run time as the matrix kernels are:
//! the loop is a [`WideLoop`] whose `run` is `#[inline(always)]`, so it is
//! compiled again there, and gets 16 or 8 lanes. (A closure would not do:
//! the compiler may keep it a separate function, compiled for the baseline.)
//!
//! The arithmetic is the same operations in the same order at any width
//! (Rust never fuses `a * b + c` into one rounding unless asked), so the
//! results are bit for bit the same with or without wide vectors.

use std::sync::OnceLock;

/// The widest vector instructions this CPU has, found once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Avx512,
    Avx2,
    Baseline,
}

fn width() -> Width {
    static WIDTH: OnceLock<Width> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Width::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Width::Avx2;
            }
        }
        Width::Baseline
    })
}

/// A loop to run with the widest vectors: implement [`WideLoop::run`] with
/// `#[inline(always)]`, holding the slices it reads and writes.
pub trait WideLoop {
    /// What the loop returns.
    type Output;

    /// The loop. Mark the implementation `#[inline(always)]`: that is what
    /// makes [`wide`] compile it for the wide instructions.
    fn run(self) -> Self::Output;
}

/// Runs `work` compiled with the widest vector instructions this CPU has
/// (see the [module docs](self)).
///
/// ```
/// use tensor::fast::simd::{wide, WideLoop};
///
/// struct Square<'a> { x: &'a [f32], y: &'a mut [f32] }
/// impl WideLoop for Square<'_> {
///     type Output = ();
///     #[inline(always)]
///     fn run(self) {
///         for (y, &x) in self.y.iter_mut().zip(self.x) {
///             *y = x * x + 1.0;
///         }
///     }
/// }
///
/// let x: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0).collect();
/// let mut y = vec![0.0; 1000];
/// wide(Square { x: &x, y: &mut y });
/// assert_eq!(y[10], 1.01);
/// ```
#[inline]
pub fn wide<L: WideLoop>(work: L) -> L::Output {
    match width() {
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => {
            // SAFETY: the CPU has AVX-512F (checked by `width`).
            unsafe { with_avx512(work) }
        }
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => {
            // SAFETY: the CPU has AVX2 and FMA (checked by `width`).
            unsafe { with_avx2(work) }
        }
        _ => work.run(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn with_avx512<L: WideLoop>(work: L) -> L::Output {
    work.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<L: WideLoop>(work: L) -> L::Output {
    work.run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::fastmath::{sigmoid_f32, tanh_f32};

    struct Mix<'a>(&'a [f32]);

    impl WideLoop for Mix<'_> {
        type Output = Vec<f32>;
        #[inline(always)]
        fn run(self) -> Vec<f32> {
            self.0
                .iter()
                .map(|&v| sigmoid_f32(v) * tanh_f32(v) + v * 0.5)
                .collect()
        }
    }

    /// The same loop inside and outside `wide` gives the same bits.
    #[test]
    fn wide_loops_give_the_same_bits() {
        let x: Vec<f32> = (0..4099).map(|i| (i as f32 - 2049.0) / 97.0).collect();
        assert_eq!(Mix(&x).run(), wide(Mix(&x)));
    }
}

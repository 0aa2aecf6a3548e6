//! Flushing denormal numbers to zero, as `torch.set_flush_denormal(True)` does.
//!
//! A float whose exponent is below the smallest normal one (`|x| <
//! 1.18e-38` for `f32`) is *denormal* (subnormal): it gives up precision to
//! get closer to zero. The arithmetic is right, but many cores (Intel's
//! among them) compute with such an operand or result through a slow
//! microcode path (~100 cycles instead of ~4). Training a recurrent network makes them by the million:
//! the gradient sent back through 200 time steps fades, step by step, into
//! the denormal range, and every product with it then takes the slow path
//! (`benches/README.md` has what flushing them saves a training epoch).
//!
//! [`flush_denormals`] runs a closure with the CPU told to treat denormal
//! inputs as zero and to write zero instead of a denormal result (x86: the
//! `DAZ` and `FTZ` bits of `MXCSR`; ARM: `FZ` of `FPCR`), then restores the
//! previous mode. The pool's workers take the mode of the thread that hands
//! them work, for that work only, so a product or a set of shards computes
//! the same numbers on any number of threads, flushed or not.
//!
//! What it changes: only numbers below `1.18e-38` (`f32`) or `2.2e-308`
//! (`f64`), which become 0; a gradient that small moves no weight. Rust and
//! LLVM assume IEEE arithmetic, so code the compiler evaluates at compile
//! time still keeps denormals: a flushed run is reproducible for one build,
//! and equal to an unflushed one except in those tiny values. The
//! [`Trainer`](../../train/trainer/struct.Trainer.html) flushes by default;
//! gradient checks and reference tests run in the default IEEE mode.

use std::cell::Cell;

thread_local! {
    /// Whether this thread is inside [`flush_denormals`] (or a pool task
    /// handed over from such a thread).
    static FLUSHING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this CPU has a flush-to-zero mode that [`flush_denormals`] sets.
pub fn is_supported() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
}

/// Whether the calling thread is running with denormals flushed to zero.
pub fn denormals_flushed() -> bool {
    FLUSHING.with(Cell::get)
}

/// Runs `f` with denormal numbers flushed to zero on this thread and on the
/// pool workers it hands work to; the previous mode is back when `f`
/// returns or panics. On a CPU without the mode ([`is_supported`] false)
/// it just runs `f`.
///
/// ```
/// use std::hint::black_box;
/// use tensor::fast::denormals::flush_denormals;
///
/// let tiny = black_box(f32::MIN_POSITIVE / 4.0); // a denormal
/// assert_eq!(black_box(tiny) * black_box(2.0), f32::MIN_POSITIVE / 2.0);
/// if tensor::fast::denormals::is_supported() {
///     assert_eq!(flush_denormals(|| black_box(tiny) * black_box(2.0)), 0.0);
/// }
/// ```
pub fn flush_denormals<R>(f: impl FnOnce() -> R) -> R {
    with_mode(true, f)
}

/// Runs `f` with the flush mode set to `flush` on this thread, restoring the
/// previous mode afterwards (also on a panic). The pool calls it with the
/// mode of the thread that handed out the work.
pub(crate) fn with_mode<R>(flush: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FLUSHING.with(|mode| mode.set(self.0));
            arch::set(self.0);
        }
    }
    let previous = denormals_flushed();
    if previous == flush {
        return f();
    }
    let _restore = Restore(previous);
    FLUSHING.with(|mode| mode.set(flush));
    arch::set(flush);
    f()
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// `MXCSR` bit 15 (`FTZ`: denormal results become 0) and bit 6 (`DAZ`:
    /// denormal inputs are read as 0).
    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub(super) fn set(flush: bool) {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit control register into `csr`,
        // a live local; `ldmxcsr` loads it back with only the FTZ and DAZ
        // bits changed (no exception is unmasked, the rounding is kept).
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr = if flush { csr | FTZ_DAZ } else { csr & !FTZ_DAZ };
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly));
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// `FPCR` bit 24 (`FZ`: denormal inputs and results are 0).
    const FZ: u64 = 1 << 24;

    pub(super) fn set(flush: bool) {
        let mut fpcr: u64;
        // SAFETY: reads and writes the floating-point control register with
        // only the FZ bit changed.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr = if flush { fpcr | FZ } else { fpcr & !FZ };
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub(super) fn set(_flush: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;
    use std::hint::black_box;

    const TINY: f32 = f32::MIN_POSITIVE / 8.0;

    #[test]
    fn denormals_survive_outside_and_vanish_inside_and_the_mode_is_restored() {
        assert!(!denormals_flushed());
        assert_eq!(black_box(TINY) * black_box(1.0), TINY);
        if !is_supported() {
            return;
        }
        let inside = flush_denormals(|| {
            assert!(denormals_flushed());
            // Nested: still flushed, and still flushed after the inner scope.
            flush_denormals(|| ());
            assert!(denormals_flushed());
            black_box(TINY) * black_box(1.0)
        });
        assert_eq!(inside, 0.0);
        assert!(!denormals_flushed());
        assert_eq!(black_box(TINY) * black_box(1.0), TINY);
        // Restored after a panic too.
        let _ = std::panic::catch_unwind(|| flush_denormals(|| panic!("inside")));
        assert!(!denormals_flushed());
        assert_eq!(black_box(TINY) * black_box(1.0), TINY);
    }

    #[test]
    fn pool_workers_take_the_mode_of_the_thread_that_hands_out_work() {
        if !is_supported() {
            return;
        }
        // Big enough to be split over threads; every element denormal.
        let n = 1 << 21;
        let x = Tensor::<f32>::full(&[n], TINY);
        let run = |threads: usize| {
            crate::fast::threads::set_num_threads(threads);
            let kept = x.scale(1.0).to_vec();
            let flushed = flush_denormals(|| x.scale(1.0).to_vec());
            crate::fast::threads::set_num_threads(0);
            (kept, flushed)
        };
        for threads in [1, 2, 4] {
            let (kept, flushed) = run(threads);
            assert!(kept.iter().all(|&v| v == TINY), "{threads} threads");
            assert!(flushed.iter().all(|&v| v == 0.0), "{threads} threads");
        }
    }
}

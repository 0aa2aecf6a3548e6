//! This machine's peak `f32` multiply-add rate: the ceiling a GEMM is measured against.
//!
//! A loop of fused multiply-adds on values that never leave the registers: no
//! loads, no stores, just enough independent accumulators (12) to keep both FMA
//! units busy through the FMA latency. Whatever this reaches is the most any
//! kernel can do; `benches/matmul.rs` reports its results as a fraction of it.
//!
//! Run with `cargo bench --bench peak`. It measures one core, then all cores at
//! once (one thread each), for every SIMD width the CPU has.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Instant;

/// Independent accumulator chains: FMA latency (4-5 cycles) x 2 FMA units, plus slack.
const CHAINS: usize = 12;
/// FMAs per chain per timed run: a few milliseconds, short enough that most runs
/// are not interrupted by the scheduler on a busy machine.
const STEPS: usize = 1_000_000;
/// Timed runs per thread; the fastest one counts.
const RUNS: usize = 60;

/// A named measurement loop: runs once on the calling thread and returns the flops it did.
type Loop = (&'static str, fn() -> f64);

/// Runs `work` `RUNS` times on each of `threads` threads, all threads starting
/// each run together (a barrier), and returns two figures in GFLOP/s:
/// - **together**: the best run's total flops over the time its slowest thread
///   took: what all cores deliver *at the same moment*, the ceiling for one
///   product split over them;
/// - **summed**: each thread's own best run, added up (the threads' best moments
///   need not coincide, so this is higher on a machine shared with others).
fn measure(threads: usize, work: fn() -> f64) -> (f64, f64) {
    let barrier = Barrier::new(threads);
    let runs: Vec<Vec<(f64, f64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    (0..RUNS)
                        .map(|_| {
                            barrier.wait();
                            let start = Instant::now();
                            let flops = work();
                            (flops, start.elapsed().as_secs_f64())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("peak thread panicked"))
            .collect()
    });
    let together = (0..RUNS)
        .map(|run| {
            let flops: f64 = runs.iter().map(|thread| thread[run].0).sum();
            let slowest = runs.iter().map(|thread| thread[run].1).fold(0.0, f64::max);
            flops / slowest / 1e9
        })
        .fold(0.0, f64::max);
    let summed = runs
        .iter()
        .map(|thread| {
            thread
                .iter()
                .map(|&(flops, seconds)| flops / seconds / 1e9)
                .fold(0.0, f64::max)
        })
        .sum();
    (together, summed)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{black_box, CHAINS, STEPS};
    use std::arch::x86_64::*;

    /// 8-lane FMAs: `acc = acc * m + c` on 12 registers.
    #[target_feature(enable = "avx2,fma")]
    fn fma256() -> f64 {
        let (m, c) = (
            _mm256_set1_ps(black_box(0.999_999)),
            _mm256_set1_ps(black_box(1e-6)),
        );
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..STEPS {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, m, c);
            }
        }
        black_box(acc);
        (STEPS * CHAINS * 8 * 2) as f64
    }

    /// 16-lane FMAs on 12 registers (AVX-512F).
    #[target_feature(enable = "avx512f")]
    fn fma512() -> f64 {
        let (m, c) = (
            _mm512_set1_ps(black_box(0.999_999)),
            _mm512_set1_ps(black_box(1e-6)),
        );
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..STEPS {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, m, c);
            }
        }
        black_box(acc);
        (STEPS * CHAINS * 16 * 2) as f64
    }

    /// The loops this CPU can run, by name.
    pub fn loops() -> Vec<super::Loop> {
        let mut out: Vec<super::Loop> = Vec::new();
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just checked to support AVX2 and FMA.
            out.push(("AVX2+FMA (8 x f32)", || unsafe { fma256() }));
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just checked to support AVX-512F.
            out.push(("AVX-512F (16 x f32)", || unsafe { fma512() }));
        }
        out
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{black_box, CHAINS, STEPS};
    use std::arch::aarch64::*;

    /// 4-lane FMAs on 12 registers.
    #[target_feature(enable = "neon")]
    fn fma128() -> f64 {
        let (m, c) = (
            vdupq_n_f32(black_box(0.999_999)),
            vdupq_n_f32(black_box(1e-6)),
        );
        let mut acc = [vdupq_n_f32(1.0); CHAINS];
        for _ in 0..STEPS {
            for x in acc.iter_mut() {
                *x = vfmaq_f32(c, *x, m);
            }
        }
        black_box(acc);
        (STEPS * CHAINS * 4 * 2) as f64
    }

    /// The loops this CPU can run, by name.
    pub fn loops() -> Vec<super::Loop> {
        // SAFETY: NEON is part of the aarch64 baseline.
        vec![("NEON (4 x f32)", || unsafe { fma128() })]
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // without it, and should not spend seconds spinning.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    let loops = x86::loops();
    #[cfg(target_arch = "aarch64")]
    let loops = arm::loops();
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let loops: Vec<Loop> = Vec::new();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("f32 FMA peak (register-only loop, {CHAINS} chains)");
    for (name, work) in loops {
        measure(1, work); // warm up: let the clock ramp up
        let (one, _) = measure(1, work);
        let (together, summed) = measure(cores, work);
        println!(
            "{name:<22} 1 core: {one:7.1} GFLOP/s   {cores} cores together: {together:7.1} GFLOP/s ({:.2}x)   each core's best, summed: {summed:7.1} ({:.2}x)",
            together / one,
            summed / one
        );
    }
}

//! x86-64 AVX2 + FMA micro-kernels (256-bit vectors: 8 `f32` or 4 `f64` lanes).
//!
//! There are 16 `ymm` registers. A 6 x 16 `f32` tile is 12 accumulators (6 rows
//! of two vectors); each step loads 2 vectors of B and broadcasts 6 values of A
//! one at a time, so 15 registers are busy and 12 independent FMAs per step are
//! enough to cover the FMA latency on two FMA ports. `f64` uses the same shape
//! with half the lanes: 6 x 8.
//!
//! Block sizes (the other loops of the GEMM), for a typical AVX2 core with a
//! 32 KiB L1d, 256-512 KiB L2 and a shared multi-MiB L3:
//! - `kc = 256`: one packed B sliver is `kc x 16 x 4 B = 16 KiB` (`f32`) or
//!   `kc x 8 x 8 B = 16 KiB` (`f64`): half of L1, leaving the other half for the
//!   A sliver streaming through and the C tile. A long `kc` also spreads the
//!   cost of loading and storing the C tile over more FMAs.
//! - `mc`: the packed block of A is `mc x kc`: `144 x 256 x 4 B = 144 KiB` for
//!   `f32`, `72 x 256 x 8 B = 144 KiB` for `f64`, about half of a 256 KiB L2
//!   (Intel) and under a third of Zen's 512 KiB, so B slivers passing through L2
//!   don't evict it. Multiples of `mr = 6`.
//! - `nc = 4080` (a multiple of 16 and 8): the packed panel of B is
//!   `256 x 4080 x 4 B ~ 4 MiB` (`f32`), which lives in L3 and is reused by
//!   every block of A.

use std::arch::x86_64::*;

use super::{simd_tile, MicroKernel};
use crate::fast::matmul::pack;

/// `f32`, 6 x 16 tile.
pub(super) const F32: MicroKernel<f32> = MicroKernel {
    mr: 6,
    nr: 16,
    mc: 144,
    kc: 256,
    nc: 4080,
    tile: tile_f32,
    pack_a: pack::x86::pack_a_f32::<6>,
    pack_b: pack::x86::pack_b_f32::<16>,
};

/// `f64`, 6 x 8 tile.
pub(super) const F64: MicroKernel<f64> = MicroKernel {
    mr: 6,
    nr: 8,
    mc: 72,
    kc: 256,
    nc: 4080,
    tile: tile_f64,
    pack_a: pack::x86::pack_a_f64::<6>,
    pack_b: pack::x86::pack_b_f64::<8>,
};

simd_tile! {
    /// AVX2 + FMA `f32` tile: 6 rows x 2 vectors of 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    fn tile_f32: f32, __m256, mr = 6, vectors = 2, lanes = 8,
    zero = _mm256_setzero_ps(),
    splat = |x| _mm256_set1_ps(x),
    prefetch = |p| _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()),
    fma = |a, b, acc| _mm256_fmadd_ps(a, b, acc),
    mul = |x, y| _mm256_mul_ps(x, y),
    add = |x, y| _mm256_add_ps(x, y),
}

simd_tile! {
    /// AVX2 + FMA `f64` tile: 6 rows x 2 vectors of 4 lanes.
    #[target_feature(enable = "avx2,fma")]
    fn tile_f64: f64, __m256d, mr = 6, vectors = 2, lanes = 4,
    zero = _mm256_setzero_pd(),
    splat = |x| _mm256_set1_pd(x),
    prefetch = |p| _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()),
    fma = |a, b, acc| _mm256_fmadd_pd(a, b, acc),
    mul = |x, y| _mm256_mul_pd(x, y),
    add = |x, y| _mm256_add_pd(x, y),
}

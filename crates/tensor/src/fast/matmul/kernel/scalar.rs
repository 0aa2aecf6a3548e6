//! The portable micro-kernel: plain Rust, no intrinsics.
//!
//! It is the reference the SIMD kernels are tested against and the fallback on
//! CPUs without one. The accumulator tile is a small 2-D array; with `MR` and
//! `NR` known at compile time LLVM keeps it in registers and vectorises the
//! inner loop with the baseline SIMD of the target (SSE2 on x86-64). It uses a
//! separate multiply and add, so its results differ from the FMA kernels' in the
//! last bits, which is why tests compare them with a tolerance.

use super::{update_tile, MicroKernel};
use crate::fast::matmul::pack;
use crate::scalar::Element;

/// `f32`: a 4 x 8 tile (eight SSE accumulators).
pub(super) const F32: MicroKernel<f32> = MicroKernel {
    mr: 4,
    nr: 8,
    mc: 128,
    kc: 256,
    nc: 4096,
    tile: tile::<f32, 4, 8>,
    pack_a: pack::pack_a::<f32, 4>,
    pack_b: pack::pack_b::<f32, 8>,
};

/// `f64`: a 4 x 4 tile (eight SSE2 accumulators of two lanes).
pub(super) const F64: MicroKernel<f64> = MicroKernel {
    mr: 4,
    nr: 4,
    mc: 64,
    kc: 256,
    nc: 4096,
    tile: tile::<f64, 4, 4>,
    pack_a: pack::pack_a::<f64, 4>,
    pack_b: pack::pack_b::<f64, 4>,
};

/// The scalar [`TileFn`](super::TileFn).
///
/// # Safety
/// See [`TileFn`](super::TileFn).
#[allow(clippy::too_many_arguments)] // the `TileFn` signature
unsafe fn tile<T: Element, const MR: usize, const NR: usize>(
    kc: usize,
    alpha: T,
    a: *const T,
    b: *const T,
    beta: T,
    c: *mut T,
    rsc: usize,
    csc: usize,
) {
    // SAFETY: the `TileFn` contract says `a` holds MR*kc and `b` NR*kc elements.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a, MR * kc),
            std::slice::from_raw_parts(b, NR * kc),
        )
    };
    let mut acc = [[T::ZERO; NR]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        for (row, &ai) in acc.iter_mut().zip(ap) {
            for (x, &bj) in row.iter_mut().zip(bp) {
                *x += ai * bj;
            }
        }
    }
    const { assert!(MR * NR <= 64, "scalar tile larger than its spill buffer") };
    let mut spill = [T::ZERO; 64];
    for (i, row) in acc.iter().enumerate() {
        spill[i * NR..(i + 1) * NR].copy_from_slice(row);
    }
    // SAFETY: the `TileFn` contract makes the MR x NR tile at (c, rsc, csc) ours.
    unsafe { update_tile(&spill, NR, MR, NR, alpha, beta, c, rsc, csc) };
}

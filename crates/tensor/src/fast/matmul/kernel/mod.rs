//! Micro-kernels: the innermost piece of the GEMM, computing one register tile.
//!
//! A micro-kernel computes an `MR x NR` block of `C` (the *tile*) as a sum of
//! `kc` outer products, keeping the whole tile in vector registers from the first
//! product to the last. It reads its operands from the packed buffers built by
//! [`pack`](super::pack):
//!
//! ```text
//!   packed A sliver: for p in 0..kc: a[0,p] a[1,p] .. a[MR-1,p]      (MR values per step)
//!   packed B sliver: for p in 0..kc: b[p,0] b[p,1] .. b[p,NR-1]      (NR values per step)
//!
//!   step p:   acc[i][..] += broadcast(a[i,p]) * (b[p,0..NR] as NR/LANES vectors)
//! ```
//!
//! Both slivers are read front to back with unit stride, so every load is a
//! plain vector load and the hardware prefetcher sees one stream each. With
//! `MR * NR / LANES` accumulators, `NR / LANES` vectors of B and one broadcast of
//! A live at a time, the tile sizes below are chosen to use nearly all vector
//! registers while leaving enough independent FMAs in flight to hide their
//! latency (an FMA takes 4-5 cycles and two issue per cycle, so at least 8-10
//! independent accumulators are needed).
//!
//! At the end the tile is written back as `C = alpha * acc + beta * C`. When
//! `beta == 0`, `C` is not read at all, so whatever it held (even NaN) cannot
//! leak into the result. Every kernel computes that update with a separate
//! multiply and add (never a fused one), and so does the scalar code that
//! finishes partial tiles at the matrix edges: a result does not depend on
//! which path wrote it.
//!
//! | kernel   | `f32` tile | `f64` tile | registers             |
//! |----------|-----------:|-----------:|-----------------------|
//! | Scalar   |  4 x 8     |  4 x 4     | whatever LLVM finds   |
//! | Avx2Fma  |  6 x 16    |  6 x 8     | 16 ymm: 12 acc + 2 B + 1 A |
//! | Avx512   | 12 x 32    | 12 x 16    | 32 zmm: 24 acc + 2 B + 1 A |
//! | Neon     |  8 x 12    |  6 x 8     | 32 q: 24 acc + 3-4 B + 1 A |
//!
//! Which kernel runs is decided once per process by [`Kernel::detected`] and
//! can be forced through [`GemmConfig::kernel`](super::GemmConfig::kernel), so
//! tests run every kernel the machine supports against the scalar one.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::thread::LocalKey;

use super::MatRef;
use crate::scalar::Element;

mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

/// A micro-kernel implementation, one per instruction set.
///
/// Every variant exists on every platform so that a configuration can name it;
/// [`Kernel::is_available`] says whether this CPU can run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Portable Rust, no intrinsics: the reference every other kernel is tested against.
    Scalar,
    /// x86-64 with 256-bit AVX2 vectors and fused multiply-add (Haswell, Zen and later).
    Avx2Fma,
    /// x86-64 with 512-bit AVX-512F vectors (Skylake-X, Ice Lake, Zen 4 and later).
    Avx512,
    /// AArch64 with 128-bit NEON (Advanced SIMD) vectors.
    Neon,
}

impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Avx512,
        Kernel::Avx2Fma,
        Kernel::Neon,
        Kernel::Scalar,
    ];

    /// Whether this CPU can run the kernel (checked at run time, not at compile time).
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)] // every arm above may be compiled in or out
            _ => false,
        }
    }

    /// The kernels this CPU can run, fastest first (always ends with [`Kernel::Scalar`]).
    pub fn available() -> Vec<Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }

    /// The fastest kernel this CPU can run: what [`gemm`](super::gemm) uses unless told otherwise.
    ///
    /// The CPU is asked once; later calls return the cached answer.
    pub fn detected() -> Kernel {
        static DETECTED: OnceLock<Kernel> = OnceLock::new();
        *DETECTED.get_or_init(|| Kernel::available()[0])
    }
}

/// `C[tile] = alpha * (packed A sliver) x (packed B sliver) + beta * C[tile]`.
///
/// Arguments: `(kc, alpha, a, b, beta, c, rsc, csc)`.
///
/// # Safety
/// The caller guarantees: `a` points to `MR * kc` readable elements and `b` to
/// `NR * kc` (any alignment); `c` points to an `MR x NR` tile whose element
/// `(i, j)` is at `c + i*rsc + j*csc`, all of them writable and touched by no
/// one else during the call (when `beta == 0` they need not be initialised to
/// anything in particular, they are not read); and the CPU supports the
/// kernel's instruction set.
pub(crate) type TileFn<T> = unsafe fn(usize, T, *const T, *const T, T, *mut T, usize, usize);

/// Packs a block of a matrix into the panel layout a micro-kernel reads.
pub(crate) type PackFn<T> = fn(MatRef<'_, T>, &mut [T]);

/// One micro-kernel for one element type, with the block sizes that suit it.
///
/// Not part of the public API (it is only reachable through the hidden
/// [`GemmElement`] trait).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct MicroKernel<T> {
    /// Rows of the register tile.
    pub(crate) mr: usize,
    /// Columns of the register tile.
    pub(crate) nr: usize,
    /// Rows of A packed at once (a multiple of `mr`): the packed block of A stays in L2.
    pub(crate) mc: usize,
    /// Depth of one rank-`kc` update: one `kc x nr` sliver of packed B stays in L1.
    pub(crate) kc: usize,
    /// Columns of B packed at once (a multiple of `nr`): the packed panel of B stays in L3.
    pub(crate) nc: usize,
    /// The register tile.
    pub(crate) tile: TileFn<T>,
    /// Packs an `mc x kc` block of A into `mr`-row slivers.
    pub(crate) pack_a: PackFn<T>,
    /// Packs a `kc x nc` block of B into `nr`-column slivers.
    pub(crate) pack_b: PackFn<T>,
}

/// Per-type hooks of the GEMM: the micro-kernels for this element type and a
/// per-thread cache of packing buffers.
///
/// A supertrait of [`Element`], implemented for `f32` and `f64` here and
/// nowhere else; it is an implementation detail, not for use outside the crate.
#[doc(hidden)]
pub trait GemmElement: Copy + Send + Sync + 'static {
    /// The micro-kernel of `kernel` for this type.
    ///
    /// # Panics
    /// If the kernel is not compiled in for this target architecture.
    fn micro_kernel(kernel: Kernel) -> MicroKernel<Self>;

    /// Packing buffers kept by the calling thread between products (one per worker).
    fn workspaces() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>>;
}

macro_rules! impl_gemm_element {
    ($t:ty, $scalar:expr, $avx2:ident, $avx512:ident, $neon:ident) => {
        impl GemmElement for $t {
            fn micro_kernel(kernel: Kernel) -> MicroKernel<$t> {
                match kernel {
                    Kernel::Scalar => $scalar,
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2Fma => avx2::$avx2,
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx512 => avx512::$avx512,
                    #[cfg(target_arch = "aarch64")]
                    Kernel::Neon => neon::$neon,
                    #[allow(unreachable_patterns)] // every arm above may be compiled in or out
                    other => panic!("gemm: kernel {other:?} is not compiled for this architecture"),
                }
            }

            fn workspaces() -> &'static LocalKey<RefCell<Vec<Vec<$t>>>> {
                thread_local! {
                    static WORKSPACES: RefCell<Vec<Vec<$t>>> = const { RefCell::new(Vec::new()) };
                }
                &WORKSPACES
            }
        }
    };
}

impl_gemm_element!(f32, scalar::F32, F32, F32, F32);
impl_gemm_element!(f64, scalar::F64, F64, F64, F64);

/// The largest `MR * NR` of any kernel (AVX-512 `f32`, 12 x 32): the size of
/// the scratch tile used at the edges of `C`.
pub(crate) const MAX_TILE: usize = 12 * 32;

/// Writes `c(i, j) = alpha * t(i, j) + beta * c(i, j)` for an `h x w` tile,
/// where `t(i, j) = t[i * ld + j]`. `c` is not read when `beta == 0`.
///
/// This is the same arithmetic (a multiply, a multiply, an add; nothing fused)
/// as every SIMD kernel's write-back, so a partial tile at an edge rounds
/// exactly like a full one.
///
/// # Safety
/// `c + i*rsc + j*csc` must be valid for reads and writes for all `i < h`, `j < w`.
#[allow(clippy::too_many_arguments)] // a BLAS-style tile: pointer and strides
pub(crate) unsafe fn update_tile<T: Element>(
    t: &[T],
    ld: usize,
    h: usize,
    w: usize,
    alpha: T,
    beta: T,
    c: *mut T,
    rsc: usize,
    csc: usize,
) {
    for i in 0..h {
        for (j, &x) in t[i * ld..i * ld + w].iter().enumerate() {
            // SAFETY: the caller promises the h x w tile at (c, rsc, csc) is valid.
            unsafe {
                let p = c.add(i * rsc + j * csc);
                let scaled = alpha * x;
                *p = if beta == T::ZERO {
                    scaled
                } else {
                    scaled + beta * *p
                };
            }
        }
    }
}

/// A vector read or written at any alignment.
///
/// `_mm256_loadu_ps` and friends are implemented with `copy_nonoverlapping`,
/// whose debug-build precondition check (an overlap test on every load) made
/// the kernels several times slower in `dev` builds, where tests and examples
/// run. A field of a `#[repr(packed)]` struct is read and written with plain
/// unaligned vector moves and no such check, in every profile.
#[repr(C, packed)]
pub(crate) struct Unaligned<V>(V);

impl<V: Copy> Unaligned<V> {
    /// Reads a `V` from `p`.
    ///
    /// # Safety
    /// `p` must be valid for reading `size_of::<V>()` bytes.
    #[inline(always)]
    pub(crate) unsafe fn load<T>(p: *const T) -> V {
        // SAFETY: the caller guarantees the bytes are readable; the packed
        // struct has alignment 1, so any address is aligned for it.
        unsafe { (*p.cast::<Unaligned<V>>()).0 }
    }

    /// Writes `value` to `p`.
    ///
    /// # Safety
    /// `p` must be valid for writing `size_of::<V>()` bytes.
    #[inline(always)]
    pub(crate) unsafe fn store<T>(p: *mut T, value: V) {
        // SAFETY: as for `load`, for writing.
        unsafe { (*p.cast::<Unaligned<V>>()).0 = value }
    }
}

/// Generates a SIMD micro-kernel (a [`TileFn`]) from a handful of vector operations.
///
/// The AVX2, AVX-512 and NEON kernels differ only in vector type, width and
/// intrinsic names; the loop is written once here, so the kernels that cannot be
/// run on the test machine share their structure with the ones that are tested.
/// Each arithmetic operation is given as a closure-like pattern `|args| expression`
/// that is pasted inline (a real closure would not inherit the `target_feature`).
/// Vectors are loaded and stored through [`Unaligned`].
macro_rules! simd_tile {
    (
        $(#[$meta:meta])*
        fn $name:ident: $t:ty, $v:ty, mr = $mr:expr, vectors = $nv:expr, lanes = $lanes:expr,
        zero = $zero:expr,
        splat = |$sx:ident| $splat:expr,
        prefetch = |$pp:ident| $prefetch:expr,
        fma = |$fa:ident, $fb:ident, $facc:ident| $fma:expr,
        mul = |$ma:ident, $mb:ident| $mul:expr,
        add = |$aa:ident, $ab:ident| $add:expr $(,)?
    ) => {
        $(#[$meta])*
        /// # Safety
        /// See [`TileFn`](super::TileFn); the CPU must support the enabled features.
        #[allow(clippy::too_many_arguments)] // the `TileFn` signature
        pub(super) unsafe fn $name(
            kc: usize,
            alpha: $t,
            a: *const $t,
            b: *const $t,
            beta: $t,
            c: *mut $t,
            rsc: usize,
            csc: usize,
        ) {
            const MR: usize = $mr;
            const NV: usize = $nv;
            const LANES: usize = $lanes;
            const NR: usize = NV * LANES;
            // SAFETY: the caller upholds the `TileFn` contract: `a` holds MR*kc and
            // `b` NR*kc readable elements, the tile at (c, rsc, csc) is ours to
            // read and write, and the CPU has this function's target features.
            unsafe {
                if csc == 1 {
                    // Ask for the C tile now, so that it has arrived from L2/L3
                    // by the time the sum is done and the tile is written back.
                    for i in 0..MR {
                        let row = c.add(i * rsc);
                        for v in 0..NV {
                            let $pp = row.add(v * LANES) as *const $t;
                            $prefetch;
                        }
                        let $pp = row.add(NR - 1) as *const $t;
                        $prefetch;
                    }
                }
                let mut acc: [[$v; NV]; MR] = [[$zero; NV]; MR];
                let (mut a, mut b) = (a, b);
                for _ in 0..kc {
                    let mut bv: [$v; NV] = [$zero; NV];
                    for (v, slot) in bv.iter_mut().enumerate() {
                        *slot = super::Unaligned::<$v>::load(b.add(v * LANES));
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        let ai: $v = {
                            let $sx: $t = *a.add(i);
                            $splat
                        };
                        for (x, &bb) in row.iter_mut().zip(&bv) {
                            let ($fa, $fb, $facc) = (ai, bb, *x);
                            *x = $fma;
                        }
                    }
                    a = a.add(MR);
                    b = b.add(NR);
                }

                let valpha: $v = {
                    let $sx: $t = alpha;
                    $splat
                };
                if csc == 1 {
                    // Rows of the tile are contiguous in C: vector loads and stores.
                    let vbeta: $v = {
                        let $sx: $t = beta;
                        $splat
                    };
                    for (i, row) in acc.iter().enumerate() {
                        for (v, &x) in row.iter().enumerate() {
                            let p = c.add(i * rsc + v * LANES);
                            let scaled: $v = {
                                let ($ma, $mb) = (valpha, x);
                                $mul
                            };
                            let out: $v = if beta == 0.0 {
                                scaled
                            } else {
                                let old: $v = super::Unaligned::<$v>::load(p);
                                let kept: $v = {
                                    let ($ma, $mb) = (vbeta, old);
                                    $mul
                                };
                                let ($aa, $ab) = (scaled, kept);
                                $add
                            };
                            super::Unaligned::store(p, out);
                        }
                    }
                } else {
                    // Strided C: spill the accumulators, update element by element.
                    let mut spill = [0.0 as $t; MR * NR];
                    for (i, row) in acc.iter().enumerate() {
                        for (v, &x) in row.iter().enumerate() {
                            super::Unaligned::store(spill.as_mut_ptr().add(i * NR + v * LANES), x);
                        }
                    }
                    super::update_tile(&spill, NR, MR, NR, alpha, beta, c, rsc, csc);
                }
            }
        }
    };
}
#[allow(unused_imports)] // used only by the SIMD kernels compiled for this target
pub(crate) use simd_tile;

//! Packing: copying a block of A or B into the order the micro-kernel reads.
//!
//! The micro-kernel wants, for each step `p` of the sum, `MR` consecutive values
//! of a column of A and `NR` consecutive values of a row of B. Packing copies a
//! block into exactly that order, once, so that the kernel (which reuses each
//! packed value many times) reads with unit stride from a small, contiguous,
//! aligned buffer, whatever the strides of the original matrix were:
//!
//! ```text
//!   A block (rows x depth)                packed: slivers of MR rows, depth-major
//!   [ a00 a01 a02 ]                       [ a00 a10 | a01 a11 | a02 a12 ]   rows 0-1
//!   [ a10 a11 a12 ]   -- MR = 2 -->       [ a20  0  | a21  0  | a22  0  ]   rows 2-3
//!   [ a20 a21 a22 ]                                    (zero-padded)
//! ```
//!
//! B is packed the same way after transposing the view (a column of B is a row
//! of Bᵀ), so one function, [`pack_panels`], does both. This is also where
//! transposed, sliced or broadcast (stride 0) operands are absorbed: they cost
//! a different read pattern during packing, and nothing afterwards. The last
//! sliver is padded with zeros, so the kernel always computes full tiles; the
//! padded rows or columns of the result are simply not written back.
//!
//! Packing is plain safe Rust: the sources are [`MatRef`]s, whose bounds were
//! checked when they were made, and slice indexing here costs little next to
//! the `MR`-fold (or `NR`-fold) reuse of every packed value by the kernel.

use super::MatRef;
use crate::scalar::Element;

/// Packs an `rows x depth` block of A into slivers of `MR` rows (see the module docs).
pub(crate) fn pack_a<T: Element, const MR: usize>(a: MatRef<'_, T>, dst: &mut [T]) {
    pack_panels::<T, MR>(a, dst);
}

/// Packs a `depth x cols` block of B into slivers of `NR` columns: for each
/// step `p`, the values `b[p, j0..j0 + NR]`.
pub(crate) fn pack_b<T: Element, const NR: usize>(b: MatRef<'_, T>, dst: &mut [T]) {
    pack_panels::<T, NR>(b.t(), dst);
}

/// Packs `src` (`rows x depth`) into `ceil(rows / P)` slivers of `P x depth`
/// values: sliver `s` holds, for `p in 0..depth`, the column `src[s*P .. s*P + P, p]`
/// (zero beyond the last row).
///
/// # Panics
/// If `dst` is shorter than `ceil(rows / P) * P * depth`.
pub(crate) fn pack_panels<T: Element, const P: usize>(src: MatRef<'_, T>, dst: &mut [T]) {
    let (rows, depth) = (src.rows, src.cols);
    let slivers = rows.div_ceil(P);
    assert!(
        dst.len() >= slivers * P * depth,
        "pack: destination too short"
    );
    if depth == 0 {
        return;
    }
    let (data, rs, cs) = (src.data, src.row_stride, src.col_stride);
    for (s, sliver) in dst.chunks_exact_mut(P * depth).take(slivers).enumerate() {
        let r0 = s * P;
        let h = P.min(rows - r0);
        let start = src.offset + r0 * rs;
        if h == P && rs == 1 {
            // The P values of each column are adjacent in memory: one short copy per step.
            for (p, out) in sliver.chunks_exact_mut(P).enumerate() {
                let from = start + p * cs;
                out.copy_from_slice(&data[from..from + P]);
            }
        } else if cs == 1 {
            // Each row is contiguous along the depth: read rows, write with stride P.
            for i in 0..h {
                let row = &data[start + i * rs..start + i * rs + depth];
                for (out, &x) in sliver.chunks_exact_mut(P).zip(row) {
                    out[i] = x;
                }
            }
            zero_rows::<T, P>(sliver, h);
        } else {
            // Any other layout (both strides > 1, broadcast rows with stride 0, ...).
            for (p, out) in sliver.chunks_exact_mut(P).enumerate() {
                for (i, slot) in out[..h].iter_mut().enumerate() {
                    *slot = data[start + i * rs + p * cs];
                }
            }
            zero_rows::<T, P>(sliver, h);
        }
    }
}

/// Zeroes rows `h..P` of a packed sliver (the padding below the last real row).
fn zero_rows<T: Element, const P: usize>(sliver: &mut [T], h: usize) {
    if h < P {
        for out in sliver.chunks_exact_mut(P) {
            out[h..].fill(T::ZERO);
        }
    }
}

/// Faster packing for the x86 SIMD kernels: the transposing case in AVX registers.
///
/// When the source's rows are contiguous along the depth (`col_stride == 1`:
/// a row-major A, or a B stored transposed such as PyTorch's `[out, in]`
/// weights), each packed step needs one value from each of `P` different rows.
/// Element by element that is a load and a store per value, and it showed:
/// packing the weight of the LSTM step `x Wᵀ` cost ~15% of the whole product.
/// Here a block of 8 rows x 8 steps (`f32`; 4 x 4 for `f64`) is loaded as 8
/// vectors, transposed with shuffles, and stored as 8 vectors.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::{pack_panels, MatRef};
    use crate::fast::matmul::kernel::Unaligned;

    /// [`pack_a`](super::pack_a) for `f32`.
    pub(crate) fn pack_a_f32<const P: usize>(a: MatRef<'_, f32>, dst: &mut [f32]) {
        pack_f32::<P>(a, dst);
    }

    /// [`pack_b`](super::pack_b) for `f32`.
    pub(crate) fn pack_b_f32<const P: usize>(b: MatRef<'_, f32>, dst: &mut [f32]) {
        pack_f32::<P>(b.t(), dst);
    }

    /// [`pack_a`](super::pack_a) for `f64`.
    pub(crate) fn pack_a_f64<const P: usize>(a: MatRef<'_, f64>, dst: &mut [f64]) {
        pack_f64::<P>(a, dst);
    }

    /// [`pack_b`](super::pack_b) for `f64`.
    pub(crate) fn pack_b_f64<const P: usize>(b: MatRef<'_, f64>, dst: &mut [f64]) {
        pack_f64::<P>(b.t(), dst);
    }

    fn pack_f32<const P: usize>(src: MatRef<'_, f32>, dst: &mut [f32]) {
        if src.col_stride == 1 && is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { transposing_f32::<P>(src, dst) }
        } else {
            pack_panels::<f32, P>(src, dst);
        }
    }

    fn pack_f64<const P: usize>(src: MatRef<'_, f64>, dst: &mut [f64]) {
        if src.col_stride == 1 && is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { transposing_f64::<P>(src, dst) }
        } else {
            pack_panels::<f64, P>(src, dst);
        }
    }

    /// Generates the transposing packer for one element type: blocks of
    /// `$lanes` rows x `$lanes` steps go through `$transpose`, the last
    /// `depth % $lanes` steps and the zero padding are done element by element.
    macro_rules! transposing {
        ($name:ident, $t:ty, $lanes:expr, $transpose:ident) => {
            /// Packs `src` (with `col_stride == 1`) like [`pack_panels`].
            #[target_feature(enable = "avx2")]
            fn $name<const P: usize>(src: MatRef<'_, $t>, dst: &mut [$t]) {
                const L: usize = $lanes;
                let (rows, depth, rs) = (src.rows, src.cols, src.row_stride);
                debug_assert_eq!(src.col_stride, 1);
                let slivers = rows.div_ceil(P);
                assert!(
                    dst.len() >= slivers * P * depth,
                    "pack: destination too short"
                );
                let whole = depth - depth % L;
                for (s, sliver) in dst.chunks_exact_mut(P * depth).take(slivers).enumerate() {
                    let r0 = s * P;
                    let h = P.min(rows - r0);
                    for i0 in (0..h).step_by(L) {
                        let rows_here = L.min(h - i0);
                        let first = src.offset + (r0 + i0) * rs;
                        for d0 in (0..whole).step_by(L) {
                            // SAFETY: reads rows r0+i0 .. r0+i0+rows_here (< rows) at
                            // columns d0 .. d0+L (<= depth) of `src`, all inside
                            // `src.data` by the `MatRef` invariant; writes
                            // sliver[(d0 + d) * P + i0 + i] for d < L, i < rows_here,
                            // at most (d0 + L - 1) * P + h - 1 < depth * P = sliver.len().
                            unsafe {
                                $transpose(
                                    src.data.as_ptr().add(first + d0),
                                    rs,
                                    rows_here,
                                    sliver.as_mut_ptr().add(d0 * P + i0),
                                    P,
                                )
                            };
                        }
                    }
                    for d in whole..depth {
                        for i in 0..h {
                            sliver[d * P + i] = src.data[src.offset + (r0 + i) * rs + d];
                        }
                    }
                    if h < P {
                        for out in sliver.chunks_exact_mut(P) {
                            out[h..].fill(0.0);
                        }
                    }
                }
            }
        };
    }

    transposing!(transposing_f32, f32, 8, transpose8_f32);
    transposing!(transposing_f64, f64, 4, transpose4_f64);

    /// Transposes an 8 x 8 `f32` block: row `i < rows` of the source
    /// (`src + i * src_stride`, 8 values) becomes lane `i` of the 8 output
    /// vectors `dst + d * dst_stride`. Only the first `rows` lanes are stored.
    ///
    /// # Safety
    /// AVX2; the `rows` source rows of 8 values are readable; the first `rows`
    /// values of each of the 8 output rows are writable.
    #[target_feature(enable = "avx2")]
    unsafe fn transpose8_f32(
        src: *const f32,
        src_stride: usize,
        rows: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        // SAFETY: per the function's contract; rows past `rows` re-read row 0.
        unsafe {
            let row = |i: usize| -> __m256 {
                Unaligned::load(src.add(if i < rows { i * src_stride } else { 0 }))
            };
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            let (r4, r5, r6, r7) = (row(4), row(5), row(6), row(7));
            // Interleave pairs of rows: t0 = a0 b0 a1 b1 | a4 b4 a5 b5, t1 = a2 b2 a3 b3 | a6 b6 a7 b7, ...
            let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
            let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
            let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
            // Pairs of pairs: s0 = a0 b0 c0 d0 | a4 b4 c4 d4, s1 = a1 b1 c1 d1 | a5 .., ...
            let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            // Join the 128-bit halves: column d = rows a..h at step d.
            let columns = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            if rows == 8 {
                for (d, column) in columns.into_iter().enumerate() {
                    Unaligned::store(dst.add(d * dst_stride), column);
                }
            } else {
                for (d, column) in columns.into_iter().enumerate() {
                    store_first_f32(dst.add(d * dst_stride), column, rows);
                }
            }
        }
    }

    /// Transposes a 4 x 4 `f64` block, like [`transpose8_f32`].
    ///
    /// # Safety
    /// As for [`transpose8_f32`], with 4 values per row.
    #[target_feature(enable = "avx2")]
    unsafe fn transpose4_f64(
        src: *const f64,
        src_stride: usize,
        rows: usize,
        dst: *mut f64,
        dst_stride: usize,
    ) {
        // SAFETY: per the function's contract; rows past `rows` re-read row 0.
        unsafe {
            let row = |i: usize| -> __m256d {
                Unaligned::load(src.add(if i < rows { i * src_stride } else { 0 }))
            };
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            // t0 = a0 b0 | a2 b2, t1 = a1 b1 | a3 b3, t2 = c0 d0 | c2 d2, t3 = c1 d1 | c3 d3
            let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
            let columns = [
                _mm256_permute2f128_pd::<0x20>(t0, t2),
                _mm256_permute2f128_pd::<0x20>(t1, t3),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            ];
            if rows == 4 {
                for (d, column) in columns.into_iter().enumerate() {
                    Unaligned::store(dst.add(d * dst_stride), column);
                }
            } else {
                for (d, column) in columns.into_iter().enumerate() {
                    store_first_f64(dst.add(d * dst_stride), column, rows);
                }
            }
        }
    }

    /// Stores the first `lanes` (< 8) lanes of `v` at `p`, as 4 + 2 + 1 lanes.
    ///
    /// (A masked store, `vmaskmovps`, does the same in one instruction but is
    /// slow on AMD Zen: it made packing a 6-row sliver slower than scalar code.)
    ///
    /// # Safety
    /// AVX2; `p` is valid for writing `lanes` values.
    #[target_feature(enable = "avx2")]
    unsafe fn store_first_f32(p: *mut f32, v: __m256, lanes: usize) {
        // SAFETY: each store writes only lanes below `lanes`, per the contract.
        unsafe {
            let (mut p, mut lanes) = (p, lanes);
            let mut part = _mm256_castps256_ps128(v);
            if lanes >= 4 {
                Unaligned::store(p, part);
                part = _mm256_extractf128_ps::<1>(v);
                p = p.add(4);
                lanes -= 4;
            }
            if lanes >= 2 {
                Unaligned::store(p, _mm_cvtsi128_si64(_mm_castps_si128(part)));
                part = _mm_movehl_ps(part, part);
                p = p.add(2);
                lanes -= 2;
            }
            if lanes == 1 {
                Unaligned::store(p, _mm_cvtss_f32(part));
            }
        }
    }

    /// Stores the first `lanes` (< 4) lanes of `v` at `p`, as 2 + 1 lanes.
    ///
    /// # Safety
    /// AVX2; `p` is valid for writing `lanes` values.
    #[target_feature(enable = "avx2")]
    unsafe fn store_first_f64(p: *mut f64, v: __m256d, lanes: usize) {
        // SAFETY: each store writes only lanes below `lanes`, per the contract.
        unsafe {
            let (mut p, mut lanes) = (p, lanes);
            let mut part = _mm256_castpd256_pd128(v);
            if lanes >= 2 {
                Unaligned::store(p, part);
                part = _mm256_extractf128_pd::<1>(v);
                p = p.add(2);
                lanes -= 2;
            }
            if lanes == 1 {
                Unaligned::store(p, _mm_cvtsd_f64(part));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[[0, 1, 2], [10, 11, 12], [20, 21, 22]]` in row-major order.
    fn three_by_three() -> Vec<f64> {
        vec![0., 1., 2., 10., 11., 12., 20., 21., 22.]
    }

    /// The example of the module docs: MR = 2 over three rows pads the second sliver.
    #[test]
    fn pack_a_makes_depth_major_slivers_with_zero_padding() {
        let data = three_by_three();
        let a = MatRef::new(&data, 0, 3, 3, 3, 1);
        let mut dst = vec![f64::NAN; 2 * 2 * 3];
        pack_a::<f64, 2>(a, &mut dst);
        assert_eq!(
            dst,
            vec![0., 10., 1., 11., 2., 12., 20., 0., 21., 0., 22., 0.]
        );
    }

    /// Packing B takes columns: sliver 0 is columns 0-1 row by row, sliver 1 is column 2 padded.
    #[test]
    fn pack_b_makes_row_major_slivers_of_columns() {
        let data = three_by_three();
        let b = MatRef::new(&data, 0, 3, 3, 3, 1);
        let mut dst = vec![f64::NAN; 2 * 2 * 3];
        pack_b::<f64, 2>(b, &mut dst);
        assert_eq!(
            dst,
            vec![0., 1., 10., 11., 20., 21., 2., 0., 12., 0., 22., 0.]
        );
    }

    /// All three read paths (adjacent columns, contiguous rows, general strides)
    /// produce the same packing of the same logical matrix.
    #[test]
    fn every_layout_packs_the_same() {
        let data = three_by_three();
        let row_major = MatRef::new(&data, 0, 3, 3, 3, 1);
        let transposed: Vec<f64> = (0..9).map(|i| data[(i % 3) * 3 + i / 3]).collect();
        let col_major = MatRef::new(&transposed, 0, 3, 3, 1, 3);
        // Every other element of a 3 x 6 buffer: both strides > 1.
        let spread: Vec<f64> = (0..18)
            .map(|i| if i % 2 == 0 { data[i / 2] } else { -1.0 })
            .collect();
        let strided = MatRef::new(&spread, 0, 3, 3, 6, 2);
        let pack = |m: MatRef<'_, f64>| {
            let mut dst = vec![f64::NAN; 2 * 3 * 3];
            pack_a::<f64, 3>(m, &mut dst[..9]);
            pack_b::<f64, 3>(m, &mut dst[9..]);
            dst
        };
        assert_eq!(pack(row_major), pack(col_major));
        assert_eq!(pack(row_major), pack(strided));
    }

    /// A broadcast row (stride 0) is packed as repeated copies of one row.
    #[test]
    fn broadcast_rows_repeat() {
        let data = vec![1.0f32, 2.0];
        let a = MatRef::new(&data, 0, 3, 2, 0, 1);
        let mut dst = vec![f32::NAN; 4 * 2];
        pack_a::<f32, 4>(a, &mut dst);
        assert_eq!(dst, vec![1., 1., 1., 0., 2., 2., 2., 0.]);
    }

    /// A sub-block with an offset reads only its own elements.
    #[test]
    fn sub_blocks_respect_offset() {
        let data = three_by_three();
        let block = MatRef::new(&data, 4, 2, 2, 3, 1); // [[11, 12], [21, 22]]
        let mut dst = vec![f64::NAN; 4];
        pack_a::<f64, 2>(block, &mut dst);
        assert_eq!(dst, vec![11., 21., 12., 22.]);
    }

    /// The AVX2 transposing packers give exactly what the portable one gives,
    /// for sliver heights that are, or are not, multiples of the vector width,
    /// and depths with a remainder.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_transposing_pack_matches_portable() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        for (rows, depth) in [(1, 1), (5, 7), (16, 8), (13, 19), (40, 33), (6, 256)] {
            let data32: Vec<f32> = (0..rows * (depth + 3))
                .map(|i| i as f32 * 0.5 - 7.0)
                .collect();
            let data64: Vec<f64> = data32.iter().map(|&x| f64::from(x)).collect();
            // Rows contiguous along depth, with 3 elements of padding after each row.
            let a32 = MatRef::new(&data32, 0, rows, depth, depth + 3, 1);
            let a64 = MatRef::new(&data64, 0, rows, depth, depth + 3, 1);
            fn check<T: Element, const P: usize>(
                m: MatRef<'_, T>,
                fast: fn(MatRef<'_, T>, &mut [T]),
                pack_b_side: bool,
            ) {
                let len = m.rows.div_ceil(P) * P * m.cols;
                let (mut want, mut got) =
                    (vec![T::from_f64(9.0); len], vec![T::from_f64(9.0); len]);
                if pack_b_side {
                    pack_b::<T, P>(m.t(), &mut want);
                    fast(m.t(), &mut got);
                } else {
                    pack_a::<T, P>(m, &mut want);
                    fast(m, &mut got);
                }
                assert_eq!(want, got, "P = {P}, {}x{}", m.rows, m.cols);
            }
            check::<f32, 6>(a32, x86::pack_a_f32::<6>, false);
            check::<f32, 12>(a32, x86::pack_a_f32::<12>, false);
            check::<f32, 16>(a32, x86::pack_b_f32::<16>, true);
            check::<f32, 32>(a32, x86::pack_b_f32::<32>, true);
            check::<f64, 6>(a64, x86::pack_a_f64::<6>, false);
            check::<f64, 8>(a64, x86::pack_b_f64::<8>, true);
            check::<f64, 16>(a64, x86::pack_b_f64::<16>, true);
        }
    }
}

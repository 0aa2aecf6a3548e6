//! Running one product on several threads.
//!
//! The threads are the crate's pool (`pool.rs`): started once and kept, so
//! handing a product to them costs about a microsecond when they are awake,
//! not the tens of microseconds of starting threads. There are two ways to
//! share the work, chosen by the shape of C.
//!
//! **Shared panels (the BLIS way), when C has enough rows.** The team walks
//! loops 5 and 4 together. For each rank-`KC` update the members first pack
//! the panel of B *together*, each a few of its slivers, into one buffer; wait
//! for each other (a barrier); then take blocks of rows of A from a counter,
//! one at a time: each packs its block of A into its own buffer and runs the
//! macro-kernel on those rows of C. So B is packed once, as on one thread,
//! and a member slowed down by another process simply takes fewer blocks.
//! Panels alternate between two buffers: a member that runs out of blocks
//! packs its share of the next panel while the others still read the current
//! one, and the one barrier per panel is enough (a buffer is packed again only
//! after every member has passed the barrier of the panel in between, so after
//! it finished multiplying with the buffer's previous panel).
//!
//! ```text
//! for each panel i of B (loops 5 and 4), in buffer i % 2:
//!     member t packs slivers [t S/size, (t+1) S/size) of the panel   -- together
//!     barrier
//!     while a block of rows is left: pack it (own buffer), multiply  -- each alone
//! ```
//!
//! (Cutting C into independent blocks instead, each thread running the whole
//! single-thread GEMM on its block, makes every row block pack *all* of B: a
//! 2-thread 512³ product then spent a quarter of its time packing.)
//!
//! **Column blocks, when C is short and wide.** An LSTM step's product has 64
//! rows and 512 columns. Rows go in slivers of `MR = 6`: 64 rows cut for two
//! threads as 36 + 28, a 25% imbalance, while 512 columns cut evenly as 256 +
//! 256. Here each member runs the single-thread loops on its own block of
//! columns, packing all of A, which is small.
//!
//! **Same result for any thread count.** The depth `k` is never cut, and cuts
//! fall on multiples of the micro-tile, so every element of C is the same sum
//! in the same order whichever thread computes it: results are bitwise
//! identical for 1, 2 or 16 threads (and for a product that runs alone
//! because it was asked for from inside another parallel task).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::kernel::{macro_kernel, CView, GemmElement, MicroKernel};
use super::{balanced_block, gemm_serial, split_workspace, MatRef};
use crate::element::Element;
use crate::pool::{run_team, Team};

/// The least work (in flops, `2 m n k` in all) worth giving one more thread.
///
/// Measured on the 2-core AMD EPYC (Zen 3, AVX2) this was tuned on: one core
/// does ~85 GFLOP/s of GEMM, so 2 MFLOP is ~25 µs of work, against ~1 µs to
/// hand work to an awake pool worker (and 10-50 µs to a sleeping one). The
/// LSTM step `[64 x 128] @ [128 x 512]` (8.4 MFLOP) is split in two.
pub(crate) const MIN_FLOPS_PER_THREAD: usize = 2 << 20;

/// Rows of C per thread (in micro-tiles) below which the columns are split instead.
const MIN_ROW_TILES_PER_THREAD: usize = 8;

/// How many threads a product of this size should use: at most `requested`
/// (`None`: [`crate::threads::num_threads`], asked only when more than one
/// thread could help) and at most `units` (micro-tile rows or columns of C
/// along the dimension that is split).
fn plan_threads(requested: Option<usize>, m: usize, n: usize, k: usize, units: usize) -> usize {
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let useful = (flops / MIN_FLOPS_PER_THREAD).min(units);
    if useful <= 1 {
        return 1;
    }
    requested
        .unwrap_or_else(crate::threads::num_threads)
        .min(useful)
        .max(1)
}

/// Runs `f` with this thread's packing buffer number `slot`.
///
/// The buffers are kept per thread between products, so small products do not
/// allocate (or fault in fresh pages) every time. A nested use of the same slot
/// on this thread (not something the GEMM does) gets a fresh buffer.
fn with_workspace<T: Element, R>(slot: usize, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    <T as GemmElement>::workspaces().with(|buffers| {
        let Ok(mut buffers) = buffers.try_borrow_mut() else {
            return f(&mut Vec::new());
        };
        if buffers.len() <= slot {
            buffers.resize_with(slot + 1, Vec::new);
        }
        f(&mut buffers[slot])
    })
}

/// The five GEMM loops over C, split between up to `threads` threads
/// (`None`: the crate-wide setting).
pub(super) fn gemm_threaded<T: Element>(
    threads: Option<usize>,
    micro: &MicroKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: CView<'_, T>,
) {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let row_tiles = m.div_ceil(micro.mr);
    let col_tiles = n.div_ceil(micro.nr);
    // Rows if every thread gets enough of them (or if C is taller than wide).
    let by_rows = |threads: usize| row_tiles >= threads * MIN_ROW_TILES_PER_THREAD || m >= n;
    let most = if by_rows(2) { row_tiles } else { col_tiles };
    let threads = plan_threads(threads, m, n, k, most);
    if threads == 1 {
        with_workspace(0, |buffer| gemm_serial(micro, alpha, a, b, beta, c, buffer));
    } else if by_rows(threads) {
        shared_panels(threads, micro, alpha, a, b, beta, c);
    } else {
        column_blocks(threads, micro, alpha, a, b, beta, c);
    }
}

/// Cuts `units` micro-tiles into `parts` runs as even as possible; returns
/// each run as `(first element, elements)`, with runs of `unit` elements
/// except for the last, which ends at `len`.
fn even_cuts(len: usize, unit: usize, parts: usize) -> Vec<(usize, usize)> {
    let units = len.div_ceil(unit);
    let parts = parts.clamp(1, units.max(1));
    (0..parts)
        .map(|i| {
            let start = (i * units / parts * unit).min(len);
            let end = ((i + 1) * units / parts * unit).min(len);
            (start, end - start)
        })
        .collect()
}

/// Cuts C at `cuts` (from [`even_cuts`]) with `split` (rows or columns), into
/// blocks that members lock while they write them.
fn cut_into_blocks<'a, T: Element>(
    c: CView<'a, T>,
    cuts: &[(usize, usize)],
    split: impl Fn(CView<'a, T>, usize) -> (CView<'a, T>, CView<'a, T>),
) -> Vec<Mutex<CView<'a, T>>> {
    let mut rest = c;
    let mut blocks = Vec::with_capacity(cuts.len());
    for &(_, size) in cuts {
        let (block, others) = split(rest, size);
        blocks.push(Mutex::new(block));
        rest = others;
    }
    blocks
}

/// Each member runs the single-thread loops on its own blocks of columns of C.
#[allow(clippy::too_many_arguments)] // BLAS-style: scalars, operands, output
fn column_blocks<T: Element>(
    threads: usize,
    micro: &MicroKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: CView<'_, T>,
) {
    let k = a.cols();
    let cuts = even_cuts(b.cols(), micro.nr, threads);
    let blocks = cut_into_blocks(c, &cuts, CView::split_cols);
    run_team(threads, &|team: &Team<'_>| {
        // Member i does blocks i, i + size, ...: all of them even in a smaller team.
        for (block, &(c0, cols)) in blocks
            .iter()
            .zip(&cuts)
            .skip(team.index())
            .step_by(team.size())
        {
            let mut block = block.lock().unwrap_or_else(|e| e.into_inner());
            let c_block = block.block(0, a.rows(), 0, cols);
            with_workspace(0, |buffer| {
                gemm_serial(
                    micro,
                    alpha,
                    a,
                    b.block(0, k, c0, cols),
                    beta,
                    c_block,
                    buffer,
                )
            });
        }
    });
}

/// Two packing buffers (for alternate panels) that all members write
/// (disjoint parts) and then read.
struct SharedPanel<T> {
    data: *mut T,
    /// Elements in each of the two buffers.
    len: usize,
}

// SAFETY: members write only disjoint ranges (their own slivers) of a buffer
// nobody reads at the time, and read a buffer only after the barrier that
// follows its packing; the barrier's release/acquire orders writes before reads.
unsafe impl<T: Send> Sync for SharedPanel<T> {}

impl<T> SharedPanel<T> {
    /// The elements `start .. start + len` of buffer `which` (0 or 1), to write.
    ///
    /// # Safety
    /// No other member may touch this range until the next barrier.
    #[allow(clippy::mut_from_ref)] // disjointness is the caller's promise
    unsafe fn part_mut(&self, which: usize, start: usize, len: usize) -> &mut [T] {
        assert!(
            which < 2 && start + len <= self.len,
            "SharedPanel: range out of bounds"
        );
        // SAFETY: in bounds (checked); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.data.add(which * self.len + start), len) }
    }

    /// The first `len` elements of buffer `which`, to read.
    ///
    /// # Safety
    /// No member may write them while the slice is in use.
    unsafe fn part(&self, which: usize, len: usize) -> &[T] {
        assert!(
            which < 2 && len <= self.len,
            "SharedPanel: range out of bounds"
        );
        // SAFETY: in bounds (checked); nobody writes by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.data.add(which * self.len), len) }
    }
}

/// The team packs each panel of B together, then shares out blocks of rows.
#[allow(clippy::too_many_arguments)] // BLAS-style: scalars, operands, output
fn shared_panels<T: Element>(
    threads: usize,
    micro: &MicroKernel<T>,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: CView<'_, T>,
) {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let (mr, nr) = (micro.mr, micro.nr);
    // As on one thread: `kc` depends on k alone (it decides the arithmetic).
    let kc = balanced_block(k, micro.kc, 1);
    let nc = balanced_block(n, micro.nc, nr);
    // Blocks of rows: a multiple of the thread count, each at most `mc` rows.
    let blocks = threads * m.div_ceil(threads * micro.mc);
    let row_cuts = even_cuts(m, mr, blocks);
    let c_rows = cut_into_blocks(c, &row_cuts, CView::split_rows);
    let a_len = row_cuts
        .iter()
        .map(|&(_, rows)| rows)
        .max()
        .unwrap_or(0)
        .div_ceil(mr)
        * mr
        * kc;
    // One counter of blocks taken per rank-KC update.
    let updates: Vec<(usize, usize)> = (0..n)
        .step_by(nc)
        .flat_map(|jc| (0..k).step_by(kc).map(move |pc| (jc, pc)))
        .collect();
    let taken: Vec<AtomicUsize> = updates.iter().map(|_| AtomicUsize::new(0)).collect();

    // The caller's second buffer holds the two panels; it is taken out of the
    // thread-local for the duration, as member 0 uses the first one meanwhile.
    // Each panel starts on a cache line (16 f32 or 8 f64 per 64 bytes).
    let panel_len = (nc * kc).div_ceil(16) * 16;
    let mut panel_buffer: Vec<T> = with_workspace(1, std::mem::take);
    {
        let (_, panels) = split_workspace(&mut panel_buffer, 0, 2 * panel_len);
        let panels = SharedPanel {
            data: panels.as_mut_ptr(),
            len: panel_len,
        };
        run_team(threads, &|team: &Team<'_>| {
            with_workspace(0, |a_buffer: &mut Vec<T>| {
                let (a_packed, _) = split_workspace(a_buffer, a_len, 0);
                for (i, (&(jc, pc), taken)) in updates.iter().zip(&taken).enumerate() {
                    let which = i % 2;
                    let ncb = nc.min(n - jc);
                    let kcb = kc.min(k - pc);
                    // Pack this member's share of the panel's slivers.
                    let slivers = ncb.div_ceil(nr);
                    let first = team.index() * slivers / team.size();
                    let last = (team.index() + 1) * slivers / team.size();
                    if first < last {
                        let cols = (last * nr).min(ncb) - first * nr;
                        // SAFETY: slivers [first, last) of this buffer are this
                        // member's alone until the barrier below. Every member
                        // finished reading the buffer's previous panel (two
                        // updates ago) before it reached the barrier of the
                        // last update, which this member has passed.
                        let mine = unsafe {
                            panels.part_mut(which, first * nr * kcb, (last - first) * nr * kcb)
                        };
                        (micro.pack_b)(b.block(pc, kcb, jc + first * nr, cols), mine);
                    }
                    team.barrier();
                    // SAFETY: every member has packed its slivers (barrier above),
                    // and nobody writes this buffer again before every member
                    // has passed the next update's barrier, which comes after
                    // this member's last use of the slice.
                    let b_packed = unsafe { panels.part(which, slivers * nr * kcb) };
                    let beta_here = if pc == 0 { beta } else { T::ONE };
                    loop {
                        let i = taken.fetch_add(1, Ordering::Relaxed);
                        let Some(&(r0, rows)) = row_cuts.get(i) else {
                            break;
                        };
                        (micro.pack_a)(a.block(r0, rows, pc, kcb), a_packed);
                        let mut c_block = c_rows[i].lock().unwrap_or_else(|e| e.into_inner());
                        macro_kernel(
                            micro,
                            kcb,
                            alpha,
                            a_packed,
                            b_packed,
                            beta_here,
                            &mut c_block.block(0, rows, jc, ncb),
                        );
                    }
                }
            });
        });
    }
    with_workspace(1, |slot| *slot = panel_buffer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_products_stay_on_one_thread() {
        // 64 x 16 x 16: 32 KFLOP, far below one thread's minimum.
        assert_eq!(plan_threads(Some(8), 64, 16, 16, 100), 1);
        assert_eq!(plan_threads(Some(8), 1024, 1024, 1024, 100), 8);
        assert_eq!(plan_threads(Some(8), 1024, 1024, 1024, 3), 3);
        assert_eq!(plan_threads(Some(0), 1024, 1024, 1024, 3), 1);
        assert!(plan_threads(None, 1024, 1024, 1024, 100) >= 1);
        // The LSTM step product (8.4 MFLOP) is worth two threads.
        assert_eq!(plan_threads(Some(2), 64, 512, 128, 32), 2);
    }

    #[test]
    fn even_cuts_cover_the_range_on_tile_boundaries() {
        for (len, unit, parts) in [
            (64, 6, 2),
            (1024, 6, 8),
            (512, 16, 2),
            (5, 6, 3),
            (100, 16, 7),
        ] {
            let cuts = even_cuts(len, unit, parts);
            let mut next = 0;
            for &(start, size) in &cuts {
                assert_eq!(start, next);
                assert_eq!(start % unit, 0);
                assert!(size > 0);
                next = start + size;
            }
            assert_eq!(next, len, "{len} {unit} {parts}: {cuts:?}");
            let sizes: Vec<usize> = cuts.iter().map(|c| c.1).collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= unit, "{sizes:?}");
        }
    }
}

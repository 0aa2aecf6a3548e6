//! Running one product on several threads.
//!
//! The threads are the crate's pool (`pool.rs`): started once and kept, so
//! handing a product to them costs about a microsecond when they are awake,
//! not the tens of microseconds of starting threads.
//!
//! **One block of C per thread.** C is cut into as many blocks as there are
//! threads, of whole rows or of whole columns, and each thread runs the
//! ordinary single-thread loops on its block, with its own packing buffers.
//! Nothing is shared but the read-only inputs.
//!
//! ```text
//!   rows (m >= n):               columns (n > m):
//!   A[rows 0..m/2] · B  -> thread 0      A · B[:, cols 0..n/2] -> thread 0
//!   A[rows m/2..]  · B  -> thread 1      A · B[:, cols n/2..]  -> thread 1
//! ```
//!
//! The price is repeated packing: each row block packs all of B (`k x n`),
//! each column block all of A (`m x k`). Cutting along the longer side of C
//! makes the repeated operand the smaller one: a `[128 x 12800]ᵀ @ [12800 x
//! 512]` weight gradient is cut into columns, so each thread packs A (1.6 M
//! values) and half of B, rather than all of B (6.6 M). And one block per
//! thread, not more: with four blocks per thread (so a thread slowed down by
//! another process could hand work to the other) B is packed eight times and
//! a 2-thread `512³` product spends a quarter of its time packing.
//!
//! **Why not share the packed panels, as BLIS does?** BLIS packs each panel of
//! B once, together, and splits loop 3 (the blocks of A) between the threads.
//! On a virtual machine whose cores share no L3 (a cache line takes ~400 ns
//! to go from one vCPU to the other and back), reading the half of a panel
//! another core packed costs more than packing it again, so one block per
//! thread is faster there (`benches/README.md`). On a many-core machine with
//! a shared L3 the balance may tip the other way.
//!
//! **Same result for any thread count.** The depth `k` is never cut, and cuts
//! fall on multiples of the micro-tile, so every element of C is the same sum
//! in the same order whichever thread computes it: results are bitwise
//! identical for 1, 2 or 16 threads (and for a product that runs alone
//! because it was asked for from inside another parallel task).

use std::sync::Mutex;

use super::kernel::{GemmElement, MicroKernel};
use super::macro_kernel::CView;
use super::{gemm_serial, MatRef};
use crate::fast::pool::{run_team, Team};
use crate::scalar::Element;

/// The least work (in flops, `2 m n k` in all) worth giving one more thread.
///
/// Measured on the 2-core AMD EPYC (Zen 3, AVX2) this was tuned on: one core
/// does ~85 GFLOP/s of GEMM, so 2 MFLOP is ~25 µs of work, against ~1 µs to
/// hand work to an awake pool worker (and 50-150 µs to a sleeping one). The
/// LSTM step `[64 x 128] @ [128 x 512]` (8.4 MFLOP) is split in two.
pub(crate) const MIN_FLOPS_PER_THREAD: usize = 2 << 20;

/// How many threads a product of this size should use: at most `requested`
/// (`None`: [`crate::fast::threads::num_threads`], asked only when more than one
/// thread could help) and at most `units` (micro-tile rows or columns of C
/// along the dimension that is split).
pub(super) fn plan_threads(
    requested: Option<usize>,
    m: usize,
    n: usize,
    k: usize,
    units: usize,
) -> usize {
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let useful = (flops / MIN_FLOPS_PER_THREAD).min(units);
    if useful <= 1 {
        return 1;
    }
    requested
        .unwrap_or_else(crate::fast::threads::num_threads)
        .min(useful)
        .max(1)
}

/// Runs `f` with this thread's packing buffer number `slot`.
///
/// The buffers are kept per thread between products, so small products do not
/// allocate (or fault in fresh pages) every time. A nested use of the same slot
/// on this thread (not something the GEMM does) gets a fresh buffer.
pub(super) fn with_workspace<T: Element, R>(slot: usize, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
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
    let by_rows = m >= n;
    let (len, unit) = if by_rows {
        (m, micro.mr)
    } else {
        (n, micro.nr)
    };
    let threads = plan_threads(threads, m, n, k, len.div_ceil(unit));
    if threads == 1 {
        with_workspace(0, |buffer| gemm_serial(micro, alpha, a, b, beta, c, buffer));
        return;
    }
    let cuts = even_cuts(len, unit, threads);
    let work = |start: usize, size: usize, c_part: CView<'_, T>| {
        let (a_part, b_part) = if by_rows {
            (a.block(start, size, 0, k), b)
        } else {
            (a, b.block(0, k, start, size))
        };
        with_workspace(0, |buffer| {
            gemm_serial(micro, alpha, a_part, b_part, beta, c_part, buffer)
        });
    };
    if by_rows {
        for_each_block(threads, c, &cuts, CView::split_rows, &work);
    } else {
        for_each_block(threads, c, &cuts, CView::split_cols, &work);
    }
}

/// Cuts C at `cuts` (from [`even_cuts`]) with `split` (rows or columns) and
/// runs `work(start, size, block)` for every block on a team of `threads`:
/// member `i` takes blocks `i, i + team size, ...`, all of them even in a
/// smaller team.
pub(super) fn for_each_block<'a, T: Element>(
    threads: usize,
    c: CView<'a, T>,
    cuts: &[(usize, usize)],
    split: impl Fn(CView<'a, T>, usize) -> (CView<'a, T>, CView<'a, T>),
    work: &(dyn Fn(usize, usize, CView<'_, T>) + Sync),
) {
    let blocks = cut_into_blocks(c, cuts, split);
    run_team(threads, &|team: &Team| {
        for (block, &(start, size)) in blocks
            .iter()
            .zip(cuts)
            .skip(team.index())
            .step_by(team.size())
        {
            let mut block = block.lock().unwrap_or_else(|e| e.into_inner());
            let (rows, cols) = (block.rows(), block.cols());
            work(start, size, block.block(0, rows, 0, cols));
        }
    });
}

/// Cuts `units` micro-tiles into `parts` runs as even as possible; returns
/// each run as `(first element, elements)`, with runs of `unit` elements
/// except for the last, which ends at `len`.
pub(super) fn even_cuts(len: usize, unit: usize, parts: usize) -> Vec<(usize, usize)> {
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
/// blocks that members lock while they write them (each block is written by
/// one member only; the lock is how a block is handed to it safely).
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

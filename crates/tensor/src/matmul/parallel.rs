//! Running one product on several threads.
//!
//! C is cut into blocks of whole rows (each block is some rows of A times all
//! of B) or of whole columns (all of A times some columns of B), along whichever
//! dimension is longer. Each block is an independent product: a thread runs the
//! ordinary single-threaded loops on it, with its own packing buffers. Nothing
//! is shared but the read-only inputs and a list of blocks not yet taken.
//!
//! There are a few more blocks than threads (`BLOCKS_PER_THREAD` each), and a
//! thread that finishes one takes the next from the list. With exactly one
//! block per thread, a thread that shares its core with another process (a
//! compiler, say) would make the whole product wait for it; with several, the
//! faster threads simply take more blocks. The price is some repeated packing:
//! every row block packs all of B (`k x n`), every column block all of A.
//!
//! The cuts fall on multiples of the micro-tile (`MR` rows or `NR` columns), so
//! the tiles are the same as on one thread, and the depth `k` is never cut, so
//! every element of C is the same sum in the same order: the result is bitwise
//! identical for any thread count, and whichever thread computes a block.
//!
//! Threads are started per product (no pool), which costs tens of microseconds;
//! a product is split only when each thread gets at least
//! [`MIN_FLOPS_PER_THREAD`] of work.

use std::sync::Mutex;

use super::kernel::{CView, GemmElement, MicroKernel};
use super::{gemm_serial, MatRef};
use crate::element::Element;

/// The least work (in flops, `2 m n k` in all) worth giving one more thread.
///
/// Measured on the 2-core AMD EPYC (Zen 3, AVX2) this was tuned on: starting
/// and joining a scoped thread costs ~21 µs at best, and much more (100s of
/// µs) when the other core is busy with other processes, while one core does
/// ~85 GFLOP/s of GEMM, i.e. ~2 MFLOP in those 21 µs. With 8 MFLOP per thread
/// the start-up is at most ~20% of a thread's share even at the threshold.
/// The LSTM step `[64 x 128] @ [128 x 512]` (8.4 MFLOP) therefore stays on
/// one thread; the whole-sequence products (1.7 GFLOP) use every core.
pub(crate) const MIN_FLOPS_PER_THREAD: usize = 8 << 20;

/// Blocks of C per thread: enough that a thread slowed down by another process
/// on its core hands its share to the others, few enough that the repeated
/// packing (each block packs one whole operand) stays a few percent.
const BLOCKS_PER_THREAD: usize = 4;

/// How many threads a product of this size should use: at most `requested`
/// (`None`: [`crate::threads::num_threads`], asked only when more than one
/// thread could help) and at most `units` (the number of `MR`-row or
/// `NR`-column strips of C along the dimension that is split).
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
    let split_rows = m >= n;
    let (len, unit) = if split_rows {
        (m, micro.mr)
    } else {
        (n, micro.nr)
    };
    let units = len.div_ceil(unit);
    let threads = plan_threads(threads, m, n, k, units);

    <T as GemmElement>::workspaces().with(|pool| {
        // A nested call on this thread (not something the GEMM does) would find
        // the pool borrowed; it then just uses fresh buffers.
        let mut fresh = Vec::new();
        let mut borrowed = pool.try_borrow_mut();
        let buffers: &mut Vec<Vec<T>> = match borrowed.as_deref_mut() {
            Ok(buffers) => buffers,
            Err(_) => &mut fresh,
        };
        if buffers.len() < threads {
            buffers.resize_with(threads, Vec::new);
        }
        if threads == 1 {
            gemm_serial(micro, alpha, a, b, beta, c, &mut buffers[0]);
            return;
        }

        // Cut [0, len) into blocks of whole units, as even as possible.
        let blocks = (threads * BLOCKS_PER_THREAD).min(units);
        let (per, extra) = (units / blocks, units % blocks);
        let mut todo = Vec::with_capacity(blocks);
        let mut rest = c;
        let mut start = 0;
        for i in 0..blocks {
            let size = ((per + usize::from(i < extra)) * unit).min(len - start);
            let (block, others) = if split_rows {
                rest.split_rows(size)
            } else {
                rest.split_cols(size)
            };
            rest = others;
            let (a_part, b_part) = if split_rows {
                (a.block(start, size, 0, k), b)
            } else {
                (a, b.block(0, k, start, size))
            };
            todo.push((a_part, b_part, block));
            start += size;
        }
        todo.reverse(); // taken with `pop`: first block first
        let todo = Mutex::new(todo);
        let work = |buffer: &mut Vec<T>| loop {
            let next = todo.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match next {
                Some((a_part, b_part, block)) => {
                    gemm_serial(micro, alpha, a_part, b_part, beta, block, buffer)
                }
                None => break,
            }
        };
        std::thread::scope(|scope| {
            let (mine, others) = buffers[..threads].split_first_mut().expect("threads >= 2");
            for buffer in others {
                let work = &work;
                scope.spawn(move || work(buffer));
            }
            work(mine); // the calling thread works too
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_products_stay_on_one_thread() {
        assert_eq!(plan_threads(Some(8), 64, 512, 128, 100), 1);
        assert_eq!(plan_threads(Some(8), 1024, 1024, 1024, 100), 8);
        assert_eq!(plan_threads(Some(8), 1024, 1024, 1024, 3), 3);
        assert_eq!(plan_threads(Some(0), 1024, 1024, 1024, 3), 1);
        assert!(plan_threads(None, 1024, 1024, 1024, 100) >= 1);
    }
}

//! How many threads big ops may use.
//!
//! Like `torch.set_num_threads`, one process-wide setting says how many threads
//! large elementwise ops and matrix products split their work over. It defaults
//! to the number of cores. Results never depend on it: work is split over
//! disjoint pieces of the output, never over a sum. The threads themselves are
//! started once and kept (`pool.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::pool::run_team;

static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The number of cores, asked of the OS once: the question reads cgroup files
/// and costs ~30 µs, far more than a small op.
fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The number of threads large ops use (the available cores unless set).
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => available_cores(),
        n => n,
    }
}

/// Sets the number of threads large ops use; 0 restores the default (all cores).
pub fn set_num_threads(threads: usize) {
    NUM_THREADS.store(threads, Ordering::Relaxed);
}

/// Below this many elements per thread, handing work to another thread costs
/// more than it saves (an elementwise op does ~1-4 elements per ns; waking a
/// sleeping pool worker takes ~10-50 µs).
pub(crate) const MIN_ELEMENTS_PER_THREAD: usize = 1 << 16;

/// Fills `out` by calling `fill(first_index, chunk)` on disjoint chunks, on
/// several threads of the pool (`pool.rs`) when `out` is large enough to be
/// worth it.
pub(crate) fn fill_in_parallel<T: Send>(out: &mut [T], fill: impl Fn(usize, &mut [T]) + Sync) {
    if out.len() < 2 * MIN_ELEMENTS_PER_THREAD {
        fill(0, out);
        return;
    }
    let threads = num_threads()
        .min(out.len() / MIN_ELEMENTS_PER_THREAD)
        .max(1);
    if threads == 1 {
        fill(0, out);
        return;
    }
    let chunk = out.len().div_ceil(threads);
    let pieces: Vec<Mutex<(usize, &mut [T])>> = out
        .chunks_mut(chunk)
        .enumerate()
        .map(|(i, piece)| Mutex::new((i * chunk, piece)))
        .collect();
    // Member i fills pieces i, i + size, ...: all of them even if the team is
    // smaller than asked (the pool was busy).
    run_team(threads, &|team| {
        for piece in pieces.iter().skip(team.index()).step_by(team.size()) {
            let mut piece = piece.lock().unwrap_or_else(|e| e.into_inner());
            let (start, ref mut slice) = *piece;
            fill(start, slice);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_fill_covers_every_element_once() {
        let mut out = vec![0usize; 3 * MIN_ELEMENTS_PER_THREAD + 7];
        fill_in_parallel(&mut out, |start, chunk| {
            for (i, x) in chunk.iter_mut().enumerate() {
                *x += start + i;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &x)| x == i));
    }
}

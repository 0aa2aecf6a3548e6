//! How many threads big ops may use.
//!
//! Like `torch.set_num_threads`, one process-wide setting says how many threads
//! large elementwise ops and matrix products split their work over. It defaults
//! to the number of cores, or to the environment variable
//! `TAPEGRAD_NUM_THREADS` when that is set. Results never depend on it: work
//! is split over disjoint pieces of the output, never over a sum. The threads
//! themselves are started once and kept (`pool.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::fast::pool::run_team;

static NUM_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The environment variable that sets the default thread count (as
/// `OMP_NUM_THREADS` does for PyTorch): `TAPEGRAD_NUM_THREADS=1 cargo run ...`.
pub const NUM_THREADS_VAR: &str = "TAPEGRAD_NUM_THREADS";

/// The default thread count, worked out once: [`NUM_THREADS_VAR`] if it is set
/// to a positive whole number, else the number of cores (asking the OS reads
/// cgroup files and costs ~30 µs, far more than a small op). A value that is
/// not a positive number is reported on stderr once and ignored.
fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (threads, complaint) = threads_from_env(std::env::var(NUM_THREADS_VAR), cores);
        if let Some(complaint) = complaint {
            eprintln!("tapegrad: {complaint}");
        }
        threads
    })
}

/// The thread count [`NUM_THREADS_VAR`] asks for (`value`, as read from the
/// environment), or `cores` if it is unset or unusable, and in that last case
/// what is wrong with it.
fn threads_from_env(
    value: Result<String, std::env::VarError>,
    cores: usize,
) -> (usize, Option<String>) {
    let text = match value {
        Err(std::env::VarError::NotPresent) => return (cores, None),
        Err(std::env::VarError::NotUnicode(text)) => format!("{text:?}"),
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(threads) if threads > 0 => return (threads, None),
            _ => format!("{text:?}"),
        },
    };
    let complaint = format!(
        "ignoring {NUM_THREADS_VAR}={text}: not a positive whole number; using {cores} threads (one per core)"
    );
    (cores, Some(complaint))
}

/// The number of threads large ops use: the last [`set_num_threads`], else
/// [`NUM_THREADS_VAR`], else the number of cores.
pub fn num_threads() -> usize {
    match NUM_THREADS.load(Ordering::Relaxed) {
        0 => default_threads(),
        n => n,
    }
}

/// Sets the number of threads large ops use; 0 restores the default
/// ([`NUM_THREADS_VAR`] or all cores).
pub fn set_num_threads(threads: usize) {
    NUM_THREADS.store(threads, Ordering::Relaxed);
}

/// Below this many elements per thread, handing work to another thread costs
/// more than it saves: an elementwise op does ~1-4 elements per ns, and a pool
/// worker takes ~1 µs to pick up work when it is awake but 50-150 µs (measured
/// on a 2-vCPU VM) when it has gone to sleep.
pub(crate) const MIN_ELEMENTS_PER_THREAD: usize = 1 << 16;

/// Whether an elementwise op over `len` elements is big enough to be split
/// over threads (with more than one thread to split over).
pub(crate) fn worth_splitting(len: usize) -> bool {
    len >= 2 * MIN_ELEMENTS_PER_THREAD && num_threads() > 1
}

/// Fills `out` by calling `fill(first_index, chunk)` on disjoint chunks, on
/// several threads of the pool (`pool.rs`) when `out` is large enough to be
/// worth it.
pub(crate) fn fill_in_parallel<T: Send>(out: &mut [T], fill: impl Fn(usize, &mut [T]) + Sync) {
    if !worth_splitting(out.len()) {
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
    // smaller than asked (a call from inside another parallel task runs alone).
    run_team(threads, &|team| {
        for piece in pieces.iter().skip(team.index()).step_by(team.size()) {
            let mut piece = piece.lock().unwrap_or_else(|e| e.into_inner());
            let (start, ref mut slice) = *piece;
            fill(start, slice);
        }
    });
}

/// `[f(0), f(1), .., f(count - 1)]`, the calls spread over the pool's
/// threads (each thread takes the next index not yet taken, so uneven calls
/// balance out). Each call runs on one thread: ops inside it (a product, a
/// large elementwise op) run alone rather than asking for more threads.
///
/// This is how a training step runs the shards of a batch, one tape per
/// shard, at the same time. The result does not depend on the number of
/// threads: each `f(i)` is computed the same way wherever it runs, and the
/// results come back in index order.
///
/// ```
/// let squares = tensor::parallel_map(5, |i| i * i);
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// ```
///
/// # Panics
/// If a call panics (the panic is raised again here, after the other calls stopped).
pub fn parallel_map<R: Send>(count: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let threads = num_threads().min(count);
    if threads <= 1 {
        return (0..count).map(f).collect();
    }
    let results: Vec<Mutex<Option<R>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    run_team(threads, &|_team| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            break;
        }
        let value = f(i);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every index was computed")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_returns_every_result_in_order() {
        let results = parallel_map(37, |i| (i, std::thread::current().id()));
        assert!(results.iter().enumerate().all(|(i, (j, _))| i == *j));
        // Inside a call, ops run alone: a nested parallel_map works and keeps its order.
        let nested = parallel_map(3, |i| parallel_map(4, move |j| 10 * i + j));
        assert_eq!(nested[2], [20, 21, 22, 23]);
        assert!(parallel_map(0, |i| i).is_empty());
    }

    #[test]
    fn thread_count_from_the_environment() {
        use std::env::VarError;
        assert_eq!(threads_from_env(Err(VarError::NotPresent), 4), (4, None));
        assert_eq!(threads_from_env(Ok(" 3 ".into()), 4), (3, None));
        for bad in ["0", "-2", "two", ""] {
            let (threads, complaint) = threads_from_env(Ok(bad.into()), 4);
            assert_eq!(threads, 4);
            let complaint = complaint.expect("a bad value is reported");
            assert!(complaint.contains(NUM_THREADS_VAR) && complaint.contains(&format!("{bad:?}")));
        }
    }

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

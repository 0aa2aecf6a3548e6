//! A pool of worker threads that big ops run on.
//!
//! Starting a thread costs tens of microseconds (hundreds when the other core
//! is busy): as much as a whole `[64 x 128] @ [128 x 512]` product, the one an
//! LSTM does at every time step. So the threads are started once, on first
//! use, and kept. An op hands the pool a *task*; the calling thread and
//! `threads - 1` workers each run it, as the members of a [`Team`], and the
//! call returns when all of them are done:
//!
//! ```text
//! caller:    run_team(2, task) ──► task(member 0) ──► wait for the others ──► return
//! worker 1:  (spinning or asleep) ──► task(member 1) ──► done ──► spin, then sleep
//! ```
//!
//! A task reads its member index and the team size and takes its share of the
//! work: `for piece in (team.index()..pieces).step_by(team.size())`, say.
//!
//! **Handing over work.** A worker that has just finished keeps checking for a
//! new task for [`SPIN_TIME`] before it goes to sleep. In a loop of products
//! (the time loop of an RNN) the next task then arrives while the worker is
//! awake, and handing it over costs well under a microsecond; waking a sleeping
//! thread costs a system call on each side, tens to hundreds of microseconds.
//!
//! **One task at a time.** The pool runs one task at a time. A thread that
//! asks while it is busy waits for the running task to finish (two tests
//! running at once take turns, each with the whole pool). A task that itself
//! asks for a team (a member calling a parallel op) gets a team of one,
//! itself, and does that inner work alone: never a deadlock. Tasks are written
//! so that their result does not depend on the team size.
//!
//! **Panics.** A panic in any member is caught and raised again on the calling
//! thread once every member has stopped: no worker is left running a task
//! whose data is gone.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::fast::denormals::{denormals_flushed, with_mode};

/// How long an idle worker keeps checking for a new task before it sleeps.
///
/// Waking a sleeping thread costs tens to hundreds of microseconds on a
/// virtual machine, more than an LSTM step's product takes on two threads,
/// while an awake worker picks a task up within a microsecond. An RNN's time
/// loop does a few tens to hundreds of microseconds of elementwise work between
/// products, so a worker that spins for a millisecond is almost always awake
/// when the next product comes. (OpenMP runtimes spin for similar times before
/// they sleep.) While it spins it yields its core to any other thread that
/// wants it.
pub(crate) const SPIN_TIME: Duration = Duration::from_millis(1);

/// The most worker threads the pool will start, whatever is asked.
const MAX_WORKERS: usize = 1023;

/// One member's view of a running task.
pub(crate) struct Team {
    index: usize,
    size: usize,
}

impl Team {
    /// This member's index, `0..size()`; the calling thread is member 0.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The number of members running the task.
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// A task being run, on the caller's stack; workers reach it by pointer.
struct Job<'a> {
    task: &'a (dyn Fn(&Team) + Sync),
    /// Whether the caller flushes denormals: every member does the same
    /// for this task (`denormals.rs`), so the numbers match any team size.
    flush_denormals: bool,
    /// The first panic of a member, raised again on the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

thread_local! {
    /// Whether this thread is running a task as a member of a team.
    static IN_TEAM: Cell<bool> = const { Cell::new(false) };
}

impl Job<'_> {
    /// Runs the task as member `index`; a panic is kept for the caller.
    fn run_member(&self, index: usize, size: usize) {
        let team = Team { index, size };
        IN_TEAM.with(|flag| flag.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            with_mode(self.flush_denormals, || (self.task)(&team))
        }));
        IN_TEAM.with(|flag| flag.set(false));
        if let Err(payload) = result {
            let mut first = self.panic.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert(payload);
        }
    }
}

/// What the caller and the workers share.
struct Shared {
    /// `(task number << 16) | team size`, published together so that a worker
    /// always reads a team size that belongs to the task number it sees.
    ticket: AtomicU64,
    /// The current [`Job`] (type-erased); valid while its task runs.
    job: AtomicPtr<()>,
    /// Workers that have finished the current task.
    finished: AtomicUsize,
    /// Workers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

/// The pool: the shared state, and the lock a caller holds while its task runs
/// (it guards the number of workers started so far).
struct Pool {
    shared: &'static Shared,
    workers: Mutex<usize>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        shared: Box::leak(Box::new(Shared {
            ticket: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            finished: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
        })),
        workers: Mutex::new(0),
    })
}

/// The loop of worker `index` (its member index in every team it joins).
///
/// `seen` is the number of the last task published before the worker started:
/// the next one is its first.
fn worker_loop(shared: &'static Shared, index: usize, mut seen: u64) {
    loop {
        let ticket = wait_for_task(shared, seen);
        seen = ticket >> 16;
        let size = (ticket & 0xffff) as usize;
        if index >= size {
            continue; // not in this team
        }
        // SAFETY: the pointer was stored before the ticket (both SeqCst), and the
        // caller does not return (so the job stays alive) until this member has
        // added itself to `finished` below.
        let job = unsafe { &*shared.job.load(Ordering::Acquire).cast::<Job<'_>>() };
        job.run_member(index, size);
        shared.finished.fetch_add(1, Ordering::Release);
    }
}

/// Waits for a ticket with a task number other than `seen`: spinning for
/// [`SPIN_TIME`], then asleep.
fn wait_for_task(shared: &Shared, seen: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let ticket = shared.ticket.load(Ordering::Acquire);
        if ticket >> 16 != seen {
            return ticket;
        }
        spins += 1;
        if spins.is_multiple_of(256) {
            if start.elapsed() > SPIN_TIME {
                break;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    let mut guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
    shared.sleepers.fetch_add(1, Ordering::SeqCst);
    loop {
        // SeqCst on both sides: either this load sees the new ticket, or the
        // caller's load of `sleepers` sees us and it notifies under the lock.
        let ticket = shared.ticket.load(Ordering::SeqCst);
        if ticket >> 16 != seen {
            shared.sleepers.fetch_sub(1, Ordering::SeqCst);
            return ticket;
        }
        guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
    }
}

/// Runs `task` on a team of up to `threads` members (the calling thread and
/// pool workers) and returns when every member has returned.
///
/// Called from inside a task (nested), the team is the caller alone. If another
/// thread's task is running, this waits for it to finish. The team is smaller
/// than asked only if the OS refuses to start a thread, and never larger than
/// [`MAX_WORKERS`] + 1.
///
/// # Panics
/// If a member panicked: the first panic is raised again here, after every
/// member has stopped.
pub(crate) fn run_team(threads: usize, task: &(dyn Fn(&Team) + Sync)) {
    let alone = |task: &(dyn Fn(&Team) + Sync)| task(&Team { index: 0, size: 1 });
    if threads <= 1 || IN_TEAM.with(Cell::get) {
        return alone(task);
    }
    let pool = pool();
    // Waits while another thread's task runs.
    let mut started = pool.workers.lock().unwrap_or_else(|e| e.into_inner());
    let wanted = (threads - 1).min(MAX_WORKERS);
    while *started < wanted {
        let (shared, index) = (pool.shared, *started + 1);
        let seen = shared.ticket.load(Ordering::SeqCst) >> 16;
        let spawned = std::thread::Builder::new()
            .name(format!("tapegrad-worker-{index}"))
            .spawn(move || worker_loop(shared, index, seen));
        if spawned.is_err() {
            break; // the OS refused a thread: make do with the ones we have
        }
        *started += 1;
    }
    let size = wanted.min(*started) + 1;
    if size == 1 {
        return alone(task);
    }

    let shared = pool.shared;
    let job = Job {
        task,
        flush_denormals: denormals_flushed(),
        panic: Mutex::new(None),
    };
    shared.finished.store(0, Ordering::SeqCst);
    shared
        .job
        .store((&job as *const Job<'_>).cast_mut().cast(), Ordering::SeqCst);
    let number = (shared.ticket.load(Ordering::SeqCst) >> 16) + 1;
    shared
        .ticket
        .store((number << 16) | size as u64, Ordering::SeqCst);
    if shared.sleepers.load(Ordering::SeqCst) > 0 {
        let _guard = shared.sleep_lock.lock().unwrap_or_else(|e| e.into_inner());
        shared.wake.notify_all();
    }

    job.run_member(0, size);
    // Wait for the other members, whatever happened to this one.
    let mut spins = 0u32;
    while shared.finished.load(Ordering::Acquire) != size - 1 {
        spins += 1;
        if spins.is_multiple_of(64) {
            std::thread::yield_now(); // let a member that shares our core run
        } else {
            std::hint::spin_loop();
        }
    }
    shared.job.store(std::ptr::null_mut(), Ordering::SeqCst);
    drop(started);
    let payload = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(payload) = payload {
        panic::resume_unwind(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_runs_once_and_sees_the_team_size() {
        for threads in [1, 2, 3, 5] {
            let runs: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
            let sizes = Mutex::new(Vec::new());
            run_team(threads, &|team| {
                runs[team.index()].fetch_add(1, Ordering::Relaxed);
                sizes.lock().unwrap().push(team.size());
            });
            assert_eq!(sizes.into_inner().unwrap(), vec![threads; threads]);
            for (member, count) in runs.iter().enumerate() {
                assert_eq!(count.load(Ordering::Relaxed), 1, "member {member}");
            }
        }
    }

    #[test]
    fn a_task_that_asks_for_a_team_runs_alone_inside() {
        let inner_sizes = Mutex::new(Vec::new());
        run_team(2, &|_outer| {
            run_team(2, &|inner| inner_sizes.lock().unwrap().push(inner.size()));
        });
        let sizes = inner_sizes.into_inner().unwrap();
        assert!(sizes.iter().all(|&s| s == 1), "{sizes:?}");
    }

    #[test]
    fn a_panicking_member_panics_the_caller() {
        let finished = AtomicUsize::new(0);
        let result = panic::catch_unwind(|| {
            run_team(3, &|team| {
                if team.index() == team.size() - 1 {
                    panic!("member failed");
                }
                finished.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert!(result.is_err());
        // The caller saw the panic only after the other members had finished.
        assert_eq!(finished.load(Ordering::Relaxed), 2);
        // The pool still works afterwards.
        let count = AtomicUsize::new(0);
        run_team(3, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn many_callers_at_once_all_finish() {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        let count = AtomicUsize::new(0);
                        run_team(2, &|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                        assert_eq!(count.load(Ordering::Relaxed), 2);
                    }
                });
            }
        });
    }
}

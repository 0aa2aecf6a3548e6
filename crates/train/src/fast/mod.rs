//! # Appendix: training on every core
//!
//! The chapters of this crate train the plain way: each batch on one tape,
//! each parameter updated in one call. This appendix holds what makes the
//! same training fast, each piece proven to give the chapters' numbers:
//!
//! 1. [`shards`]: data parallelism. [`Shards`] cuts each batch into shards
//!    recorded at the same time, one tape per shard ([`Split`] says how a
//!    batch is cut), and adds their gradients by rows where they are sparse
//!    (an embedding's). Opt in with
//!    [`Trainer::with_runner`](crate::trainer::Trainer::with_runner).
//! 2. [`clip`]: the global-norm clip reading only those rows. The runner's
//!    seams are [`BatchRunner::add_gradients`](crate::trainer::BatchRunner::add_gradients)
//!    and [`BatchRunner::clip_gradients`](crate::trainer::BatchRunner::clip_gradients).
//! 3. [`update`]: a large parameter's optimizer update in pieces on every
//!    core, the same numbers as one call (the seam:
//!    [`Optimizer::update_param`](crate::optim::Optimizer::update_param)).
//! 4. [`tuning`]: the process tuned for training: denormal numbers flushed
//!    to zero, freed buffers kept for the next step. Opt in with
//!    [`run_tuned`].

pub mod clip;
pub mod shards;
pub mod tuning;
pub mod update;

pub use shards::{Shards, Split, DEFAULT_SHARD_SIZE};
pub use tuning::run_tuned;
pub use update::update_in_pieces;

//! # train: datasets, optimizers, and the training loop
//!
//! The last crate of tapegrad. `tensor` gave us numbers, `autograd` their
//! gradients (and the losses), `nn` the layers; this crate turns them into a
//! model that learns from real data. Read it to learn:
//!
//! - **datasets**: where the data files come from (a path you give, a data
//!   directory, a cache, a verified download), how raw text becomes numbers
//!   (tokenizer, vocabulary, truncation and padding), and how an encoded
//!   dataset is cached so the second run starts at once;
//! - **loading**: a `DataLoader` that shuffles with a seed, batches examples
//!   of similar length together and hands the model plain tensors;
//! - **optimizers**: each update rule in one small file, one call to update a model;
//! - **the loop**: forward, loss, backward, step, with progress, history and
//!   checkpoints written where you will look for them, early stopping, and
//!   runs that resume where they stopped.
//!
//! ## A model trained by hand, in twenty lines
//! Embedding -> LSTM -> Linear, Adam, and a loop; the parameters' names come
//! from the struct's fields, and the optimizer finds each one's gradient:
//!
//! ```
//! use autograd::{Reduction, Tape};
//! use nn::{Embedding, Linear, Lstm};
//! use rand::{rngs::StdRng, SeedableRng};
//! use tensor::{Indices, Tensor};
//! use train::optim::{Adam, Optimizer};
//!
//! struct Classifier { embedding: Embedding, lstm: Lstm, fc: Linear }
//! nn::module!(Classifier { embedding, lstm, fc });
//!
//! let rng = &mut StdRng::seed_from_u64(0);
//! let mut model = Classifier {
//!     embedding: Embedding::new(100, 16, rng),
//!     lstm: Lstm::new(16, 32, rng),
//!     fc: Linear::new(32, 1, rng),
//! };
//! let ids = Indices::new(vec![5, 8, 13, 21, 34, 55], &[2, 3]); // two sequences of 3 tokens
//! let labels = Tensor::from_vec(vec![1.0, 0.0], &[2]);
//! let mut adam = Adam::new(1e-2);
//! for step in 0..20 {
//!     let tape = Tape::training(step);
//!     let h = model.lstm.forward(&tape, &model.embedding.forward(&tape, &ids)).final_hidden();
//!     let logits = model.fc.forward(&tape, &h).reshape(&[2]);
//!     let loss = logits.binary_cross_entropy_with_logits(&labels, None, Reduction::Mean);
//!     let grads = tape.backward(&loss).unwrap();
//!     adam.step(&mut model, &grads).unwrap();
//! }
//! ```
//!
//! [`trainer::Trainer`] is that loop with everything a real run needs:
//! validation, checkpoints, history, progress, resuming and early stopping.
//!
//! ## Reading order
//! 1. [`options`]: an option written once: a choice among names (a cell, a
//!    pooling), for the command line and the files alike, and the checks of
//!    a value.
//! 2. [`data`]: finding, reading, tokenizing and batching the IMDB reviews and
//!    character corpora, one step per file in the order a load runs them
//!    (`paths`, `download`, `imdb::archive`, `tokenizer`, `vocab`, `imdb`,
//!    `imdb::cached`, `loader`; `text` for characters; `error` for what can fail).
//! 3. [`optim`]: SGD, Adam(W), RMSprop, gradient clipping and learning-rate
//!    schedules, each rule in its own file.
//! 4. [`metrics`]: accuracy and running means, computed without a tape.
//! 5. [`history`]: per-epoch metrics written as CSV and drawn as SVG by
//!    [`plot`], line charts with `plotters` (a log axis for vanishing gradients).
//! 6. [`trainer`]: the loop every program runs (`mod.rs`), what a problem plugs
//!    into it (`task.rs`), one batch's forward and backward (`step.rs`), its
//!    settings and errors (`config.rs`), and the files it keeps (`files.rs`).
//! 7. [`models`]: the tutorials' models (a sentiment classifier, a
//!    character-level language model) and how a checkpoint describes them;
//!    [`tasks`]: how a batch of each dataset becomes their loss.
//! 8. [`cli`] and [`memory`]: small helpers of the example programs
//!    (checking flags, reporting the peak memory).
//!
//! Then the appendix, [`fast`]: a batch on every core (shards), a large
//! parameter's update in pieces, and the process tuned for training, each
//! proven to give the chapters' numbers.
//!
//! The crate only calls the ones below it: [`data`] needs nothing but
//! `tensor` (its files go through `tensor::durable`, the crash-safe file
//! layer), so a reader can study it before, or without, the autodiff.

#![warn(missing_docs)]

pub mod cli;
pub mod data;
pub mod fast;
pub mod history;
pub mod memory;
pub mod metrics;
pub mod models;
pub mod optim;
pub mod options;
pub mod plot;
pub mod tasks;
pub mod trainer;

/// The mutation tester shared with the other crates' parser tests (it is
/// the workspace's `tests/support/mutation.rs`); the cache's mutation test,
/// in `data::imdb::cached`, needs it inside the crate because the cache reader is private.
#[cfg(test)]
#[path = "../../../tests/support/mutation.rs"]
mod mutation;

/// Counts allocations per thread, so a parse's peak can be measured while
/// other unit tests run (see `mutation.rs`).
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: mutation::Counting = mutation::Counting;

//! # train: datasets, losses, optimizers and the training loop
//!
//! The last crate of tapegrad. `tensor` gave us numbers, `autograd` their
//! gradients, `nn` the layers; this crate turns them into a model that learns
//! from real data. Read it to learn:
//!
//! - **datasets**: where the data files come from (a path you give, a data
//!   directory, a cache, a verified download), how raw text becomes numbers
//!   (tokenizer, vocabulary, truncation and padding), and how an encoded
//!   dataset is cached so the second run starts at once;
//! - **loading**: a `DataLoader` that shuffles with a seed, batches examples
//!   of similar length together and hands the model plain tensors;
//! - **losses** and **optimizers**: each update rule in one small file;
//! - **the loop**: forward, loss, backward, step, with progress, history and
//!   checkpoints written where you will look for them.
//!
//! ## Reading order
//! 1. [`data`]: finding, reading, tokenizing and batching the IMDB reviews and character corpora.
//! 2. [`optim`]: SGD, Adam(W), RMSprop and gradient clipping, each rule in its own file.
//! 3. [`metrics`]: accuracy and running means, computed without a tape.
//! 4. [`history`]: per-epoch metrics written as CSV and drawn as SVG.
//! 5. `examples/imdb_lstm.rs`: the loop itself, readable in one screen.
//!
//! The crate only calls the ones below it: [`data`] needs nothing but
//! `tensor`, so a reader can study it before, or without, the autodiff.

#![warn(missing_docs)]

pub mod data;
pub mod history;
pub mod metrics;
pub mod optim;

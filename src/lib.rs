//! # tapegrad
//!
//! An autodiff framework for recurrent networks, built from scratch to be read.
//! This root crate only re-exports the four crates, in the order to read them:
//!
//! 1. [`tensor`]: strided CPU tensors and a SIMD matrix multiply.
//! 2. [`autograd`]: a tape that records ops and replays them backwards.
//! 3. [`nn`]: layers and recurrent cells (RNN, LSTM, GRU) as graphs of autograd ops.
//! 4. [`train`]: datasets, batching, optimizers and the training loop.
//!
//! The top-level `tests/` hold the checks that cross crates (gradient checks of
//! whole layers, agreement with PyTorch), and `benches/` the speed measurements.

#![warn(missing_docs)]

pub use autograd;
pub use nn;
pub use tensor;
pub use train;

/// The README's Rust example ("Your own model"), compiled and run by `cargo test`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

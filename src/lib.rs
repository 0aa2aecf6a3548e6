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

//!
//! A project of your own needs only this crate (`tapegrad = { path = ... }`),
//! and `use tapegrad::prelude::*;` brings the names a model and its training
//! use; the README's "Use tapegrad in your own project" has the whole recipe.

#![warn(missing_docs)]

pub use autograd;
pub use nn;
pub use rand;
pub use tensor;
pub use train;

/// The names a model of your own and its training use, in one import:
/// tensors and the tape, the layers and cells, a seeded generator, the
/// data loader, the optimizers and the training loop.
///
/// ```
/// use tapegrad::prelude::*;
///
/// let rng = &mut seeded_rng(0);
/// let layer: Linear = Linear::new(3, 2, rng); // f32, the default element
/// let tape = Tape::new();
/// let y = layer.forward(&tape, &tape.constant(Tensor::ones(&[4, 3])));
/// assert_eq!(y.shape(), &[4, 2]);
/// ```
pub mod prelude {
    pub use autograd::{gradcheck, GradcheckOptions, Param, Reduction, Tape, Var};
    pub use nn::{
        gradcheck_module, module, Activation, CellKind, CellOptions, CellState, Dropout, Embedding,
        Gru, GruCell, Init, InitScheme, Linear, Lstm, LstmCell, LstmState, Module, RecurrentCell,
        RecurrentConfig, RecurrentLayer, Rnn, RnnCell, SequenceOptions, Visitor, VisitorMut,
    };
    pub use rand::rngs::StdRng;
    pub use rand::{Rng, SeedableRng};
    pub use tensor::{Element, Indices, Tensor};
    pub use train::data::{
        Batch, DataLoader, LoaderConfig, Review, Sentiment, SeriesBatch, SeriesDataset,
        SeriesLoader,
    };
    pub use train::optim::{clip_grad_norm, Adam, Optimizer, RmsProp, Sgd};
    pub use train::trainer::{evaluate, StepOutput, Trainer, TrainerConfig, WholeBatch};

    /// A random generator seeded with `seed`: every initializer and dropout
    /// mask drawn from it is the same on every run.
    pub fn seeded_rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }
}

/// The README's Rust example ("Use tapegrad in your own project"), compiled and run by `cargo test`.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

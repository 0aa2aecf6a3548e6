//! # nn: layers and recurrent cells as graphs of autograd ops
//!
//! The third crate of tapegrad. `tensor` gave us numbers and `autograd`
//! their gradients; this crate builds the layers a recurrent network is made
//! of, each written as plain autograd ops so that its backward pass comes for
//! free (no layer here has a hand-written backward), and checked against
//! finite differences and against PyTorch.
//!
//! ## Reading order
//! 1. [`module`](mod@module): the [`Module`] trait. A model is a tree of layers holding
//!    [`Param`]s; walking it with a [`Visitor`] names every parameter by its
//!    path (`lstm.weight_ih_l0`), as PyTorch does; state dicts; and
//!    [`gradcheck`](mod@gradcheck): every parameter of a module checked
//!    against finite differences in one call.
//! 2. [`init`]: Glorot, orthogonal and PyTorch's uniform initializers, and why.
//! 3. [`linear`], [`embedding`], [`dropout`], [`activation`]: the simple layers.
//! 4. [`cell`]: the [`RnnCell`], [`LstmCell`] and [`GruCell`], one time step
//!    each; their equations open their docs.
//! 5. [`recurrent`]: [`Recurrent`], the one time loop for every cell —
//!    stacked layers, both directions, masks for variable lengths, stateful
//!    mode; and [`recurrent_layer`], the same with the cell chosen at run time.
//! 6. [`checkpoint`]: saving and loading with `safetensors` under PyTorch's names.
//! 7. [`summary`]: a Keras-like table of a model's layers and parameters.
//!
//! Then the appendix, [`fast`]: the built-in cells' steps fused into one op
//! each, `W_hh` packed once per sequence, entered through one seam (the
//! sequence layer's `run_direction`) and proven equal to the plain cells.
//!
//! ## A training step
//! A model is plain data: its parameters are tensors with an identity. Each
//! step records a forward pass on a fresh [`Tape`](autograd::Tape) (a
//! training tape, so dropout is active), where each parameter becomes one
//! leaf however often it is used. `backward` returns the gradients by
//! parameter; the tape is dropped, and the update walks the model once:
//!
//! ```
//! use autograd::{Reduction, Tape};
//! use nn::{Embedding, Linear, Lstm, Module, VisitorMut};
//! use rand::{rngs::StdRng, SeedableRng};
//! use tensor::{Indices, Tensor};
//!
//! struct Classifier { embedding: Embedding, lstm: Lstm, fc: Linear }
//! nn::module!(Classifier { embedding, lstm, fc }); // names: embedding.weight, lstm.weight_ih_l0, ...
//!
//! let rng = &mut StdRng::seed_from_u64(0);
//! let mut model = Classifier {
//!     embedding: Embedding::new(50, 8, rng),
//!     lstm: Lstm::new(8, 8, rng),
//!     fc: Linear::new(8, 1, rng),
//! };
//! let ids = Indices::new(vec![1, 4, 7, 3, 12, 9, 41, 5], &[2, 4]);
//! let labels = Tensor::from_vec(vec![1.0, 0.0], &[2]);
//!
//! let tape = Tape::training(0); // seed of this step's dropout masks
//! let h = model.lstm.forward(&tape, &model.embedding.forward(&tape, &ids)).final_hidden();
//! let logits = model.fc.forward(&tape, &h).reshape(&[2]);
//! let loss = logits.binary_cross_entropy_with_logits(&labels, None, Reduction::Mean);
//! let grads = tape.backward(&loss).unwrap();
//! drop((tape, h, logits, loss)); // the gradients outlive the graph
//!
//! let learning_rate = 0.1;
//! model.visit_mut(&mut VisitorMut::new(&mut |_name, param| {
//!     if let Some(grad) = grads.param(param) {
//!         let updated = param.value() - &grad.scale(learning_rate);
//!         param.set(updated);
//!     }
//! }));
//! ```
//!
//! The `train` crate's optimizers do this walk for you
//! (`optimizer.step(&mut model, &grads)`), keeping their state by each
//! parameter's identity.
//!
//! ## Conventions
//! - **PyTorch's layout and names.** `Linear.weight` is `[out, in]`; a cell
//!   fuses its gates into `weight_ih: [G*H, E]`, `weight_hh: [G*H, H]`,
//!   `bias_ih`, `bias_hh` in PyTorch's gate order; a sequence layer names them
//!   `weight_ih_l0`, `bias_hh_l1_reverse`, ...; a model's names are the
//!   paths to its parameters (`lstm.weight_ih_l0`). A PyTorch `state_dict`
//!   of the same architecture saved with safetensors loads and gives the
//!   same outputs (tested to 1e-10), provided its names are exactly ours:
//!   the PyTorch module's attributes must be named as our fields are
//!   (there is no renaming table; see [`checkpoint`]).
//! - **Keras' initializers by default**, each documented on its layer:
//!   Glorot-uniform input kernels, orthogonal recurrent kernels, zero biases,
//!   LSTM forget-gate bias 1, `U(-0.05, 0.05)` embeddings.
//!   [`InitScheme::PyTorch`] gives PyTorch's instead. Every initializer
//!   draws from an explicit seeded generator.
//! - **Generic over the element type**: `f32` to train, `f64` for gradient checks.
//! - **Shape errors panic** with a message naming the layer and the shapes;
//!   checkpoint problems are returned as a [`CheckpointError`].
//! - **The forward pass takes `&self`.** What changes between passes (dropout
//!   masks, training or evaluation) belongs to the tape, so a model can be
//!   shared by threads that each record their own part of a batch.

#![warn(missing_docs)]

pub mod activation;
pub mod cell;
pub mod checkpoint;
pub mod dropout;
pub mod embedding;
pub mod fast;
pub mod gradcheck;
pub mod init;
pub mod linear;
pub mod module;
pub mod recurrent;
pub mod recurrent_layer;
pub mod summary;

/// The `tensor` crate, for [`module!`]'s expansion.
#[doc(hidden)]
pub use tensor;

pub use activation::Activation;
pub use autograd::{Param, ParamId};
pub use cell::{
    CellOptions, CellParams, CellState, CellWeights, GruCell, LstmCell, LstmState, RecurrentCell,
    RnnCell,
};
pub use checkpoint::{CheckpointError, Metadata, Problem};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingOptions};
pub use gradcheck::{gradcheck_module, gradcheck_module_with};
pub use init::{Init, InitScheme};
pub use linear::{Linear, LinearOptions};
pub use module::{LoadReport, Module, ShapeMismatch, StateDictError, Visitor, VisitorMut};
pub use recurrent::{
    lengths_to_mask, run_over_time, Gru, Lstm, MergeMode, Recurrent, RecurrentConfig,
    RecurrentOutput, Rnn, SequenceOptions,
};
pub use recurrent_layer::{CellKind, RecurrentLayer};
pub use summary::Summary;

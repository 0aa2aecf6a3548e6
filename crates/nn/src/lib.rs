//! # nn: layers and recurrent cells as graphs of autograd ops
//!
//! The third crate of tapegrad. `tensor` gave us numbers and `autograd`
//! their gradients; this crate builds the layers a recurrent network is made
//! of, each written as plain autograd ops so that its backward pass comes for
//! free (no layer here has a hand-written backward), and checked against
//! finite differences and against PyTorch.
//!
//! ## Reading order
//! 1. [`param`]: [`Param`], a named tensor, and how it becomes a leaf of a tape.
//! 2. [`module`]: the [`Module`] trait (named parameters, train/eval) and
//!    [`Bind`] (parameters as vars for one forward pass).
//! 3. [`init`]: Glorot, orthogonal and PyTorch's uniform initializers, and why.
//! 4. [`linear`], [`embedding`], [`dropout`], [`activation`]: the simple layers.
//! 5. [`cell`]: the [`RnnCell`], [`LstmCell`] and [`GruCell`], one time step
//!    each; their equations open their docs.
//! 6. [`recurrent`]: [`Recurrent`], the one time loop for every cell —
//!    stacked layers, both directions, masks for variable lengths, stateful mode.
//! 7. [`checkpoint`]: saving and loading with `safetensors` under PyTorch's names.
//! 8. [`summary`] and [`models`]: a Keras-like summary, and the tutorials'
//!    [`SentimentLstm`] and [`CharRnn`].
//!
//! ## A training step
//! A model is plain data: its parameters are tensors. Each step records a
//! forward pass on a fresh [`Tape`](autograd::Tape), where each parameter
//! becomes one leaf however often it is used (an LSTM's `weight_hh` is used
//! at every time step, and its gradient sums them all). After `backward`,
//! [`Module::gradients`] returns `dL/dparam` for every parameter, in the
//! stable order of [`Module::named_params`]; drop the tape, then update
//! through [`Module::named_params_mut`], which lists the same parameters in
//! the same order:
//!
//! ```
//! use autograd::{Reduction, Tape};
//! use nn::{Module, SentimentConfig, SentimentLstm};
//! use rand::{rngs::StdRng, SeedableRng};
//! use tensor::{Indices, Tensor};
//!
//! let config = SentimentConfig { embedding_dim: 8, hidden_size: 8, ..SentimentConfig::new(50) };
//! let mut model = SentimentLstm::<f32>::new(config, &mut StdRng::seed_from_u64(0));
//! let ids = Indices::new(vec![0, 0, 7, 3, 12, 9, 41, 5], &[2, 4]); // 0 = padding
//! let labels = Tensor::from_vec(vec![1.0, 0.0], &[2]);
//!
//! let tape = Tape::new();
//! let logits = model.forward(&tape, &ids, None); // the mask comes from padding_idx = 0
//! let loss = logits.binary_cross_entropy_with_logits(&labels, None, Reduction::Mean);
//! let grads = tape.backward(&loss).unwrap();
//! let gradients = model.gradients(&tape, &grads); // (name, Option<dL/dparam>)
//! drop(tape); // frees the graph, and the tape's references to the weights
//!
//! let learning_rate = 0.1;
//! for ((name, param), (same_name, grad)) in model.named_params_mut().into_iter().zip(gradients) {
//!     assert_eq!(name, same_name);
//!     if let Some(grad) = grad {
//!         let updated = param.value() - &grad.scale(learning_rate);
//!         param.set(updated);
//!     }
//! }
//! ```
//!
//! An optimizer that keeps per-parameter state keys it by the name (or the
//! position, which is stable). For a single parameter, [`Param::grad`] looks
//! up its gradient directly.
//!
//! ## Conventions
//! - **PyTorch's layout and names.** `Linear.weight` is `[out, in]`; a cell
//!   fuses its gates into `weight_ih: [G*H, E]`, `weight_hh: [G*H, H]`,
//!   `bias_ih`, `bias_hh` in PyTorch's gate order; a sequence layer names them
//!   `weight_ih_l0`, `bias_hh_l1_reverse`, ...; a model prefixes its
//!   submodules' names (`lstm.weight_ih_l0`). A PyTorch `state_dict` saved
//!   with safetensors loads as is, and gives the same outputs (tested to 1e-10).
//! - **Keras' initializers by default**, each documented on its layer:
//!   Glorot-uniform input kernels, orthogonal recurrent kernels, zero biases,
//!   LSTM forget-gate bias 1, `U(-0.05, 0.05)` embeddings.
//!   [`InitScheme::PyTorch`] gives PyTorch's instead. Every initializer
//!   draws from an explicit seeded generator.
//! - **Generic over the element type**: `f32` to train, `f64` for gradient checks.
//! - **Shape errors panic** with a message naming the layer and the shapes;
//!   checkpoint problems are returned as a [`CheckpointError`].

#![warn(missing_docs)]

pub mod activation;
pub mod cell;
pub mod checkpoint;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod linear;
pub mod models;
pub mod module;
pub mod param;
pub mod recurrent;
pub mod summary;

pub use activation::Activation;
pub use cell::{CellOptions, CellParams, CellVars, GruCell, LstmCell, RecurrentCell, RnnCell};
pub use checkpoint::{CheckpointError, Problem};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingOptions};
pub use init::{Init, InitScheme};
pub use linear::{Linear, LinearOptions, LinearVars};
pub use models::{
    CharGru, CharLstm, CharRnn, CharRnnConfig, SentimentConfig, SentimentLstm, SentimentVars,
};
pub use module::{with_prefix, Bind, Module};
pub use param::Param;
pub use recurrent::{
    lengths_to_mask, Gru, Lstm, MergeMode, Recurrent, RecurrentConfig, RecurrentOutput, Rnn,
    SequenceOptions,
};
pub use summary::Summary;

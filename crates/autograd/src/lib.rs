//! # autograd: reverse-mode differentiation on a tape
//!
//! Training a network needs the gradient of a scalar loss `L` with respect to
//! every parameter. This crate computes it the way PyTorch does: run the
//! forward pass while **recording** each op on a [`Tape`], then walk the
//! recording **backwards**, applying the chain rule one op at a time.
//!
//! ## The math in one paragraph
//! Write the forward pass as a sequence `v_k = f_k(v_parents(k))`. Define the
//! adjoint `v̄ = dL/dv`. Starting from `L̄ = 1`, and going through the ops in
//! reverse order, each op adds `(d f_k / d v_p)^T v̄_k` to the adjoint of each of
//! its parents `p`. When the sweep reaches a parameter, its adjoint is the
//! complete gradient. Each op's rule (`d tanh(x) = (1 - y^2) dx`, ...) sits right
//! beside its forward code, and [`gradcheck()`] checks every one against finite
//! differences.
//!
//! ```
//! use autograd::Tape;
//! use tensor::Tensor;
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.leaf(Tensor::from_vec(vec![1.0, 2.0], &[2]));
//! let w = tape.leaf(Tensor::from_vec(vec![3.0, 4.0], &[2]));
//! let loss = (&x * &w).tanh().sum();
//! let grads = tape.backward(&loss).unwrap();
//! // d/dx sum tanh(x*w) = w * (1 - tanh(x*w)^2)
//! let expected = 3.0 * (1.0 - (3.0f64).tanh().powi(2));
//! assert!((grads[&x].to_vec()[0] - expected).abs() < 1e-12);
//! ```
//!
//! ## Reading order
//! 1. [`tape`]: the Wengert list, [`Tape::record`], leaves, constants,
//!    `no_grad` and training passes, `to_dot`.
//! 2. [`var`]: [`Var`], a value on a tape, and its operators; a var's
//!    gradient kept ([`Var::retain_grad`]) or seen and changed as it flows
//!    back ([`Var::register_hook`]).
//! 3. [`param`](mod@param): [`Param`], a tensor that learns, with an identity
//!    of its own, and how it becomes one leaf of each tape.
//! 4. [`gradients`]: [`Gradients`], and how pieces of a gradient add up.
//! 5. [`backward`]: the reverse sweep, one loop (and where the hooks run).
//! 6. [`ops`]: every differentiable op, forward and backward together, by family.
//! 7. [`gradcheck`](mod@gradcheck): checking any op against central finite differences.
//!
//! Then the appendix, [`fast`]: ops fused for a recurrent network's inner
//! loop (`X W + b` in one op; a weight packed once for every step, its
//! gradient one product over all steps), each tested equal to the graph it
//! replaces, and gradients added only on the rows an embedding lookup
//! touched, equal bit for bit to adding them whole. The core never calls
//! it; the `nn` crate's fused cells and the `train` crate's shards do.
//! `examples/00_micro_tape.rs` is the whole idea on scalars, in one screen:
//! read it first.
//!
//! ## Memory
//! A tape lives for one forward and backward pass. Nothing on it refers back
//! to it (parameters are known by their [`ParamId`]), so dropping the tape
//! and its vars frees everything the pass recorded; `backward` itself frees
//! every saved tensor as it goes, so the gradients outlive the tape and the
//! optimizer updates weights that nothing else shares.

#![warn(missing_docs)]

pub mod backward;
pub mod fast;
pub mod gradcheck;
pub mod gradients;
pub mod ops;
pub mod param;
pub mod tape;
pub mod var;

pub use backward::BackwardError;
pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use gradients::{GradientPiece, Gradients};
pub use ops::loss::Reduction;
pub use param::{Param, ParamId};
pub use tape::{BackwardInput, Tape};
pub use var::Var;

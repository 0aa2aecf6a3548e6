//! The differentiable ops, one module per family.
//!
//! Every op is one method on [`Var`](crate::Var) that (1) computes its value with
//! the `tensor` crate and (2) calls [`Tape::record`](crate::Tape::record) with its
//! backward rule right beside it. The rule's doc line states the local
//! derivative: for `y = f(x)` and upstream gradient `g = dL/dy`, it returns
//! `dL/dx`.
//!
//! A rule names what its forward pass saved in one line
//! ([`BackwardInput::saved_tensors`](crate::BackwardInput::saved_tensors)), and
//! computes a parent's gradient only if that parent wants one
//! ([`BackwardInput::grad_for`](crate::BackwardInput::grad_for)), so that it
//! reads as its formula. `mul`'s, for `dL/da = g b` and `dL/db = g a`:
//!
//! ```text
//! let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
//! smallvec![
//!     input.grad_for(0, || g.mul(b).sum_to(a.shape())),
//!     input.grad_for(1, || g.mul(a).sum_to(b.shape())),
//! ]
//! ```
//!
//! Broadcasting is undone in one place: a binary op's gradient for an input of
//! shape `s` is `sum_to(s, ...)` ([`Tensor::sum_to`](tensor::Tensor::sum_to)), the
//! adjoint of `broadcast_to`.
//!
//! | module | ops |
//! |---|---|
//! | [`arith`] | `add sub mul div` (vars, tensors, scalars), `neg`, `maximum minimum`, `where_`, `dropout` |
//! | [`unary`] | `exp ln log1p tanh sigmoid relu sqrt square abs powf clamp` |
//! | [`matmul`] | `matmul` (2-D and batched; vectors as in NumPy) |
//! | [`reduce`] | `sum mean max` (all, or along an axis), `softmax`, `log_softmax` |
//! | [`shape`] | `reshape permute transpose t contiguous narrow select squeeze unsqueeze broadcast_to concat stack split chunk unbind` |
//! | [`index`] | `index_select` (embedding lookup), `gather` |
//! | [`loss`] | `binary_cross_entropy_with_logits`, `cross_entropy`, `mse` |

pub mod arith;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod reduce;
pub mod shape;
pub mod unary;

//! Optimizers: how a gradient becomes a parameter update.
//!
//! After `backward`, each parameter `θ` has a gradient `∇θ L`. An optimizer
//! turns it into a step, keeping whatever per-parameter state its rule needs
//! (momentum, running averages), keyed by the parameter's name. Each rule is
//! one small file with its update equations in the doc comment:
//!
//! - [`Sgd`]: `θ ← θ - lr (∇ + λθ)`, with optional momentum;
//! - [`Adam`]: running averages of the gradient and its square, bias-corrected;
//!   with `decoupled_weight_decay` it is AdamW;
//! - [`RmsProp`]: divides by a running root-mean-square of the gradient.
//!
//! [`clip_grad_norm`] rescales all gradients together when their global norm
//! is too large, the standard guard against exploding gradients in RNNs.

mod adam;
mod clip;
mod rmsprop;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use tensor::{Element, Tensor};

/// A rule that updates one parameter from its gradient.
pub trait Optimizer<T: Element = f32> {
    /// Updates `param` in place from `grad`; `name` keys the per-parameter state,
    /// so it must be stable across steps (use the parameter's PyTorch name).
    ///
    /// # Panics
    /// If `grad` does not have `param`'s shape.
    fn update(&mut self, name: &str, param: &mut Tensor<T>, grad: &Tensor<T>);

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, learning_rate: f64);
}

/// Checks shapes and returns the gradient's values in row-major order.
pub(crate) fn gradient_values<T: Element>(
    name: &str,
    param: &Tensor<T>,
    grad: &Tensor<T>,
) -> Vec<T> {
    assert_eq!(
        param.shape(),
        grad.shape(),
        "optimizer: gradient of shape {:?} for parameter {name} of shape {:?}",
        grad.shape(),
        param.shape()
    );
    grad.to_vec()
}

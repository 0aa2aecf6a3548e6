//! Chapter 4, `train`: write these after reading `crates/train/src/optim/`
//! and `crates/train/src/trainer/`.
//!
//! An optimizer's rule updates a parameter in place, elementwise, from its
//! gradient and the buffers the rule keeps for it; the hyperparameters
//! come in the library's own optimizer structs. The checks compare your
//! rules with the library's and with PyTorch's numbers
//! (`tests/fixtures/optimizers.safetensors`). Run
//! `cargo run -p exercises -- 4.` to see which pass.

// A skeleton's arguments are unused until you write its body.
#![allow(unused_variables)]

use autograd::Tape;
use nn::Module;
use tensor::Tensor;
use train::optim::{Adam, Optimizer, Sgd};
use train::trainer::StepOutput;

/// **Exercise 4.1**: one update of SGD with momentum and weight decay
/// (PyTorch's formulation), `step` counting updates from 1:
///
/// ```text
/// d = grad + weight_decay * theta
/// v = d                       at the first step
/// v = momentum * v + d        after it
/// theta = theta - learning_rate * v
/// ```
///
/// `sgd.learning_rate`, `sgd.momentum` and `sgd.weight_decay` hold the
/// hyperparameters (`sgd.nesterov` is false here).
///
/// The library's solution: `Sgd::update` (`crates/train/src/optim/sgd.rs`).
pub fn sgd_step(sgd: &Sgd<f64>, step: u64, theta: &mut [f64], grad: &[f64], velocity: &mut [f64]) {
    todo!("exercise 4.1, sgd_step")
}

/// **Exercise 4.2**: one update of Adam (with L2 weight decay added to the
/// gradient, PyTorch's `Adam(weight_decay=..)`), `step` counting from 1:
///
/// ```text
/// g = grad + weight_decay * theta
/// m = beta1 * m + (1 - beta1) * g                first moment (exp_avg)
/// v = beta2 * v + (1 - beta2) * g²               second moment (exp_avg_sq)
/// m̂ = m / (1 - beta1^step);  v̂ = v / (1 - beta2^step)      bias corrections
/// theta = theta - learning_rate * m̂ / (sqrt(v̂) + epsilon)
/// ```
///
/// The library's solution: `Adam::update` (`crates/train/src/optim/adam.rs`,
/// whose doc comment states the rule).
pub fn adam_step(
    adam: &Adam<f64>,
    step: u64,
    theta: &mut [f64],
    grad: &[f64],
    exp_avg: &mut [f64],
    exp_avg_sq: &mut [f64],
) {
    todo!("exercise 4.2, adam_step")
}

/// **Exercise 4.3**: clipping by global norm (PyTorch's
/// `clip_grad_norm_`). The global norm is `sqrt(sum over every element of
/// every gradient of its square)`; if it is above `max_norm`, multiply every
/// gradient by `max_norm / (norm + 1e-6)`. Return the norm before clipping.
///
/// The library's solution: `train::optim::clip_grad_norm`
/// (`crates/train/src/optim/clip.rs`).
pub fn clip_grad_norm(grads: &mut [Tensor<f64>], max_norm: f64) -> f64 {
    todo!("exercise 4.3, clip_grad_norm")
}

/// **Exercise 4.4**: one epoch of the training loop. For each batch in
/// order: record the forward pass on a fresh training tape
/// (`Tape::training(seed)`: the check's model has no dropout, so any seed
/// will do), `task` gives the batch's mean loss; backpropagate it, clip the
/// gradients to the global norm `clip_norm`
/// (`train::optim::clip_grad_norm`), drop the tape, and let the optimizer
/// update the model (`optimizer.step(model, &grads)`). Return the epoch's
/// mean loss: each batch's loss weighted by its number of examples
/// (`StepOutput::examples`). Backpropagation, the clip and the update fail
/// only on a bug or a diverged run (none here): `expect` their results.
///
/// The library's solution: `Trainer::fit`'s epoch, `train_epoch` in
/// `crates/train/src/trainer/mod.rs` (whose module docs sketch the loop).
pub fn train_epoch<M: Module<f32>, B>(
    model: &mut M,
    optimizer: &mut dyn Optimizer<f32>,
    batches: &[B],
    task: &dyn Fn(&M, &Tape<f32>, &B) -> StepOutput,
    clip_norm: f64,
) -> f64 {
    todo!("exercise 4.4, train_epoch")
}

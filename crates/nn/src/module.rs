//! Modules: anything that owns parameters.
//!
//! [`Module`] is the one interface training needs: the parameters in a stable
//! order with PyTorch's dotted names, and a train/eval switch (dropout is on
//! only while training). A model lists its submodules' parameters under the
//! submodule's name with [`with_prefix`], so a model holding `embedding`,
//! `lstm` and `fc` lists `embedding.weight`, `lstm.weight_ih_l0`, ...,
//! `fc.bias`.
//!
//! [`Bind`] is the step from parameters to a computation: it turns a module's
//! parameters into vars on one tape (its *bound* form), once per forward pass.
//! A layer's `forward(tape, ..)` is `forward_with(&self.bind(tape), ..)`. The
//! bound form can also be built from any vars ([`Bind::bind_vars`]), which is
//! how a gradient check makes a layer compute with the vars it perturbs.

use autograd::{Gradients, Tape, Var};
use tensor::{Element, Tensor};

use crate::param::Param;

/// A layer or model: owns [`Param`]s and lists them by name.
///
/// The order of [`named_params`](Module::named_params) is stable (the order
/// PyTorch's `named_parameters()` gives for the same model), and
/// [`named_params_mut`](Module::named_params_mut) lists the same parameters
/// in the same order.
pub trait Module<T: Element = f32> {
    /// Every parameter with its full dotted name, in a stable order.
    fn named_params(&self) -> Vec<(String, &Param<T>)>;

    /// The same list, mutably (for optimizers and checkpoint loading).
    fn named_params_mut(&mut self) -> Vec<(String, &mut Param<T>)>;

    /// Switches training behaviour (dropout) on or off. Layers without such
    /// behaviour ignore it; containers pass it to their children.
    fn set_training(&mut self, _training: bool) {}

    /// Training mode: dropout active (PyTorch's `model.train()`).
    fn train(&mut self) {
        self.set_training(true);
    }

    /// Inference mode: dropout off (PyTorch's `model.eval()`).
    fn eval(&mut self) {
        self.set_training(false);
    }

    /// The total number of scalars in all parameters.
    fn num_params(&self) -> usize {
        self.named_params().iter().map(|(_, p)| p.numel()).sum()
    }

    /// Each parameter's leaf on `tape`, in `named_params` order.
    fn param_vars(&self, tape: &Tape<T>) -> Vec<Var<T>> {
        self.named_params()
            .iter()
            .map(|(_, p)| p.var(tape))
            .collect()
    }

    /// Each parameter's gradient after `tape.backward(..)`, in `named_params`
    /// order; `None` for a parameter that did not reach the loss.
    ///
    /// The tensors are cheap clones, so the caller may drop the tape (and
    /// with it the last other reference to the weights) before updating.
    fn gradients(&self, tape: &Tape<T>, grads: &Gradients<T>) -> Vec<(String, Option<Tensor<T>>)> {
        self.named_params()
            .into_iter()
            .map(|(name, p)| (name, p.grad(tape, grads).cloned()))
            .collect()
    }
}

/// A module whose parameters can be bound to vars for one forward pass.
pub trait Bind<T: Element = f32>: Module<T> {
    /// The parameters as vars, arranged for the forward pass (transposed
    /// weight matrices, say).
    type Bound;

    /// Builds the bound form from vars given in `named_params` order.
    ///
    /// # Panics
    /// If the number of vars or a shape does not match the parameters.
    fn bind_vars(&self, vars: &[Var<T>]) -> Self::Bound;

    /// The bound form with each parameter's leaf on `tape`.
    fn bind(&self, tape: &Tape<T>) -> Self::Bound {
        self.bind_vars(&self.param_vars(tape))
    }
}

/// Puts `prefix.` in front of every name: how a model names its submodules' parameters.
pub fn with_prefix<P>(prefix: &str, named: Vec<(String, P)>) -> Vec<(String, P)> {
    named
        .into_iter()
        .map(|(name, p)| (format!("{prefix}.{name}"), p))
        .collect()
}

/// Checks that `vars` match the module's parameters in number and shape.
///
/// # Panics
/// With a message naming the module and the first mismatch.
pub(crate) fn check_vars<T: Element>(what: &str, params: &[(String, &Param<T>)], vars: &[Var<T>]) {
    assert_eq!(
        vars.len(),
        params.len(),
        "{what}: bind_vars got {} vars for {} parameters ({:?})",
        vars.len(),
        params.len(),
        params.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    for ((name, p), v) in params.iter().zip(vars) {
        assert_eq!(
            v.shape(),
            p.shape(),
            "{what}: var for {name} has shape {:?}, the parameter {:?}",
            v.shape(),
            p.shape()
        );
    }
}

//! Parameters: the tensors a layer learns.
//!
//! A [`Param`] is a tensor with a name, owned by the layer that uses it. The
//! name is local (`weight`, `bias_hh_l0`); a model builds the full dotted
//! path (`fc.weight`, `lstm.bias_hh_l0`) when it lists its parameters with
//! [`Module::named_params`](crate::Module::named_params), exactly as PyTorch's
//! `named_parameters()` does, so checkpoints interoperate.
//!
//! # From a parameter to its gradient
//! A parameter is plain data; it joins a computation through a tape. Each
//! forward pass asks the tape for the parameter's leaf with [`Param::var`]
//! ([`Tape::parameter`] memoizes it per tensor, so a weight used at all 200
//! time steps is **one** leaf whose gradient sums the 200 contributions).
//! After `backward`, [`Param::grad`] finds that leaf again and returns its
//! gradient:
//!
//! ```
//! use autograd::Tape;
//! use nn::Param;
//! use tensor::Tensor;
//!
//! let w = Param::new("weight", Tensor::from_vec(vec![2.0f64, 3.0], &[2]));
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![1.0, 10.0], &[2]));
//! let loss = (&w.var(&tape) * &x).sum(); // used once here ...
//! let loss = &loss + &(&w.var(&tape) * &x).sum(); // ... and once more: the same leaf
//! let grads = tape.backward(&loss).unwrap();
//! assert_eq!(w.grad(&tape, &grads).unwrap().to_vec(), vec![2.0, 20.0]);
//! ```

use autograd::{Gradients, Tape, Var};
use tensor::{Element, Tensor};

/// A named tensor owned by a layer, learned by gradient descent.
#[derive(Clone, Debug)]
pub struct Param<T: Element = f32> {
    name: String,
    value: Tensor<T>,
}

impl<T: Element> Param<T> {
    /// A parameter with a local name (`"weight"`) and an initial value.
    pub fn new(name: impl Into<String>, value: Tensor<T>) -> Self {
        Param {
            name: name.into(),
            value,
        }
    }

    /// The local name, without the owning modules' prefix.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value's shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The number of scalars in the parameter.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }

    /// Mutable access for an optimizer's in-place update. Keep the shape.
    ///
    /// Update after the step's tape is dropped: while a tape still holds the
    /// value, [`Tensor::data_mut`] copies before writing (copy-on-write).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// Replaces the value (loading a checkpoint, say).
    ///
    /// # Panics
    /// If the new value has another shape.
    pub fn set(&mut self, value: Tensor<T>) {
        assert_eq!(
            value.shape(),
            self.value.shape(),
            "Param::set: parameter {:?} has shape {:?}, the new value {:?}",
            self.name,
            self.value.shape(),
            value.shape()
        );
        self.value = value;
    }

    /// This parameter's leaf on `tape`: made on first use, the same var after
    /// (see [`Tape::parameter`]).
    pub fn var(&self, tape: &Tape<T>) -> Var<T> {
        tape.parameter(&self.value)
    }

    /// `dL/dparam` after `tape.backward(..)` gave `grads`, or `None` if the
    /// parameter did not reach the loss on that tape.
    ///
    /// Ask before changing the value: the tape finds the leaf by the tensor's
    /// identity.
    pub fn grad<'g>(&self, tape: &Tape<T>, grads: &'g Gradients<T>) -> Option<&'g Tensor<T>> {
        grads.get(&self.var(tape))
    }
}

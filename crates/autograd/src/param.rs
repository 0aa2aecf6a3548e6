//! Parameters: tensors that learn, each with an identity of its own.
//!
//! A network's weights outlive every tape: each training step records a new
//! forward pass, and each pass must treat a weight as **one** leaf, however
//! often it is used (an LSTM's `weight_hh` is read at all 200 time steps, and
//! its gradient sums the 200 contributions). So a [`Param`] carries a
//! [`ParamId`], a number handed out once when the parameter is made, and the
//! tape keeps a small map `ParamId -> leaf node` ([`Tape::param`]).
//!
//! The map holds plain numbers, never a [`Var`]: a var holds its tape, so a
//! tape that stored vars would hold itself and never be freed (a reference
//! cycle, the classic leak of tape-based frameworks). Dropping a tape frees
//! everything it recorded.
//!
//! After `backward`, the gradients are looked up by the same identity
//! ([`Gradients::param`](crate::Gradients::param)), so the tape itself can be
//! dropped before the optimizer updates the weights in place.
//!
//! ```
//! use autograd::{Param, Tape};
//! use tensor::Tensor;
//!
//! let w = Param::new(Tensor::from_vec(vec![2.0f64, 3.0], &[2]));
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![1.0, 10.0], &[2]));
//! let once = (&tape.param(&w) * &x).sum();
//! let twice = &once + &(&tape.param(&w) * &x).sum(); // the same leaf again
//! let grads = tape.backward(&twice).unwrap();
//! drop(tape);
//! assert_eq!(grads.param(&w).unwrap().to_vec(), vec![2.0, 20.0]);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use tensor::{Element, Tensor};

use crate::gradients::Gradients;
use crate::tape::Tape;
use crate::var::Var;

/// The identity of a [`Param`]: unique in the process, fixed for its life.
///
/// Only an identity: it is not stable across processes (a checkpoint names
/// parameters by their place in the model, see `nn::Module`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId(u64);

impl ParamId {
    /// A new identity, different from every other one in this process.
    pub fn fresh() -> ParamId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        ParamId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A learned tensor with an identity (see the [module docs](self)).
///
/// Cloning a parameter makes a **new** parameter (a new identity) that starts
/// from the same values, as `copy.deepcopy` does in PyTorch: a cloned model
/// trains on its own.
#[derive(Debug)]
pub struct Param<T: Element = f32> {
    id: ParamId,
    value: Tensor<T>,
}

impl<T: Element> Clone for Param<T> {
    fn clone(&self) -> Self {
        Param::new(self.value.clone())
    }
}

impl<T: Element> Param<T> {
    /// A parameter with this initial value and a fresh identity.
    pub fn new(value: Tensor<T>) -> Self {
        Param {
            id: ParamId::fresh(),
            value,
        }
    }

    /// Its identity.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value's shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The number of scalars.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }

    /// Mutable access for an optimizer's in-place update; keep the shape.
    ///
    /// Once the step's tape and gradients are dropped nothing else shares the
    /// buffer, and [`Tensor::data_mut`] writes in place (otherwise it copies
    /// first: copy-on-write).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// Replaces the value (loading a checkpoint, say); the identity stays.
    ///
    /// # Panics
    /// If the new value has another shape.
    pub fn set(&mut self, value: Tensor<T>) {
        assert_eq!(
            value.shape(),
            self.value.shape(),
            "Param::set: the parameter has shape {:?}, the new value {:?}",
            self.value.shape(),
            value.shape()
        );
        self.value = value;
    }

    /// This parameter's leaf on `tape` (see [`Tape::param`]).
    pub fn var(&self, tape: &Tape<T>) -> Var<T> {
        tape.param(self)
    }

    /// `dL/dparam` from a backward pass, or `None` if the parameter did not
    /// reach the loss.
    pub fn grad<'g>(&self, grads: &'g Gradients<T>) -> Option<&'g Tensor<T>> {
        grads.param(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_and_every_clone_gets_its_own_identity() {
        let a = Param::new(Tensor::<f32>::zeros(&[2]));
        let b = Param::new(Tensor::<f32>::zeros(&[2]));
        let c = a.clone();
        assert_ne!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(a.value(), c.value());
    }

    #[test]
    #[should_panic(expected = "Param::set: the parameter has shape [2], the new value [3]")]
    fn set_keeps_the_shape() {
        Param::new(Tensor::<f32>::zeros(&[2])).set(Tensor::zeros(&[3]));
    }
}

//! `Dropout`: randomly zero activations while training.
//!
//! Inverted dropout: in a training pass each element is kept with
//! probability `1 - p` and scaled by `1 / (1 - p)`, so its expected value is
//! unchanged and evaluation needs no rescaling; in any other pass the layer
//! is the identity.
//!
//! Whether a pass is a training pass, and where its random masks come from,
//! is a property of the tape ([`Tape::training`](autograd::Tape::training)),
//! not of the layer: the layer holds only `p`, its forward pass changes
//! nothing in the model, and a step with the same seed draws the same masks.
//!
//! The op itself, forward and backward, is autograd's
//! [`Var::dropout`](autograd::Var::dropout), and it exists only there: this
//! layer is that op with its `p` kept, so that a model can hold it as a named
//! field and its summary can list it. The recurrent layers' input and
//! recurrent dropout draw their masks with the same op's
//! [`dropout_mask`](autograd::ops::arith::dropout_mask).

use autograd::Var;
use tensor::Element;

use crate::module::{Module, Visitor, VisitorMut};

/// Zeroes each element with probability `p` in a training pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// A dropout layer.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "Dropout: probability {p} is not in [0, 1)"
        );
        Dropout { p }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// `x * mask / (1 - p)` with a fresh Bernoulli mask on a training tape, `x` otherwise.
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::Dropout;
    /// use tensor::Tensor;
    ///
    /// let dropout = Dropout::new(0.5);
    /// let training = Tape::<f32>::training(0);
    /// let y = dropout.forward(&training.constant(Tensor::ones(&[100])));
    /// assert!(y.value().to_vec().iter().all(|&v| v == 0.0 || v == 2.0));
    /// let evaluation = Tape::<f32>::new();
    /// let y = dropout.forward(&evaluation.constant(Tensor::ones(&[100])));
    /// assert_eq!(y.value().to_vec(), vec![1.0; 100]);
    /// ```
    pub fn forward<T: Element>(&self, x: &Var<T>) -> Var<T> {
        x.dropout(self.p)
    }
}

impl<T: Element> Module<T> for Dropout {
    fn visit<'m>(&'m self, _: &mut Visitor<'m, '_, T>) {}

    fn visit_mut(&mut self, _: &mut VisitorMut<'_, T>) {}
}

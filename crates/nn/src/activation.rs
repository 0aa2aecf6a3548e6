//! Activations: elementwise nonlinearities, chosen by value.
//!
//! Each is one autograd op; [`Activation`] only names them so a layer (a
//! `Linear`, or an Elman `RnnCell` with `tanh` or `relu`) can be configured
//! with one.

use autograd::Var;
use tensor::Element;

/// An elementwise function applied after a linear map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    /// `y = x`.
    #[default]
    Identity,
    /// `y = tanh x`.
    Tanh,
    /// `y = max(x, 0)`.
    Relu,
    /// `y = 1 / (1 + e^-x)`.
    Sigmoid,
}

impl Activation {
    /// Applies the function to `x`.
    pub fn apply<T: Element>(&self, x: &Var<T>) -> Var<T> {
        match self {
            Activation::Identity => x.clone(),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::Sigmoid => x.sigmoid(),
        }
    }

    /// The lower-case name (`"tanh"`), as PyTorch's `nonlinearity` argument spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;
    use tensor::Tensor;

    #[test]
    fn each_activation_computes_its_function() {
        let tape = Tape::<f64>::new();
        let x = tape.constant(Tensor::from_vec(vec![-1.0, 0.5], &[2]));
        assert_eq!(Activation::Relu.apply(&x).value().to_vec(), vec![0.0, 0.5]);
        assert_eq!(
            Activation::Identity.apply(&x).value().to_vec(),
            vec![-1.0, 0.5]
        );
        assert_eq!(
            Activation::Tanh.apply(&x).value().to_vec()[1],
            0.5f64.tanh()
        );
        assert_eq!(
            Activation::Sigmoid.apply(&x).value().to_vec()[0],
            1.0 / (1.0 + 1.0f64.exp())
        );
    }
}

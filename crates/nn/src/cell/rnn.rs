//! The Elman RNN cell.

use autograd::Var;
use rand::Rng;
use tensor::Element;

use super::{CellOptions, CellParams, CellWeights, RecurrentCell};
use crate::activation::Activation;
use crate::module::{Module, Visitor, VisitorMut};

/// The simplest recurrent cell (Elman, 1990; PyTorch's `nn.RNNCell`):
///
/// ```text
/// h' = act(W_ih x + b_ih + W_hh h + b_hh),     act = tanh (default) or relu
/// ```
///
/// Backpropagation through time multiplies the gradient by
/// `W_hh^T diag(act'(..))` once per step, so over long sequences it shrinks
/// or grows geometrically: the problem the LSTM and GRU gates address.
///
/// **Initialization** (Keras' `SimpleRNN` defaults): `W_ih` Glorot-uniform,
/// `W_hh` orthogonal, biases zero; with
/// [`InitScheme::PyTorch`](crate::InitScheme) everything is
/// `U(-1/sqrt(H), 1/sqrt(H))`.
///
/// ```
/// use autograd::Tape;
/// use nn::{CellOptions, RnnCell, RecurrentCell};
/// use rand::{rngs::StdRng, SeedableRng};
/// use tensor::Tensor;
///
/// let cell = RnnCell::<f32>::new(3, 5, &CellOptions::default(), &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3])); // one time step of a batch of 2
/// let h = cell.zero_state(&tape, 2);            // h, [2, 5]
/// let next = cell.forward(&tape, &x, &h);       // nn.RNNCell(x, h)
/// assert_eq!(next.shape(), &[2, 5]);
/// ```
#[derive(Clone, Debug)]
pub struct RnnCell<T: Element = f32> {
    params: CellParams<T>,
    nonlinearity: Activation,
}

impl<T: Element> RnnCell<T> {
    /// The activation `act`.
    pub fn nonlinearity(&self) -> Activation {
        self.nonlinearity
    }
}

impl<T: Element> RecurrentCell<T> for RnnCell<T> {
    const GATES: usize = 1;
    const NAME: &'static str = "RNN";
    type State = Var<T>;

    /// # Panics
    /// If `options.nonlinearity` is neither `Tanh` nor `Relu` (PyTorch allows only those).
    fn new(
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(
            matches!(options.nonlinearity, Activation::Tanh | Activation::Relu),
            "RnnCell: nonlinearity must be tanh or relu, got {}",
            options.nonlinearity.name()
        );
        RnnCell {
            params: CellParams::new(1, input_size, hidden_size, options, rng),
            nonlinearity: options.nonlinearity,
        }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
        self.nonlinearity.apply(&(x_projected + &w.recurrent(h)))
    }
}

impl<T: Element> Module<T> for RnnCell<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        self.params.visit(visitor);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        self.params.visit_mut(visitor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tensor::Tensor;

    /// E = H = 1, `W_ih = 2`, `W_hh = -1`, `b_ih = 0.5`, `b_hh = 0`, `x = h = 1`:
    /// the pre-activation is `2 - 1 + 0.5 = 1.5`; tanh gives 0.905148, relu 1.5.
    #[test]
    fn one_step_with_1x1_weights_matches_the_worked_numbers() {
        for (act, expected) in [(Activation::Tanh, 1.5f64.tanh()), (Activation::Relu, 1.5)] {
            let options = CellOptions {
                nonlinearity: act,
                ..Default::default()
            };
            let mut cell = RnnCell::<f64>::new(1, 1, &options, &mut StdRng::seed_from_u64(0));
            let mut values = [2.0, -1.0, 0.5, 0.0].into_iter();
            cell.visit_mut(&mut VisitorMut::new(&mut |_, p| {
                let shape = p.shape().to_vec();
                p.set(Tensor::full(&shape, values.next().unwrap()));
            }));
            let tape = Tape::new();
            let x = tape.constant(Tensor::ones(&[1, 1]));
            let h = tape.constant(Tensor::ones(&[1, 1]));
            assert_eq!(cell.forward(&tape, &x, &h).item(), expected);
        }
    }
}

//! The GRU cell (Cho et al., 2014), in PyTorch's (and cuDNN's) formulation.

use autograd::Var;
use rand::Rng;
use tensor::Element;

use super::{gate_blocks, one_minus, CellOptions, CellParams, CellWeights, RecurrentCell};
use crate::module::{Module, Visitor, VisitorMut};

/// Gated recurrent unit, PyTorch's formulation and gate order `r, z, n`:
///
/// ```text
/// r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
/// z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
/// n  = tanh   (W_in x + b_in + r * (W_hn h + b_hn))    candidate
/// h' = (1 - z) * n + z * h
/// ```
///
/// The reset gate multiplies `W_hn h + b_hn` *after* the product (Keras'
/// `reset_after=True`, the cuDNN variant), so the recurrent product of all
/// three gates is still one `h W_hh^T` per step. Because `b_hn` sits inside
/// `r * (..)`, the GRU cannot fold `b_hh` into the input projection as the
/// LSTM does: its [`project_input`](RecurrentCell::project_input) adds only
/// `b_ih`, and each step adds `b_hh` to the recurrent product.
///
/// **Initialization** (Keras' defaults): `W_ih` Glorot-uniform, `W_hh`
/// orthogonal, biases zero; with [`InitScheme::PyTorch`](crate::InitScheme)
/// everything is `U(-1/sqrt(H), 1/sqrt(H))`.
///
/// ```
/// use autograd::Tape;
/// use nn::{CellOptions, GruCell, RecurrentCell};
/// use rand::{rngs::StdRng, SeedableRng};
/// use tensor::Tensor;
///
/// let cell = GruCell::<f32>::new(3, 5, &CellOptions::default(), &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3])); // one time step of a batch of 2
/// let h = cell.zero_state(&tape, 2);            // h, [2, 5]
/// let next = cell.forward(&tape, &x, &h);       // nn.GRUCell(x, h)
/// assert_eq!(next.shape(), &[2, 5]);
/// ```
#[derive(Clone, Debug)]
pub struct GruCell<T: Element = f32> {
    params: CellParams<T>,
}

impl<T: Element> RecurrentCell<T> for GruCell<T> {
    const GATES: usize = 3;
    const NAME: &'static str = "GRU";
    type State = Var<T>;

    fn new(
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self {
        GruCell {
            params: CellParams::new(3, input_size, hidden_size, options, rng),
        }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    fn project_input(&self, w: &CellWeights<T>, x: &Var<T>) -> Var<T> {
        w.input_product(x, false)
    }

    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
        let hidden = match &w.b_hh {
            Some(b_hh) => &w.recurrent(h) + b_hh,
            None => w.recurrent(h),
        };
        let [x_r, x_z, x_n] = gate_blocks(x_projected);
        let [h_r, h_z, h_n] = gate_blocks(&hidden);
        let r = (&x_r + &h_r).sigmoid();
        let z = (&x_z + &h_z).sigmoid();
        let n = (&x_n + &r * &h_n).tanh();
        one_minus(&z) * n + &z * h
    }
}

impl<T: Element> Module<T> for GruCell<T> {
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

    /// E = H = 1, `W_ih = W_hh = [0, 0, 1]` (only `n` has weights), zero biases,
    /// `x = h = 1`: `r = z = sigmoid(0) = 1/2`, `n = tanh(1 + 0.5 * 1) = tanh(1.5)
    /// = 0.905148`, `h' = 0.5 * 0.905148 + 0.5 * 1 = 0.952574`.
    #[test]
    fn one_step_with_1x1_weights_matches_the_worked_numbers() {
        let mut cell =
            GruCell::<f64>::new(1, 1, &CellOptions::default(), &mut StdRng::seed_from_u64(0));
        let values = [
            vec![0.0, 0.0, 1.0],
            vec![0.0, 0.0, 1.0],
            vec![0.0; 3],
            vec![0.0; 3],
        ];
        let mut values = values.into_iter();
        cell.visit_mut(&mut VisitorMut::new(&mut |_, p| {
            let shape = p.shape().to_vec();
            p.set(Tensor::from_vec(values.next().unwrap(), &shape));
        }));
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[1, 1]));
        let h = tape.constant(Tensor::ones(&[1, 1]));
        let next = cell.forward(&tape, &x, &h);
        let expected = 0.5 * 1.5f64.tanh() + 0.5;
        assert!((next.item() - expected).abs() < 1e-15);
        assert!((next.item() - 0.952574).abs() < 1e-6);
    }
}

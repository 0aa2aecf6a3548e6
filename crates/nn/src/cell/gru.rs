//! The GRU cell (Cho et al., 2014), in its two formulations: PyTorch's (and
//! cuDNN's), and the one that resets the state before the product.

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
/// `reset_after=True`, its default, and the cuDNN variant), so the recurrent
/// product of all three gates is still one `h W_hh^T` per step. Because
/// `b_hn` sits inside `r * (..)`, the GRU cannot fold `b_hh` into the input
/// projection as the LSTM does: its [`project_input`](RecurrentCell::project_input)
/// adds only `b_ih`, and each step adds `b_hh` to the recurrent product.
///
/// With [`CellOptions::reset_after`] `false` (Keras' `reset_after=False`,
/// the form of Cho et al. and of tutorials that write
/// `h~ = tanh(W [r * h, x] + b)`), the reset gate scales the state *before*
/// the product:
///
/// ```text
/// n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
/// ```
///
/// so the candidate's recurrent product is a second one per step, after
/// `r`, and both biases fold into the input projection. Both forms use the
/// same `z`: it is the share of the *old* state kept (PyTorch's and Keras'
/// convention; Cho et al. write `h' = z * h + (1 - z) * n` with the same
/// meaning, some tutorials swap `z` and `1 - z`).
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
    reset_after: bool,
}

impl<T: Element> GruCell<T> {
    /// Whether the reset gate applies after the recurrent product
    /// (PyTorch's form) or before it (see [`CellOptions::reset_after`]).
    pub fn reset_after(&self) -> bool {
        self.reset_after
    }

    /// `n` and the gates' shares of `h'` in PyTorch's form: one recurrent
    /// product for all three gates, the reset gate applied after it.
    fn step_reset_after(&self, w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
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

    /// The form that resets the state before the candidate's product:
    /// `h W_hr^T` and `h W_hz^T` in one product, then `(r * h) W_hn^T`.
    fn step_reset_before(&self, w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
        let hidden = h.dim(1);
        let masked = w.masked(h);
        let [x_r, x_z, x_n] = gate_blocks(x_projected);
        let [h_r, h_z] = gate_blocks(&masked.matmul(&w.w_hh_t.narrow(1, 0, 2 * hidden)));
        let r = (&x_r + &h_r).sigmoid();
        let z = (&x_z + &h_z).sigmoid();
        let reset = (&r * &masked).matmul(&w.w_hh_t.narrow(1, 2 * hidden, hidden));
        let n = (&x_n + &reset).tanh();
        one_minus(&z) * n + &z * h
    }
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
            reset_after: options.reset_after,
        }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    /// `x W_ih^T + b_ih`, and `b_hh` too when the reset gate applies
    /// before the product (then `b_hn` is a plain sum).
    fn project_input(&self, w: &CellWeights<T>, x: &Var<T>) -> Var<T> {
        w.input_product(x, !self.reset_after)
    }

    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
        if self.reset_after {
            self.step_reset_after(w, x_projected, h)
        } else {
            self.step_reset_before(w, x_projected, h)
        }
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

    /// One step of a 1x1 GRU of `options` whose `W_ih`, `W_hh`, `b_ih` and
    /// `b_hh` are `values` (gates `r, z, n`), from `x = h = 1`.
    fn step_from_ones(options: &CellOptions, values: [[f64; 3]; 4]) -> f64 {
        let mut cell = GruCell::<f64>::new(1, 1, options, &mut StdRng::seed_from_u64(0));
        let mut values = values.into_iter();
        cell.visit_mut(&mut VisitorMut::new(&mut |_, p| {
            let shape = p.shape().to_vec();
            p.set(Tensor::from_vec(values.next().unwrap().to_vec(), &shape));
        }));
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[1, 1]));
        let h = tape.constant(Tensor::ones(&[1, 1]));
        cell.forward(&tape, &x, &h).item()
    }

    /// E = H = 1, `W_ih = W_hh = [0, 0, 1]` (only `n` has weights), zero biases,
    /// `x = h = 1`: `r = z = sigmoid(0) = 1/2`, `n = tanh(1 + 0.5 * 1) = tanh(1.5)
    /// = 0.905148`, `h' = 0.5 * 0.905148 + 0.5 * 1 = 0.952574`.
    #[test]
    fn one_step_with_1x1_weights_matches_the_worked_numbers() {
        let n_only = [0.0, 0.0, 1.0];
        let next = step_from_ones(
            &CellOptions::default(),
            [n_only, n_only, [0.0; 3], [0.0; 3]],
        );
        let expected = 0.5 * 1.5f64.tanh() + 0.5;
        assert!((next - expected).abs() < 1e-15);
        assert!((next - 0.952574).abs() < 1e-6);
    }

    /// E = H = 1, `W_ih = W_hh = [0, 0, 1]`, biases zero but `b_hn = 1`,
    /// `x = h = 1`, so `r = z = 1/2`:
    /// - reset after (PyTorch): `n = tanh(1 + 0.5 * (1 + 1)) = tanh(2) = 0.964028`,
    ///   `h' = 0.5 * 0.964028 + 0.5 = 0.982014`;
    /// - reset before: `n = tanh(1 + (0.5 * 1) * 1 + 1) = tanh(2.5) = 0.986614`,
    ///   `h' = 0.5 * 0.986614 + 0.5 = 0.993307`.
    #[test]
    fn both_forms_match_their_worked_numbers() {
        for (reset_after, n) in [(true, 2.0f64.tanh()), (false, 2.5f64.tanh())] {
            let options = CellOptions {
                reset_after,
                ..Default::default()
            };
            let n_only = [0.0, 0.0, 1.0];
            let next = step_from_ones(&options, [n_only, n_only, [0.0; 3], n_only]);
            assert!(
                (next - (0.5 * n + 0.5)).abs() < 1e-15,
                "{reset_after}: {next}"
            );
        }
    }
}

//! The LSTM cell (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al.).

use autograd::Var;
use rand::Rng;
use tensor::Element;

use super::{
    gate_blocks, set_block, CellOptions, CellParams, CellState, CellWeights, RecurrentCell,
};
use crate::init::InitScheme;
use crate::module::{Module, Visitor, VisitorMut};

/// Long short-term memory, PyTorch's formulation and gate order `i, f, g, o`:
///
/// ```text
/// i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
/// f  = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
/// g  = tanh   (W_ig x + b_ig + W_hg h + b_hg)      candidate cell
/// o  = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
/// c' = f * c + i * g
/// h' = o * tanh(c')
/// ```
///
/// The four `W_i*` are stacked in `weight_ih: [4H, E]` (rows `0..H` for `i`,
/// `H..2H` for `f`, ...), the `W_h*` in `weight_hh: [4H, H]`, so one step is
/// `gates = x W_ih^T + b_ih + h W_hh^T + b_hh`, cut into four `[B, H]` blocks.
///
/// The cell state `c` is a sum, not a product, of the past: its gradient
/// flows back through `f * c` scaled only by the forget gate, which is what
/// lets an LSTM learn long dependencies.
///
/// **Initialization** (Keras' defaults): `W_ih` Glorot-uniform, `W_hh`
/// orthogonal, biases zero except the forget gate's, which starts at 1
/// (`unit_forget_bias`, Jozefowicz et al., 2015) so the cell remembers by
/// default. PyTorch has two biases where Keras has one; the 1 goes into
/// `bias_ih` (rows `H..2H`) and `bias_hh` stays zero, so their sum, the
/// effective bias, is Keras' exactly. With [`InitScheme::PyTorch`] every
/// weight and bias is `U(-1/sqrt(H), 1/sqrt(H))`, as in `nn.LSTM`.
///
/// ```
/// use autograd::Tape;
/// use nn::{CellOptions, LstmCell, RecurrentCell};
/// use rand::{rngs::StdRng, SeedableRng};
/// use tensor::Tensor;
///
/// let cell = LstmCell::<f32>::new(3, 5, &CellOptions::default(), &mut StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::ones(&[2, 3])); // one time step of a batch of 2
/// let state = cell.zero_state(&tape, 2);        // LstmState { h, c }, each [2, 5]
/// let next = cell.forward(&tape, &x, &state);   // nn.LSTMCell(x, (h, c))
/// assert_eq!((next.h.shape(), next.c.shape()), (&[2, 5][..], &[2, 5][..]));
/// ```
#[derive(Clone, Debug)]
pub struct LstmCell<T: Element = f32> {
    params: CellParams<T>,
}

/// The LSTM's state: the hidden state `h` (its output) and the cell state
/// `c`, each `[B, H]`.
#[derive(Clone, Debug)]
pub struct LstmState<T: Element = f32> {
    /// The hidden state, `h`.
    pub h: Var<T>,
    /// The cell state, `c`.
    pub c: Var<T>,
}

impl<T: Element> CellState<T> for LstmState<T> {
    const PARTS: usize = 2;

    fn h(&self) -> &Var<T> {
        &self.h
    }

    fn parts(&self) -> Vec<Var<T>> {
        vec![self.h.clone(), self.c.clone()]
    }

    fn from_parts(parts: Vec<Var<T>>) -> Self {
        let [h, c]: [Var<T>; 2] = parts
            .try_into()
            .expect("an LSTM state of two tensors, h and c");
        LstmState { h, c }
    }
}

impl<T: Element> RecurrentCell<T> for LstmCell<T> {
    const GATES: usize = 4;
    const NAME: &'static str = "LSTM";
    type State = LstmState<T>;

    fn new(
        input_size: usize,
        hidden_size: usize,
        options: &CellOptions,
        rng: &mut impl Rng,
    ) -> Self {
        let mut params = CellParams::new(4, input_size, hidden_size, options, rng);
        if let (InitScheme::Keras, Some(bias_ih)) = (options.init, params.bias_ih.as_mut()) {
            set_block(bias_ih, 1, hidden_size, 1.0);
        }
        LstmCell { params }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    fn step(&self, w: &CellWeights<T>, x_projected: &Var<T>, state: &LstmState<T>) -> LstmState<T> {
        let gates = x_projected + &w.recurrent(&state.h);
        let [i, f, g, o] = gate_blocks(&gates);
        let (i, f, g, o) = (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid());
        let c = f * &state.c + i * g;
        let h = &o * &c.tanh();
        LstmState { h, c }
    }
}

impl<T: Element> Module<T> for LstmCell<T> {
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

    /// E = H = 1, `W_ih = [0, 0, 1, 0]` (only `g` sees the input), `W_hh = 0`,
    /// zero biases, `x = 1`, `h = c = 0`:
    /// `i = f = o = sigmoid(0) = 1/2`, `g = tanh(1) = 0.761594`,
    /// `c' = 0 + 0.5 * 0.761594 = 0.380797`, `h' = 0.5 * tanh(0.380797) = 0.181700`.
    #[test]
    fn one_step_with_1x1_weights_matches_the_worked_numbers() {
        let options = CellOptions {
            init: InitScheme::PyTorch,
            ..Default::default()
        };
        let mut cell = LstmCell::<f64>::new(1, 1, &options, &mut StdRng::seed_from_u64(0));
        let values = [
            vec![0.0, 0.0, 1.0, 0.0],
            vec![0.0; 4],
            vec![0.0; 4],
            vec![0.0; 4],
        ];
        let mut values = values.into_iter();
        cell.visit_mut(&mut VisitorMut::new(&mut |_, p| {
            let shape = p.shape().to_vec();
            p.set(Tensor::from_vec(values.next().unwrap(), &shape));
        }));
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[1, 1]));
        let state = cell.zero_state(&tape, 1);
        let next = cell.forward(&tape, &x, &state);
        let c = 0.5 * 1.0f64.tanh();
        assert!((next.c.item() - c).abs() < 1e-15);
        assert!((next.h.item() - 0.5 * c.tanh()).abs() < 1e-15);
        assert!((next.h.item() - 0.181700).abs() < 1e-6);
    }

    #[test]
    fn keras_init_puts_the_forget_bias_of_one_in_bias_ih() {
        let cell =
            LstmCell::<f32>::new(3, 2, &CellOptions::default(), &mut StdRng::seed_from_u64(1));
        let names: Vec<String> = cell.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]);
        assert_eq!(
            cell.params().bias_ih.as_ref().unwrap().value().to_vec(),
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            cell.params().bias_hh.as_ref().unwrap().value().to_vec(),
            vec![0.0; 8]
        );
        assert_eq!(cell.params().weight_ih.shape(), &[8, 3]);
        assert_eq!(cell.params().weight_hh.shape(), &[8, 2]);
    }
}

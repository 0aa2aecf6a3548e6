//! The cell of this walk: a peephole LSTM (Gers & Schmidhuber, 2000), whose
//! gates also read the cell state, through a parameter the built-in cells do
//! not have. Kept in a file of its own so the top-level tests can check the
//! very cell the walk writes (`tests/custom_cell.rs`).

use autograd::{Param, Var};
use nn::{
    CellOptions, CellParams, CellWeights, LstmState, Module, RecurrentCell, Visitor, VisitorMut,
};
use rand::Rng;
use tensor::{Element, Tensor};

/// ```text
/// i  = sigmoid(a_i + p_i * c)      f = sigmoid(a_f + p_f * c)      g = tanh(a_g)
/// c' = f * c + i * g
/// o  = sigmoid(a_o + p_o * c')     h' = o * tanh(c')
/// ```
/// with `a = x W_ih^T + b_ih + h W_hh^T + b_hh` as in the LSTM (gate order
/// `i, f, g, o`), and the peephole weights `p = [p_i, p_f, p_o]` in
/// `weight_peephole: [3H]`. Written with autograd ops only: its backward
/// pass comes from the tape.
#[derive(Clone, Debug)]
pub struct PeepholeLstmCell<T: Element> {
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`, as any cell has them.
    params: CellParams<T>,
    /// The peephole weights, `[3H]`: `p_i`, `p_f`, `p_o`.
    weight_peephole: Param<T>,
}

/// Its parameters, named as the sequence layer names them:
/// `weight_ih_l0`, ..., `weight_peephole_l0`.
impl<T: Element> Module<T> for PeepholeLstmCell<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        self.params.visit(visitor);
        visitor.param("weight_peephole", &self.weight_peephole);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        self.params.visit_mut(visitor);
        visitor.param("weight_peephole", &mut self.weight_peephole);
    }
}

impl<T: Element> RecurrentCell<T> for PeepholeLstmCell<T> {
    const GATES: usize = 4;
    const NAME: &'static str = "PeepholeLSTM";
    type State = LstmState<T>;

    fn new(input: usize, hidden: usize, options: &CellOptions, rng: &mut impl Rng) -> Self {
        PeepholeLstmCell {
            params: CellParams::new(4, input, hidden, options, rng),
            weight_peephole: Param::new(Tensor::rand_uniform(&[3 * hidden], -0.5, 0.5, rng)),
        }
    }

    fn params(&self) -> &CellParams<T> {
        &self.params
    }

    /// One step; `x` arrives already projected (`x W_ih^T + b_ih`, for every
    /// step at once), and `w.recurrent(h)` adds `h W_hh^T + b_hh`.
    fn step(&self, w: &CellWeights<T>, x: &Var<T>, state: &LstmState<T>) -> LstmState<T> {
        let peephole = x.tape().param(&self.weight_peephole).chunk(3, 0);
        let (p_i, p_f, p_o) = (&peephole[0], &peephole[1], &peephole[2]);
        let gates = (x + &w.recurrent(&state.h)).chunk(4, 1);
        let i = (&gates[0] + &(&state.c * p_i)).sigmoid();
        let f = (&gates[1] + &(&state.c * p_f)).sigmoid();
        let g = gates[2].tanh();
        let c = &(&f * &state.c) + &(&i * &g);
        let o = (&gates[3] + &(&c * p_o)).sigmoid();
        let h = &o * &c.tanh();
        LstmState { h, c }
    }
}

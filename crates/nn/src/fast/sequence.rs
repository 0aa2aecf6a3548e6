//! A built-in cell over one direction of a sequence, fused.

use std::any::Any;

use autograd::fast::PackedWeight;
use autograd::Var;
use tensor::Element;

use super::steps::{gru_step, lstm_step};
use crate::cell::{CellParams, CellState, CellWeights, GruCell, LstmCell, LstmState, RnnCell};
use crate::recurrent::time_loop::{Direction, DirectionOutput};
use crate::RecurrentCell;

/// The fused run of `cell` over one direction, if `cell` is one of the
/// built-in cells: each step's `h` and the final state's tensors, the same
/// as the plain run's (see the [module docs](super)). `None` for any other
/// cell type.
pub(crate) fn run_fused<T: Element, C: RecurrentCell<T>>(
    cell: &C,
    run: &Direction<'_, T>,
) -> Option<DirectionOutput<T>> {
    let cell: &dyn Any = cell;
    if let Some(lstm) = cell.downcast_ref::<LstmCell<T>>() {
        Some(run_lstm(lstm, run))
    } else if let Some(gru) = cell.downcast_ref::<GruCell<T>>() {
        // The fused step is PyTorch's form; the other form runs the plain loop.
        gru.reset_after().then(|| run_gru(gru, run))
    } else {
        cell.downcast_ref::<RnnCell<T>>()
            .map(|rnn| run_rnn(rnn, run))
    }
}

/// A cell's weights on the tape with `W_hh^T` packed once for every step.
struct PackedWeights<T: Element> {
    plain: CellWeights<T>,
    w_hh_packed: PackedWeight<T>,
}

impl<T: Element> PackedWeights<T> {
    fn on_tape(params: &CellParams<T>, run: &Direction<'_, T>) -> Self {
        let mut plain = params.on_tape(run.tape);
        plain.recurrent_mask = run.recurrent_mask.clone();
        // Row-major once, so the packing reads it as it lies.
        plain.w_hh_t = plain.w_hh_t.contiguous();
        let w_hh_packed = plain.w_hh_t.packed();
        PackedWeights { plain, w_hh_packed }
    }

    /// `x W_ih^T + b` for all steps at once, the bias added into the product.
    fn project(&self, run: &Direction<'_, T>, include_bias_hh: bool) -> Vec<Var<T>> {
        let projected = match self.plain.input_bias(include_bias_hh) {
            Some(b) => run.input.matmul_add(&self.plain.w_ih_t, &b),
            None => run.input.matmul(&self.plain.w_ih_t),
        };
        run.steps_of(projected)
    }

    /// `h W_hh^T + addend` as one op, with the recurrent-dropout mask on `h`.
    fn recurrent_plus(&self, h: &Var<T>, addend: &Var<T>) -> Var<T> {
        self.plain
            .masked(h)
            .matmul_add_packed(&self.w_hh_packed, addend)
    }
}

/// The LSTM: one `recurrent_plus` (all four gates' pre-activations), then [`lstm_step`].
fn run_lstm<T: Element>(cell: &LstmCell<T>, run: &Direction<'_, T>) -> DirectionOutput<T> {
    let w = PackedWeights::on_tape(cell.params(), run);
    let projected = w.project(run, true);
    let initial = LstmState::from_parts(run.initial.clone());
    let (outputs, last) = run.time_loop(&projected, initial, |x, state: &LstmState<T>| {
        let (h, c) = lstm_step(&w.recurrent_plus(&state.h, x), &state.c);
        LstmState { h, c }
    });
    (outputs, last.parts())
}

/// The GRU: `b_hh` stays inside the step (the reset gate multiplies it).
fn run_gru<T: Element>(cell: &GruCell<T>, run: &Direction<'_, T>) -> DirectionOutput<T> {
    let w = PackedWeights::on_tape(cell.params(), run);
    let projected = w.project(run, false);
    let initial = run.initial[0].clone();
    let (outputs, last) = run.time_loop(&projected, initial, |x, h: &Var<T>| {
        let hidden = match &w.plain.b_hh {
            Some(b_hh) => w.recurrent_plus(h, b_hh),
            None => w.plain.recurrent(h),
        };
        gru_step(x, &hidden, h)
    });
    (outputs, last.parts())
}

/// The Elman RNN: its activation of one `recurrent_plus`.
fn run_rnn<T: Element>(cell: &RnnCell<T>, run: &Direction<'_, T>) -> DirectionOutput<T> {
    let w = PackedWeights::on_tape(cell.params(), run);
    let projected = w.project(run, true);
    let initial = run.initial[0].clone();
    let (outputs, last) = run.time_loop(&projected, initial, |x, h: &Var<T>| {
        cell.nonlinearity().apply(&w.recurrent_plus(h, x))
    });
    (outputs, last.parts())
}

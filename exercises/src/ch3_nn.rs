//! Chapter 3, `nn`: write these after reading `crates/nn/src/cell/` and
//! `crates/nn/src/recurrent/`.
//!
//! A cell's step is written with autograd ops only (`+`, `*`, `matmul`,
//! `sigmoid`, `tanh`, `chunk`, ...): its backward pass then comes from the
//! tape, and backpropagation through time is the tape recording the time
//! loop. The sequence layer projects the input of every step before the
//! loop (`x W_ih^T` plus biases, see `crates/nn/src/cell/mod.rs`), so a
//! step receives `x_projected: [B, G*H]` and adds the recurrent part,
//! `h W_hh^T`: `w.recurrent(h)`, which is `h.matmul(&w.w_hh_t)` with the
//! layer's recurrent-dropout mask on `h` when it has one (Keras'
//! `recurrent_dropout`; some checks set one). Gates are stacked in
//! PyTorch's order along the last axis; `gates.chunk(4, 1)` cuts them apart.
//!
//! The checks compare your steps with the library's cells on random
//! weights (values and gradients), and run them over PyTorch's fixtures
//! (`tests/fixtures/`). Run `cargo run -p exercises -- 3.` to see which
//! pass. Once 3.2 passes, `cargo run --release -p exercises --example
//! your_lstm_on_imdb` trains the IMDB model with your LSTM step.

// A skeleton's arguments are unused until you write its body.
#![allow(unused_variables)]

use autograd::Var;
use nn::{CellWeights, LstmCell, LstmState};
use tensor::{Element, Tensor};

/// **Exercise 3.1**: one step of the Elman RNN (tanh):
/// `h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`, where `x_projected`
/// already holds `x W_ih^T + b_ih + b_hh` (`[B, H]`), and `w.recurrent(h)`
/// gives `h W_hh^T`.
///
/// The library's solution: `RnnCell::step` (`crates/nn/src/cell/rnn.rs`).
pub fn rnn_step<T: Element>(w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
    todo!("exercise 3.1, rnn_step")
}

/// **Exercise 3.2**: one step of the LSTM, gates in PyTorch's order
/// `i, f, g, o`:
///
/// ```text
/// [i, f, g, o] = x_projected + w.recurrent(h)   (h W_hh^T) four [B, H] blocks
/// i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
/// c' = f * c + i * g
/// h' = o * tanh(c')
/// ```
///
/// `x_projected` (`[B, 4H]`) already holds `x W_ih^T + b_ih + b_hh`.
///
/// The library's solution: `LstmCell::step` (`crates/nn/src/cell/lstm.rs`,
/// whose doc comment states the equations).
pub fn lstm_step<T: Element>(
    w: &CellWeights<T>,
    x_projected: &Var<T>,
    state: &LstmState<T>,
) -> LstmState<T> {
    todo!("exercise 3.2, lstm_step")
}

/// **Exercise 3.3**: one step of the GRU in PyTorch's form (the reset gate
/// applied after the recurrent product), gates in the order `r, z, n`:
///
/// ```text
/// [x_r, x_z, x_n] = x_projected                  x W_ih^T + b_ih, three [B, H] blocks
/// [h_r, h_z, h_n] = w.recurrent(h) + b_hh        (h W_hh^T + b_hh) b_hh is not in x_projected
/// r = sigmoid(x_r + h_r);  z = sigmoid(x_z + h_z)
/// n = tanh(x_n + r * h_n)
/// h' = (1 - z) * n + z * h
/// ```
///
/// `w.b_hh` is an `Option` (a cell may have no biases).
///
/// The library's solution: `GruCell::step` (`crates/nn/src/cell/gru.rs`).
pub fn gru_step<T: Element>(w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
    todo!("exercise 3.3, gru_step")
}

/// **Exercise 3.4**: an LSTM over a sequence whose rows may end early.
///
/// `projected[t]` is step `t`'s projected input (`[B, 4H]`); step with
/// `cell.step(w, &projected[t], &state)` (the library's step, from the
/// `nn::RecurrentCell` trait). `valid[t]` is `None` when every row is valid
/// at step `t`, else a `[B, 1]` tensor, 1 for a row whose sequence has a
/// step `t` and 0 for padding: a padded row keeps its old state, `h` and
/// `c` both (`Var::where_(valid, new, old)`). Return each step's `h` in
/// time order, and the final state. There is no backward to write:
/// backpropagation through time is the tape recording your loop.
///
/// The library's solution: `nn::run_over_time` (`crates/nn/src/recurrent/time_loop.rs`).
pub fn run_lstm(
    cell: &LstmCell<f64>,
    w: &CellWeights<f64>,
    projected: &[Var<f64>],
    initial: LstmState<f64>,
    valid: &[Option<Tensor<f64>>],
) -> (Vec<Var<f64>>, LstmState<f64>) {
    todo!("exercise 3.4, run_lstm")
}

/// **Exercise 3.5**: a bidirectional layer's outputs.
///
/// `run(false)` runs the forward cell over the sequence and returns its
/// `h` at steps `0, 1, .., T-1`; `run(true)` runs the reverse cell from the
/// last step to the first and returns its `h` **in the order it visited
/// them**: `T-1, .., 1, 0`. Return, for each step `t` in time order, the
/// two directions' `h` at that step concatenated along the feature axis,
/// forward first (`[B, 2H]`, PyTorch's layout and Keras' `merge_mode="concat"`).
///
/// The library's solution: `MergeMode::merge` after each direction's
/// outputs are put in time order (`crates/nn/src/recurrent/mod.rs`, `run_layer`).
pub fn bidirectional_outputs(run: &dyn Fn(bool) -> Vec<Var<f64>>) -> Vec<Var<f64>> {
    todo!("exercise 3.5, bidirectional_outputs")
}

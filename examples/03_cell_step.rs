//! Walk 3 of 5, the `nn` crate's cells: one LSTM step written by hand with
//! autograd ops, beside `nn::LstmCell`, which is the same equations with the
//! four gates fused into two matrix products (and, by default, the
//! elementwise part as one op with a hand-written backward).
//!
//! ```text
//! cargo run --example 03_cell_step
//! ```
//!
//! It prints the cell's parameters under PyTorch's names, then `h'` and `c'`
//! from both versions and the largest difference between them, in values and
//! in the gradients of a loss with respect to the weights and the state.
//! Expect differences of zero or a few units in the last place (about 1e-16).

use autograd::{Tape, Var};
use nn::{CellOptions, LstmCell, LstmState, Module, RecurrentCell};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

/// PyTorch's LSTM step, gate order i, f, g, o, read straight off the equations:
///
/// ```text
/// gates = x W_ih^T + b_ih + h W_hh^T + b_hh      [B, 4H], then cut in four
/// c' = σ(f) * c + σ(i) * tanh(g)
/// h' = σ(o) * tanh(c')
/// ```
fn lstm_step_by_hand(w: &[Var<f64>; 4], x: &Var<f64>, h: &Var<f64>, c: &Var<f64>) -> [Var<f64>; 2] {
    let [w_ih, w_hh, b_ih, b_hh] = w;
    let gates = x.matmul(&w_ih.t()) + b_ih + h.matmul(&w_hh.t()) + b_hh;
    let [i, f, g, o] = [0, 1, 2, 3].map(|k| gates.chunk(4, 1)[k].clone());
    let c_next = f.sigmoid() * c + i.sigmoid() * g.tanh();
    let h_next = o.sigmoid() * c_next.tanh();
    [h_next, c_next]
}

fn largest_difference(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.to_vec()
        .iter()
        .zip(b.to_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn main() {
    let (batch, input, hidden) = (2, 3, 4);
    let rng = &mut StdRng::seed_from_u64(0);
    let cell = LstmCell::<f64>::new(input, hidden, &CellOptions::default(), rng);
    for (name, param) in cell.named_params() {
        println!("{name:<10} {:?}", param.shape());
    }
    let x = Tensor::rand_uniform(&[batch, input], -1.0, 1.0, rng);
    let h = Tensor::rand_uniform(&[batch, hidden], -1.0, 1.0, rng);
    let c = Tensor::rand_uniform(&[batch, hidden], -1.0, 1.0, rng);
    // The same random projection turns [h', c'] into one scalar loss on both tapes.
    let project = Tensor::rand_uniform(&[batch, 2 * hidden], -1.0, 1.0, rng);

    // The cell: one call.
    let tape = Tape::new();
    let (x1, h1, c1) = (
        tape.leaf(x.clone()),
        tape.leaf(h.clone()),
        tape.leaf(c.clone()),
    );
    let state = LstmState {
        h: h1.clone(),
        c: c1.clone(),
    };
    let next = cell.forward(&tape, &x1, &state);
    let loss = (&Var::concat(&[next.h.clone(), next.c.clone()], 1) * &project).sum();
    let cell_grads = tape.backward(&loss).expect("a scalar loss");

    // By hand: the same parameters as plain leaves.
    let tape = Tape::new();
    let (x2, h2, c2) = (tape.leaf(x), tape.leaf(h), tape.leaf(c));
    let p = cell.params();
    let biases = (p.bias_ih.as_ref(), p.bias_hh.as_ref());
    let (Some(b_ih), Some(b_hh)) = biases else {
        unreachable!("the cell has biases")
    };
    let w = [&p.weight_ih, &p.weight_hh, b_ih, b_hh].map(|param| tape.leaf(param.value().clone()));
    let by_hand = lstm_step_by_hand(&w, &x2, &h2, &c2);
    let loss = (&Var::concat(&by_hand, 1) * &project).sum();
    let hand_grads = tape.backward(&loss).expect("a scalar loss");

    println!("\nh' (cell)    {}", next.h.value());
    println!("h' (by hand) {}", by_hand[0].value());
    let mut worst: f64 = 0.0;
    for (what, a, b) in [
        ("h'", next.h.value(), by_hand[0].value()),
        ("c'", next.c.value(), by_hand[1].value()),
        ("dL/dx", &cell_grads[&x1], &hand_grads[&x2]),
        ("dL/dh", &cell_grads[&h1], &hand_grads[&h2]),
        ("dL/dc", &cell_grads[&c1], &hand_grads[&c2]),
        (
            "dL/dW_ih",
            cell_grads.param(&p.weight_ih).expect("used"),
            &hand_grads[&w[0]],
        ),
        (
            "dL/dW_hh",
            cell_grads.param(&p.weight_hh).expect("used"),
            &hand_grads[&w[1]],
        ),
        (
            "dL/db_ih",
            cell_grads.param(b_ih).expect("used"),
            &hand_grads[&w[2]],
        ),
    ] {
        let difference = largest_difference(a, b);
        println!("{what:<9} largest difference {difference:.1e}");
        worst = worst.max(difference);
    }
    assert!(
        worst < 1e-12,
        "the cell and the equations disagree by {worst}"
    );
    println!("\nthe cell is the equations: they agree to {worst:.1e}");
}

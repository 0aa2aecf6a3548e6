//! Walk 2 of 5, the `autograd` crate: a tape records every op of a forward
//! pass; `backward` walks it once in reverse, applying each op's local
//! derivative (the chain rule). A recurrent network on a tape is its
//! unrolled graph: backpropagation through time is plain backward.
//!
//! ```text
//! cargo run --example 02_tape
//! dot -Tsvg runs/02_tape/rnn_3_steps.dot > rnn.svg    # with Graphviz, to see the graph
//! ```
//!
//! It prints the gradients of `y = tanh(w x + b)` next to the ones worked
//! out by hand, then unrolls a 3-step RNN, writes its graph
//! (`tape.to_dot()`) to `runs/02_tape/rnn_3_steps.dot`, shows that one
//! weight feeds all three steps, and checks the gradients through time
//! against finite differences (`autograd::gradcheck`).

use autograd::{gradcheck, GradcheckOptions, Tape, Var};
use tensor::Tensor;

/// `h_t = tanh(x_t W_ih^T + h_{t-1} W_hh^T)` for three steps from `h_0`; the loss is `sum(h_3)`.
fn rnn_3_steps(tape: &Tape<f64>, w_ih: &Var<f64>, w_hh: &Var<f64>, h0: &Var<f64>) -> Var<f64> {
    let (w_ih_t, w_hh_t) = (w_ih.t(), w_hh.t()); // transposed once, used by every step
    let mut h = h0.clone();
    for x in [0.5, -1.0, 2.0] {
        let x = tape.constant(Tensor::from_vec(vec![x], &[1, 1]));
        h = (x.matmul(&w_ih_t) + h.matmul(&w_hh_t)).tanh();
    }
    h.sum()
}

fn main() {
    // 1. One neuron. y = tanh(w x + b):  dy/dw = (1 - y²) x,  dy/db = 1 - y²,  dy/dx = (1 - y²) w.
    let tape = Tape::<f64>::new();
    let (x, w, b) = (
        tape.leaf(Tensor::scalar(0.5)),
        tape.leaf(Tensor::scalar(-2.0)),
        tape.leaf(Tensor::scalar(0.3)),
    );
    let y = (&(&w * &x) + &b).tanh();
    let grads = tape.backward(&y).expect("y is a scalar");
    let local = 1.0 - y.item() * y.item();
    println!(
        "y = tanh(w x + b) = {:.6}, recorded as {} nodes",
        y.item(),
        tape.len()
    );
    for (name, var, by_hand) in [
        ("w", &w, local * 0.5),
        ("b", &b, local),
        ("x", &x, local * -2.0),
    ] {
        let from_tape = grads[var].item();
        println!("  dy/d{name} = {from_tape:+.6}   by hand {by_hand:+.6}");
        assert!((from_tape - by_hand).abs() < 1e-12);
    }

    // 2. A 3-step RNN (hidden 2, input 1), unrolled on one tape.
    let weights = [
        Tensor::from_vec(vec![0.8, -0.4], &[2, 1]), // W_ih [H, E]
        Tensor::from_vec(vec![0.5, -0.3, 0.2, 0.9], &[2, 2]), // W_hh [H, H]
        Tensor::from_vec(vec![0.1, -0.1], &[1, 2]), // h_0  [B, H]
    ];
    let tape = Tape::<f64>::new();
    let [w_ih, w_hh, h0] = weights.clone().map(|t| tape.leaf(t));
    let loss = rnn_3_steps(&tape, &w_ih, &w_hh, &h0);
    let grads = tape.backward(&loss).expect("a scalar loss");
    println!(
        "\nRNN, 3 steps: loss = sum(h_3) = {:.6}, {} nodes on the tape",
        loss.item(),
        tape.len()
    );
    println!(
        "  dL/dW_hh = {}   (the sum of three steps' contributions)",
        grads[&w_hh]
    );
    println!(
        "  dL/dh_0  = {}   (reached through all three steps)",
        grads[&h0]
    );

    // The graph: W_hh^T is one node, and an edge leaves it for every step.
    let dot = tape.to_dot();
    let edge = format!("  n{} -> n", w_hh.node().expect("a leaf is on the tape"));
    let after = &dot[dot.find(&edge).expect("W_hh is used") + edge.len()..];
    let transposed = &after[..after.find(';').expect("an edge ends with ;")];
    let fan_out = dot.matches(&format!("  n{transposed} -> ")).count();
    println!(
        "  the graph has {} edges; W_hh^T feeds {fan_out} matrix products",
        dot.matches("->").count()
    );
    assert_eq!(fan_out, 3);
    let path = std::path::Path::new("runs/02_tape/rnn_3_steps.dot");
    std::fs::create_dir_all(path.parent().unwrap()).expect("runs/02_tape/ can be created");
    std::fs::write(path, &dot).expect("the .dot file can be written");
    println!(
        "  wrote {} (render: dot -Tsvg {} > rnn.svg)",
        path.display(),
        path.display()
    );

    // Backpropagation through time is the chain rule over the unrolled graph:
    // every derivative agrees with a central finite difference.
    let report = gradcheck(
        |tape, v| rnn_3_steps(tape, &v[0], &v[1], &v[2]),
        &weights,
        &GradcheckOptions::default(),
    )
    .expect("the function runs");
    println!("  gradcheck: {report}");
    assert!(report.passed);
}

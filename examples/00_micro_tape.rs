//! Before the walks, the `autograd` crate on one screen: reverse-mode
//! differentiation on scalars. A tape records every op of a forward pass as
//! a node: the op's output value, its parents, and the local derivative of
//! the output with respect to each parent. `backward` walks the nodes once
//! in reverse and applies the chain rule.
//!
//! ```text
//! cargo run --example 00_micro_tape
//! ```
//!
//! It records `L = tanh(w x + b) x + w^2`, in which `x` and `w` are each used
//! twice, and prints the tape, one node a line. Then it prints a table with a
//! row per input: its value, `dL/dinput` from the tape (analytic), the same
//! derivative from a central finite difference (numeric), and the difference
//! between the two, about 1e-10 or less. It panics if any two disagree.
//!
//! The real tape (`crates/autograd`) is the same idea with tensors in place
//! of scalars. Its `Tape` is a list of nodes in execution order, a `Var` is a
//! value and the index of its node, and `Tape::record` appends a node. The
//! local derivative of a tensor op is a matrix far too large to store, so each
//! op keeps its backward rule instead: a closure, written beside the forward
//! code, that turns `grad_output` into each parent's gradient. `backward` is
//! the same single loop as here.

/// One recorded op: its name, its output value, and for each parent, d output / d parent.
struct Node {
    op: &'static str,
    value: f64,
    parents: Vec<usize>,
    local_derivatives: Vec<f64>,
}

/// A Wengert list: every op of a forward pass, in the order it ran.
#[derive(Default)]
struct Tape {
    nodes: Vec<Node>,
}

/// A value on a tape: the index of its node.
#[derive(Clone, Copy)]
struct Var(usize);

impl Tape {
    /// Appends a node; each parent comes with its local derivative.
    fn record(&mut self, op: &'static str, value: f64, parents: &[(Var, f64)]) -> Var {
        self.nodes.push(Node {
            op,
            value,
            parents: parents.iter().map(|(parent, _)| parent.0).collect(),
            local_derivatives: parents.iter().map(|&(_, local)| local).collect(),
        });
        Var(self.nodes.len() - 1)
    }

    /// An input: a node with no parents.
    fn leaf(&mut self, value: f64) -> Var {
        self.record("leaf", value, &[])
    }

    /// The value of `v`.
    fn value(&self, v: Var) -> f64 {
        self.nodes[v.0].value
    }

    /// y = a + b; dy/da = 1, dy/db = 1
    fn add(&mut self, a: Var, b: Var) -> Var {
        let y = self.value(a) + self.value(b);
        self.record("add", y, &[(a, 1.0), (b, 1.0)])
    }

    /// y = a b; dy/da = b, dy/db = a
    fn mul(&mut self, a: Var, b: Var) -> Var {
        let (a_value, b_value) = (self.value(a), self.value(b));
        self.record("mul", a_value * b_value, &[(a, b_value), (b, a_value)])
    }

    /// y = tanh(x); dy/dx = 1 - y^2
    fn tanh(&mut self, x: Var) -> Var {
        let y = self.value(x).tanh();
        self.record("tanh", y, &[(x, 1.0 - y * y)])
    }

    /// y = x^n; dy/dx = n x^(n-1)
    fn powi(&mut self, x: Var, n: i32) -> Var {
        let x_value = self.value(x);
        let local = f64::from(n) * x_value.powi(n - 1);
        self.record("powi", x_value.powi(n), &[(x, local)])
    }

    /// dL/dv for every node v up to `loss`, indexed like the nodes.
    fn backward(&self, loss: Var) -> Vec<f64> {
        let mut grads = vec![0.0; loss.0 + 1];
        grads[loss.0] = 1.0; // the seed, dL/dL

        // The tape is already in execution order: a node comes after its
        // parents, so walking it backwards reaches a node only after every
        // node that used it, and its gradient is complete. No topological
        // sort, no recursion.
        for (id, node) in self.nodes[..=loss.0].iter().enumerate().rev() {
            let grad_output = grads[id];
            for (&parent, &local) in node.parents.iter().zip(&node.local_derivatives) {
                // A value used twice receives a piece from each use; they add up.
                grads[parent] += local * grad_output;
            }
        }
        grads
    }
}

/// Records `L = tanh(w x + b) x + w^2` on a new tape, from the values of `[w, x, b]`.
fn forward(inputs: [f64; 3]) -> (Tape, [Var; 3], Var) {
    let mut tape = Tape::default();
    let [w, x, b] = inputs.map(|value| tape.leaf(value));
    let wx = tape.mul(w, x);
    let z = tape.add(wx, b);
    let h = tape.tanh(z);
    let hx = tape.mul(h, x);
    let w_squared = tape.powi(w, 2);
    let loss = tape.add(hx, w_squared);
    (tape, [w, x, b], loss)
}

/// dL/d`inputs[i]` by a central finite difference: (L(v + eps) - L(v - eps)) / 2 eps.
fn numeric_derivative(inputs: [f64; 3], i: usize, eps: f64) -> f64 {
    let loss_at = |shift: f64| {
        let mut shifted = inputs;
        shifted[i] += shift;
        let (tape, _, loss) = forward(shifted);
        tape.value(loss)
    };
    (loss_at(eps) - loss_at(-eps)) / (2.0 * eps)
}

/// Prints the tape and checks every gradient from `backward` against finite differences.
fn main() {
    let inputs = [-2.0, 0.5, 0.3];
    let (tape, vars, loss) = forward(inputs);
    println!("L = tanh(w x + b) x + w^2, {} nodes:", tape.nodes.len());
    for (id, node) in tape.nodes.iter().enumerate() {
        print!("  n{id} {:<4} {:+.6}", node.op, node.value);
        for (parent, local) in node.parents.iter().zip(&node.local_derivatives) {
            print!("   dn{id}/dn{parent} = {local:+.6}");
        }
        println!();
    }
    let grads = tape.backward(loss);
    println!("\n        value      analytic       numeric    error");
    for (i, (name, var)) in ["w", "x", "b"].into_iter().zip(vars).enumerate() {
        let (analytic, numeric) = (grads[var.0], numeric_derivative(inputs, i, 1e-6));
        let error = (analytic - numeric).abs();
        println!(
            "dL/d{name:<2} {:>+6.2} {analytic:>+13.9} {numeric:>+13.9} {error:>8.1e}",
            inputs[i]
        );
        assert!(error < 1e-8, "dL/d{name} is off by {error:e}");
    }
}

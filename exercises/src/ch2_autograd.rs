//! Chapter 2, `autograd`: write these after reading `crates/autograd/src/lib.rs`,
//! `backward.rs`, `ops/` and `gradcheck.rs`.
//!
//! Each backward rule receives what the op's forward pass saved and the
//! gradient of the loss with respect to the op's output, `grad_output`
//! (`g` below), and returns the gradient with respect to each input. The
//! checks record your rule on a tape as an op of its own and compare its
//! gradients with central finite differences and with the library's rule.
//! Run `cargo run -p exercises -- 2.` to see which pass.

// A skeleton's arguments are unused until you write its body.
#![allow(unused_variables)]

use tensor::Tensor;

use crate::recording::Node;

/// **Exercise 2.1**: the backward rule of `y = a * b`, elementwise with
/// broadcasting: `dL/da = g * b`, `dL/db = g * a`, each summed back to its
/// operand's shape (an operand broadcast along an axis was used once per
/// entry of that axis: its gradient adds up those uses).
///
/// [`Tensor::sum_to`] sums a gradient back to a shape, the adjoint of
/// broadcasting (`crates/tensor/src/reduce.rs`).
///
/// The library's solution: `Var::mul` (`crates/autograd/src/ops/arith.rs`).
pub fn mul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    todo!("exercise 2.1, mul_backward")
}

/// **Exercise 2.2**: the backward rule of `y = tanh x`, from the output
/// `y` it saved: `dL/dx = g * (1 - y²)`.
///
/// The library's solution: `Var::tanh` (`crates/autograd/src/ops/unary.rs`).
pub fn tanh_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 2.2, tanh_backward")
}

/// **Exercise 2.3**: the backward rule of `y = sigmoid x = 1 / (1 + e^-x)`,
/// from the output `y`: `dL/dx = g * y * (1 - y)`.
///
/// The library's solution: `Var::sigmoid` (`crates/autograd/src/ops/unary.rs`).
pub fn sigmoid_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    todo!("exercise 2.3, sigmoid_backward")
}

/// **Exercise 2.4**: the backward rule of the matrix product `Y = A B`,
/// `[m, k] @ [k, n]`: `dL/dA = G B^T` (`[m, n] @ [n, k]`) and
/// `dL/dB = A^T G` (`[k, m] @ [m, n]`).
///
/// The shapes say it: each gradient has its operand's shape, and there is
/// one way to get it from `G` and the other operand. `Tensor::t` and
/// `Tensor::matmul` are all you need.
///
/// The library's solution: `Var::matmul` (`crates/autograd/src/ops/matmul.rs`).
pub fn matmul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    todo!("exercise 2.4, matmul_backward")
}

/// **Exercise 2.5**: the backward rule of the mean softmax cross-entropy
/// of logits `x: [N, C]` against class ids `targets` (`N` of them):
/// `L = (1/N) sum_i (logsumexp(x_i) - x_i[t_i])`, so
/// `dL/dx_i = g * (softmax(x_i) - onehot(t_i)) / N`, where `g` is the
/// gradient of the loss itself (a number: the loss is one).
///
/// `Tensor::softmax(1)` gives each row's softmax.
///
/// The library's solution: `Var::cross_entropy` (`crates/autograd/src/ops/loss.rs`).
pub fn cross_entropy_backward(
    logits: &Tensor<f64>,
    targets: &[usize],
    grad_output: f64,
) -> Tensor<f64> {
    todo!("exercise 2.5, cross_entropy_backward")
}

/// **Exercise 2.6**: the reverse sweep. Given a recording (`nodes`, in the
/// order they were computed), the node `output` and the seed `dL/doutput`,
/// return `dL/dv` for every node `v` that `output` depends on (`None` for
/// the others, and for the nodes after `output`).
///
/// Walk the nodes backwards from `output`: by the time you reach a node,
/// every node that used it came later and has already added its share to
/// the node's gradient, so that gradient is complete. Hand it to the node's
/// `backward` rule, which returns one gradient per parent, and **add** each
/// into that parent's gradient (a value used twice gets two pieces). Keep
/// every node's complete gradient in the result. No recursion and no sort:
/// the list's order is a topological order.
///
/// The library's solution: `Tape::backward_with` (`crates/autograd/src/backward.rs`).
pub fn backward(nodes: &[Node], output: usize, seed: Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
    todo!("exercise 2.6, backward")
}

/// **Exercise 2.7**: the gradient of a scalar function by central finite
/// differences: element `j` is `(L(x + ε e_j) - L(x - ε e_j)) / 2ε`, where
/// `e_j` is 1 at element `j` and 0 elsewhere (its error is `O(ε²)`; the
/// one-sided difference's is `O(ε)`).
///
/// `x` is contiguous: `x.to_vec()` gives its elements in order, and
/// `Tensor::from_vec(values, x.shape())` a moved copy to evaluate `loss` at.
///
/// The library's solution: `autograd::gradcheck::numeric_gradient`
/// (`crates/autograd/src/gradcheck.rs`, whose module docs give the formula).
pub fn numeric_gradient(
    loss: &dyn Fn(&Tensor<f64>) -> f64,
    x: &Tensor<f64>,
    epsilon: f64,
) -> Tensor<f64> {
    todo!("exercise 2.7, numeric_gradient")
}

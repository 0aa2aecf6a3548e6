//! A reader's solutions of every exercise, written from the skeletons' doc
//! comments alone, each run through its check.

use autograd::{Tape, Var};
use exercises::check::train::{Tiny, TinyBatch};
use exercises::check::{self, Outcome};
use exercises::recording::Node;
use nn::{CellWeights, LstmCell, LstmState, Module, RecurrentCell};
use tensor::{Element, Tensor};
use train::optim::{Adam, Optimizer, Sgd};
use train::trainer::StepOutput;

// ---------------------------------------------------------------- chapter 1

fn element_position(offset: usize, strides: &[usize], index: &[usize]) -> usize {
    offset + strides.iter().zip(index).map(|(s, i)| s * i).sum::<usize>()
}

fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for k in 0..n {
        // Axis `k` counted from the right.
        let x = if k < a.len() { a[a.len() - 1 - k] } else { 1 };
        let y = if k < b.len() { b[b.len() - 1 - k] } else { 1 };
        out[n - 1 - k] = if x == y || y == 1 {
            x
        } else if x == 1 {
            y
        } else {
            return None;
        };
    }
    Some(out)
}

fn transpose_view(t: &Tensor<f64>, axis_a: usize, axis_b: usize) -> Tensor<f64> {
    let mut shape = t.shape().to_vec();
    let mut strides = t.strides().to_vec();
    shape.swap(axis_a, axis_b);
    strides.swap(axis_a, axis_b);
    t.as_strided(&shape, &strides, t.offset())
}

fn matmul(a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    let (m, k, n) = (a.dim(0), a.dim(1), b.dim(1));
    assert_eq!(k, b.dim(0), "matmul: inner sizes differ");
    let mut c = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0;
            for p in 0..k {
                sum += a.get(&[i, p]) * b.get(&[p, j]);
            }
            c.push(sum);
        }
    }
    Tensor::from_vec(c, &[m, n])
}

// ---------------------------------------------------------------- chapter 2

fn mul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    (
        grad_output.mul(b).sum_to(a.shape()),
        grad_output.mul(a).sum_to(b.shape()),
    )
}

fn tanh_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    grad_output.mul(&y.map(|v| 1.0 - v * v))
}

fn sigmoid_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    grad_output.mul(y).mul(&y.map(|v| 1.0 - v))
}

fn matmul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    (grad_output.matmul(&b.t()), a.t().matmul(grad_output))
}

fn cross_entropy_backward(
    logits: &Tensor<f64>,
    targets: &[usize],
    grad_output: f64,
) -> Tensor<f64> {
    let (n, c) = (logits.dim(0), logits.dim(1));
    assert_eq!(targets.len(), n, "one target per row");
    let mut onehot = vec![0.0; n * c];
    for (i, &t) in targets.iter().enumerate() {
        onehot[i * c + t] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, &[n, c]);
    logits
        .softmax(1)
        .sub(&onehot)
        .scale(grad_output)
        .scale(1.0 / n as f64)
}

fn backward(nodes: &[Node], output: usize, seed: Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
    let mut grads: Vec<Option<Tensor<f64>>> = vec![None; nodes.len()];
    grads[output] = Some(seed);
    for i in (0..=output).rev() {
        let (Some(grad), Some(rule)) = (&grads[i], &nodes[i].backward) else {
            continue;
        };
        let pieces = rule(grad);
        for (&parent, piece) in nodes[i].parents.iter().zip(pieces) {
            grads[parent] = Some(match grads[parent].take() {
                Some(sum) => sum.add(&piece),
                None => piece,
            });
        }
    }
    grads
}

fn numeric_gradient(
    loss: &dyn Fn(&Tensor<f64>) -> f64,
    x: &Tensor<f64>,
    epsilon: f64,
) -> Tensor<f64> {
    let values = x.to_vec();
    let mut gradient = Vec::with_capacity(values.len());
    for j in 0..values.len() {
        let mut plus = values.clone();
        plus[j] += epsilon;
        let mut minus = values.clone();
        minus[j] -= epsilon;
        let up = loss(&Tensor::from_vec(plus, x.shape()));
        let down = loss(&Tensor::from_vec(minus, x.shape()));
        gradient.push((up - down) / (2.0 * epsilon));
    }
    Tensor::from_vec(gradient, x.shape())
}

// ---------------------------------------------------------------- chapter 3

fn rnn_step<T: Element>(w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
    (x_projected + &w.recurrent(h)).tanh()
}

fn lstm_step<T: Element>(
    w: &CellWeights<T>,
    x_projected: &Var<T>,
    state: &LstmState<T>,
) -> LstmState<T> {
    let gates = x_projected + &w.recurrent(&state.h);
    let blocks = gates.chunk(4, 1);
    let i = blocks[0].sigmoid();
    let f = blocks[1].sigmoid();
    let g = blocks[2].tanh();
    let o = blocks[3].sigmoid();
    let c = &f * &state.c + &i * &g;
    let h = &o * &c.tanh();
    LstmState { h, c }
}

fn gru_step<T: Element>(w: &CellWeights<T>, x_projected: &Var<T>, h: &Var<T>) -> Var<T> {
    let x_blocks = x_projected.chunk(3, 1);
    let mut recurrent = w.recurrent(h);
    if let Some(b_hh) = &w.b_hh {
        recurrent = &recurrent + b_hh;
    }
    let h_blocks = recurrent.chunk(3, 1);
    let r = (&x_blocks[0] + &h_blocks[0]).sigmoid();
    let z = (&x_blocks[1] + &h_blocks[1]).sigmoid();
    let n = (&x_blocks[2] + &(&r * &h_blocks[2])).tanh();
    let one_minus_z = z.neg().add_scalar(T::ONE);
    &one_minus_z * &n + &z * h
}

fn run_lstm(
    cell: &LstmCell<f64>,
    w: &CellWeights<f64>,
    projected: &[Var<f64>],
    initial: LstmState<f64>,
    valid: &[Option<Tensor<f64>>],
) -> (Vec<Var<f64>>, LstmState<f64>) {
    let mut state = initial;
    let mut outputs = Vec::with_capacity(projected.len());
    for (t, x) in projected.iter().enumerate() {
        let new = cell.step(w, x, &state);
        state = match valid.get(t).and_then(Option::as_ref) {
            None => new,
            Some(mask) => LstmState {
                h: Var::where_(mask, &new.h, &state.h),
                c: Var::where_(mask, &new.c, &state.c),
            },
        };
        outputs.push(state.h.clone());
    }
    (outputs, state)
}

fn bidirectional_outputs(run: &dyn Fn(bool) -> Vec<Var<f64>>) -> Vec<Var<f64>> {
    let forward = run(false);
    let mut reverse = run(true);
    reverse.reverse();
    forward
        .iter()
        .zip(&reverse)
        .map(|(f, r)| Var::concat(&[f.clone(), r.clone()], 1))
        .collect()
}

// ---------------------------------------------------------------- chapter 4

fn sgd_step(sgd: &Sgd<f64>, step: u64, theta: &mut [f64], grad: &[f64], velocity: &mut [f64]) {
    for ((t, &g), v) in theta.iter_mut().zip(grad).zip(velocity.iter_mut()) {
        let d = g + sgd.weight_decay * *t;
        *v = if step == 1 { d } else { sgd.momentum * *v + d };
        *t -= sgd.learning_rate * *v;
    }
}

fn adam_step(
    adam: &Adam<f64>,
    step: u64,
    theta: &mut [f64],
    grad: &[f64],
    exp_avg: &mut [f64],
    exp_avg_sq: &mut [f64],
) {
    let correction1 = 1.0 - adam.beta1.powi(step as i32);
    let correction2 = 1.0 - adam.beta2.powi(step as i32);
    for (((t, &g), m), v) in theta
        .iter_mut()
        .zip(grad)
        .zip(exp_avg.iter_mut())
        .zip(exp_avg_sq.iter_mut())
    {
        let g = g + adam.weight_decay * *t;
        *m = adam.beta1 * *m + (1.0 - adam.beta1) * g;
        *v = adam.beta2 * *v + (1.0 - adam.beta2) * g * g;
        let m_hat = *m / correction1;
        let v_hat = *v / correction2;
        *t -= adam.learning_rate * m_hat / (v_hat.sqrt() + adam.epsilon);
    }
}

fn clip_grad_norm(grads: &mut [Tensor<f64>], max_norm: f64) -> f64 {
    let norm = grads
        .iter()
        .flat_map(|g| g.to_vec())
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt();
    if norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = g.scale(factor);
        }
    }
    norm
}

fn train_epoch<M: Module<f32>, B>(
    model: &mut M,
    optimizer: &mut dyn Optimizer<f32>,
    batches: &[B],
    task: &dyn Fn(&M, &Tape<f32>, &B) -> StepOutput,
    clip_norm: f64,
) -> f64 {
    let (mut total, mut examples) = (0.0, 0usize);
    for (i, batch) in batches.iter().enumerate() {
        let tape = Tape::training(i as u64);
        let out = task(model, &tape, batch);
        let mut grads = tape.backward(&out.loss).expect("backward");
        train::optim::clip_grad_norm(&mut grads, clip_norm).expect("clip");
        total += f64::from(out.loss.item()) * out.examples as f64;
        examples += out.examples;
        drop(out);
        drop(tape);
        optimizer.step(model, &grads).expect("optimizer step");
    }
    total / examples as f64
}

// ---------------------------------------------------------------- the checks

/// One exercise's check, ready to run.
type Check = Box<dyn FnOnce() -> check::CheckResult>;

/// Runs each `(id, check)`, prints its outcome, and fails naming every
/// exercise that did not pass.
fn expect_passed(checks: Vec<(&str, Check)>) {
    let mut failures = Vec::new();
    for (id, one) in checks {
        let outcome = check::run(one);
        eprintln!("{id}: {outcome:?}");
        if !matches!(outcome, Outcome::Passed(_)) {
            failures.push(format!("exercise {id}: {outcome:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn chapter_1_tensor() {
    use check::tensor as t;
    expect_passed(vec![
        ("1.1", Box::new(|| t::element_position(element_position))),
        ("1.2", Box::new(|| t::broadcast_shapes(broadcast_shapes))),
        ("1.3", Box::new(|| t::transpose_view(transpose_view))),
        ("1.4", Box::new(|| t::matmul(matmul))),
    ]);
}

#[test]
fn chapter_2_autograd() {
    use check::autograd as a;
    expect_passed(vec![
        ("2.1", Box::new(|| a::mul_backward(mul_backward))),
        ("2.2", Box::new(|| a::tanh_backward(tanh_backward))),
        ("2.3", Box::new(|| a::sigmoid_backward(sigmoid_backward))),
        ("2.4", Box::new(|| a::matmul_backward(matmul_backward))),
        (
            "2.5",
            Box::new(|| a::cross_entropy_backward(cross_entropy_backward)),
        ),
        ("2.6", Box::new(|| a::backward(backward))),
        ("2.7", Box::new(|| a::numeric_gradient(numeric_gradient))),
    ]);
}

#[test]
fn chapter_3_nn() {
    use check::nn as n;
    expect_passed(vec![
        ("3.1", Box::new(|| n::rnn_step(rnn_step::<f64>))),
        ("3.2", Box::new(|| n::lstm_step(lstm_step::<f64>))),
        ("3.3", Box::new(|| n::gru_step(gru_step::<f64>))),
        ("3.4", Box::new(|| n::run_lstm(run_lstm))),
        (
            "3.5",
            Box::new(|| n::bidirectional_outputs(bidirectional_outputs)),
        ),
    ]);
}

#[test]
fn chapter_4_train() {
    use check::train as r;
    expect_passed(vec![
        ("4.1", Box::new(|| r::sgd_step(sgd_step))),
        ("4.2", Box::new(|| r::adam_step(adam_step))),
        ("4.3", Box::new(|| r::clip_grad_norm(clip_grad_norm))),
        (
            "4.4",
            Box::new(|| r::train_epoch(train_epoch::<Tiny, TinyBatch>)),
        ),
    ]);
}

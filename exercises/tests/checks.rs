//! The checks themselves, checked: every one passes on the library's own
//! solutions, says "not yet" (no panic) for an unfilled skeleton, and
//! rejects a plausible mistake with its first failing case.

use autograd::{Tape, Var};
use exercises::book::exercises;
use exercises::check::train::{Tiny, TinyBatch};
use exercises::check::{
    self, autograd as a, nn as n, run, tensor as t, train as r, CheckResult, Outcome,
};
use exercises::recording::Node;
use nn::{CellWeights, LstmCell, LstmState, RecurrentCell};
use tensor::Tensor;
use train::optim::{Adam, Optimizer, Sgd};
use train::trainer::StepOutput;

#[test]
fn every_check_passes_on_the_librarys_solutions() {
    for exercise in exercises() {
        let outcome = run(exercise.library);
        assert!(
            matches!(outcome, Outcome::Passed(_)),
            "{} {}: {outcome:?}",
            exercise.id,
            exercise.function
        );
    }
}

#[test]
fn the_book_lists_twenty_exercises_in_reading_order_each_pointing_into_a_chapter() {
    let all = exercises();
    assert_eq!(all.len(), 20);
    let ids: Vec<&str> = all.iter().map(|e| e.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for exercise in &all {
        let file = exercise.solution.rsplit(", ").next().unwrap();
        let path = std::path::Path::new(root).join(file);
        assert!(
            path.exists(),
            "{}: {} does not exist",
            exercise.id,
            path.display()
        );
    }
}

/// An exercise's id and a run of its check.
type Labelled = (&'static str, fn() -> CheckResult);

/// Every check, given a function that says `todo!()`.
fn unfilled() -> Vec<Labelled> {
    vec![
        ("1.1", || t::element_position(|_, _, _| todo!())),
        ("1.2", || t::broadcast_shapes(|_, _| todo!())),
        ("1.3", || t::transpose_view(|_, _, _| todo!())),
        ("1.4", || t::matmul(|_, _| todo!())),
        ("2.1", || a::mul_backward(|_, _, _| todo!())),
        ("2.2", || a::tanh_backward(|_, _| todo!())),
        ("2.3", || a::sigmoid_backward(|_, _| todo!())),
        ("2.4", || a::matmul_backward(|_, _, _| todo!())),
        ("2.5", || a::cross_entropy_backward(|_, _, _| todo!())),
        ("2.6", || a::backward(|_, _, _| todo!())),
        ("2.7", || a::numeric_gradient(|_, _, _| todo!())),
        ("3.1", || n::rnn_step(|_, _, _| todo!())),
        ("3.2", || n::lstm_step(|_, _, _| todo!())),
        ("3.3", || n::gru_step(|_, _, _| todo!())),
        ("3.4", || n::run_lstm(|_, _, _, _, _| todo!())),
        ("3.5", || n::bidirectional_outputs(|_| todo!())),
        ("4.1", || r::sgd_step(|_, _, _, _, _| todo!())),
        ("4.2", || r::adam_step(|_, _, _, _, _, _| todo!())),
        ("4.3", || r::clip_grad_norm(|_, _| todo!())),
        ("4.4", || r::train_epoch(|_, _, _, _, _| todo!())),
    ]
}

#[test]
fn an_unfilled_exercise_is_not_yet_done_and_nothing_panics_out_of_the_check() {
    let checks = unfilled();
    assert_eq!(checks.len(), exercises().len());
    for (id, check) in checks {
        assert_eq!(run(check), Outcome::NotYet, "{id}");
    }
}

/// Runs a check on a wrong function: it must be found wrong, and the
/// message must contain `expected` (the case it names).
fn rejects(id: &str, check: fn() -> CheckResult, expected: &str) {
    match run(check) {
        Outcome::Wrong(message) => assert!(
            message.contains(expected),
            "{id}: the message should contain {expected:?}: {message}"
        ),
        other => panic!("{id}: a wrong function was not rejected: {other:?}"),
    }
}

#[test]
fn chapter_1_mistakes_are_caught() {
    // The strides forgotten: each index counted as if every stride were 1.
    rejects(
        "1.1",
        || t::element_position(|offset, _, index| offset + index.iter().sum::<usize>()),
        "sits at",
    );
    // Only equal shapes broadcast.
    rejects(
        "1.2",
        || t::broadcast_shapes(|a, b| (a == b).then(|| a.to_vec())),
        "expected Some",
    );
    // A copy, not a view.
    rejects(
        "1.3",
        || t::transpose_view(|x, i, j| x.transpose(i, j).contiguous().map(|v| v)),
        "is a copy",
    );
    // The first term of each sum left out.
    rejects(
        "1.4",
        || {
            t::matmul(|a, b| {
                let (m, k, n) = (a.dim(0), a.dim(1), b.dim(1));
                Tensor::from_fn(&[m, n], |ij| {
                    (1..k)
                        .map(|p| a.get(&[ij[0], p]) * b.get(&[p, ij[1]]))
                        .sum()
                })
            })
        },
        "element [",
    );
}

#[test]
fn chapter_2_mistakes_are_caught() {
    // The gradient not summed back to a broadcast operand's shape.
    rejects(
        "2.1",
        || a::mul_backward(|a, b, g| (g.mul(b), g.mul(a))),
        "has shape",
    );
    // 1 - y instead of 1 - y².
    rejects(
        "2.2",
        || a::tanh_backward(|y, g| g.mul(&y.map(|y| 1.0 - y))),
        "dL/dx",
    );
    // y instead of y (1 - y).
    rejects("2.3", || a::sigmoid_backward(|y, g| g.mul(y)), "dL/dx");
    // Operands in the wrong order: the product's shapes do not fit (a panic, reported).
    rejects(
        "2.4",
        || a::matmul_backward(|a, b, g| (g.matmul(b), a.matmul(g))),
        "panicked: ",
    );
    // The mean's 1/N forgotten.
    rejects(
        "2.5",
        || {
            a::cross_entropy_backward(|x, targets, g| {
                let onehot =
                    Tensor::from_fn(x.shape(), |i| f64::from(u8::from(targets[i[0]] == i[1])));
                (&x.softmax(1) - &onehot).scale(g)
            })
        },
        "dL/dlogits",
    );
    // A parent's gradient overwritten instead of added to.
    rejects("2.6", || a::backward(overwriting_backward), "dL/d(node");
    // The one-sided difference.
    rejects(
        "2.7",
        || {
            a::numeric_gradient(|loss, x, eps| {
                let base = x.to_vec();
                let at = |j: usize, d: f64| {
                    let mut moved = base.clone();
                    moved[j] += d;
                    loss(&Tensor::from_vec(moved, x.shape()))
                };
                let slopes = (0..base.len())
                    .map(|j| (at(j, eps) - at(j, 0.0)) / eps)
                    .collect();
                Tensor::from_vec(slopes, x.shape())
            })
        },
        "central differences",
    );
}

/// The reverse sweep with one mistake: `=` where `+=` belongs.
fn overwriting_backward(
    nodes: &[Node],
    output: usize,
    seed: Tensor<f64>,
) -> Vec<Option<Tensor<f64>>> {
    let mut grads: Vec<Option<Tensor<f64>>> = vec![None; nodes.len()];
    grads[output] = Some(seed);
    for id in (0..=output).rev() {
        let (Some(g), Some(rule)) = (grads[id].clone(), &nodes[id].backward) else {
            continue;
        };
        for (&parent, piece) in nodes[id].parents.iter().zip(rule(&g)) {
            grads[parent] = Some(piece);
        }
    }
    grads
}

/// The LSTM step with the gates read in the order `i, g, f, o`.
fn lstm_step_gates_swapped(
    w: &CellWeights<f64>,
    x: &Var<f64>,
    state: &LstmState<f64>,
) -> LstmState<f64> {
    let gates = x + &w.recurrent(&state.h);
    let blocks = gates.chunk(4, 1);
    let (i, g, f, o) = (
        blocks[0].sigmoid(),
        blocks[1].tanh(),
        blocks[2].sigmoid(),
        blocks[3].sigmoid(),
    );
    let c = &f * &state.c + &i * &g;
    let h = &o * &c.tanh();
    LstmState { h, c }
}

/// The GRU step without `b_hh`.
fn gru_step_without_bias_hh(w: &CellWeights<f64>, x: &Var<f64>, h: &Var<f64>) -> Var<f64> {
    let hidden = w.recurrent(h);
    let (xs, hs) = (x.chunk(3, 1), hidden.chunk(3, 1));
    let r = (&xs[0] + &hs[0]).sigmoid();
    let z = (&xs[1] + &hs[1]).sigmoid();
    let n = (&xs[2] + &(&r * &hs[2])).tanh();
    &(&z.neg().add_scalar(1.0) * &n) + &(&z * h)
}

/// The time loop that forgets the padding.
fn run_lstm_unmasked(
    cell: &LstmCell<f64>,
    w: &CellWeights<f64>,
    projected: &[Var<f64>],
    mut state: LstmState<f64>,
    _valid: &[Option<Tensor<f64>>],
) -> (Vec<Var<f64>>, LstmState<f64>) {
    let mut outputs = vec![];
    for x in projected {
        state = cell.step(w, x, &state);
        outputs.push(state.h.clone());
    }
    (outputs, state)
}

#[test]
fn chapter_3_mistakes_are_caught() {
    // relu for tanh.
    rejects(
        "3.1",
        || n::rnn_step(|w, x, h| (x + &h.matmul(&w.w_hh_t)).relu()),
        "h'",
    );
    // The layer's recurrent-dropout mask ignored: h W_hh^T by hand, not w.recurrent(h).
    rejects(
        "3.1",
        || n::rnn_step(|w, x, h| (x + &h.matmul(&w.w_hh_t)).tanh()),
        "a recurrent-dropout mask on h",
    );
    rejects("3.2", || n::lstm_step(lstm_step_gates_swapped), "B = ");
    rejects("3.3", || n::gru_step(gru_step_without_bias_hh), "h'");
    rejects("3.4", || n::run_lstm(run_lstm_unmasked), "lengths");
    // The reverse direction's outputs left in the order it visited them.
    rejects(
        "3.5",
        || {
            n::bidirectional_outputs(|run| {
                let (forward, reverse) = (run(false), run(true));
                forward
                    .iter()
                    .zip(&reverse)
                    .map(|(f, r)| Var::concat(&[f.clone(), r.clone()], 1))
                    .collect()
            })
        },
        "output",
    );
}

#[test]
fn chapter_4_mistakes_are_caught() {
    // Weight decay forgotten.
    rejects(
        "4.1",
        || {
            r::sgd_step(|sgd: &Sgd<f64>, step, theta, grad, v| {
                for ((t, g), v) in theta.iter_mut().zip(grad).zip(v.iter_mut()) {
                    *v = if step == 1 { *g } else { sgd.momentum * *v + g };
                    *t -= sgd.learning_rate * *v;
                }
            })
        },
        "PyTorch's sgd_momentum, step 1",
    );
    // No bias correction.
    rejects(
        "4.2",
        || {
            r::adam_step(|adam: &Adam<f64>, _step, theta, grad, m, v| {
                for (i, t) in theta.iter_mut().enumerate() {
                    let g = grad[i] + adam.weight_decay * *t;
                    m[i] = adam.beta1 * m[i] + (1.0 - adam.beta1) * g;
                    v[i] = adam.beta2 * v[i] + (1.0 - adam.beta2) * g * g;
                    *t -= adam.learning_rate * m[i] / (v[i].sqrt() + adam.epsilon);
                }
            })
        },
        "PyTorch's adam_l2, step 1",
    );
    // Every gradient scaled, even under the limit.
    rejects(
        "4.3",
        || {
            r::clip_grad_norm(|grads, max_norm| {
                let norm = grads
                    .iter()
                    .map(|g| g.square().sum().item())
                    .sum::<f64>()
                    .sqrt();
                for g in grads.iter_mut() {
                    *g = g.scale(max_norm / (norm + 1e-6));
                }
                norm
            })
        },
        "gradient 0",
    );
    rejects(
        "4.4",
        || r::train_epoch(train_epoch_without_clipping),
        "clip 0.05",
    );
}

/// The loop with the clip forgotten.
fn train_epoch_without_clipping(
    model: &mut Tiny,
    optimizer: &mut dyn Optimizer<f32>,
    batches: &[TinyBatch],
    task: &dyn Fn(&Tiny, &Tape<f32>, &TinyBatch) -> StepOutput,
    _clip_norm: f64,
) -> f64 {
    let (mut total, mut examples) = (0.0, 0);
    for (step, batch) in batches.iter().enumerate() {
        let tape = Tape::training(step as u64);
        let output = task(model, &tape, batch);
        let grads = tape.backward(&output.loss).unwrap();
        total += f64::from(output.loss.item()) * output.examples as f64;
        examples += output.examples;
        drop((tape, output));
        optimizer.step(model, &grads).unwrap();
    }
    total / examples as f64
}

#[test]
fn a_panic_in_a_readers_code_is_reported_not_propagated() {
    let outcome = run(|| t::matmul(|a, b| a.matmul(&b.t())));
    match outcome {
        Outcome::Wrong(message) => assert!(message.starts_with("panicked: "), "{message}"),
        other => panic!("{other:?}"),
    }
    let _ = check::fixture("optimizers.safetensors");
}

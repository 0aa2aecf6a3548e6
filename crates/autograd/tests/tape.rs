//! How the tape behaves: which vars get gradients, what is recorded, the
//! errors `backward` returns, long unrolled graphs, losses at extreme logits,
//! and the cost of cutting a sequence into time steps.
//!
//! The expected numbers of the literal tests are worked out in their doc comments.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use autograd::{gradcheck, BackwardError, GradcheckOptions, Param, Reduction, Tape, Var};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::{Element, Indices, Tensor};

fn vector(values: &[f64]) -> Tensor<f64> {
    Tensor::from_vec(values.to_vec(), &[values.len()])
}

/// Asserts two slices agree to `tolerance`: relative to the expected value, absolute below 1.
fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tolerance * e.abs().max(1.0),
            "got {actual:?}, expected {expected:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Which vars get gradients
// ---------------------------------------------------------------------------

/// `x` reaches the loss three ways (through `x * w`, and twice through `x * x`),
/// and the three contributions add up:
///
/// ```text
/// x = [2, -1],  w = [3, 4]
/// L = sum(x * w + x * x)  = sum([6 + 4, -4 + 1]) = 7
/// dL/dx = w + x + x       = [3 + 4, 4 - 2]       = [7, 2]
/// dL/dw = x               = [2, -1]
/// ```
#[test]
fn gradients_of_a_var_used_several_times_add_up() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[2.0, -1.0]));
    let w = tape.leaf(vector(&[3.0, 4.0]));
    let loss = (&(&x * &w) + &(&x * &x)).sum();
    assert_eq!(loss.item(), 7.0);
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(grads[&x].to_vec(), vec![7.0, 2.0]);
    assert_eq!(grads[&w].to_vec(), vec![2.0, -1.0]);
}

/// A weight used at two time steps is one leaf (`tape.parameter` returns the
/// same var for the same tensor), and its gradient is the sum over the steps:
///
/// ```text
/// w = [1, 1],  a = [1, 2],  b = [10, 20]
/// L = sum(w * a) + sum(w * b)  = 3 + 30 = 33
/// dL/dw = a + b               = [11, 22]
/// ```
#[test]
fn a_parameter_used_at_every_step_is_one_leaf_whose_gradient_sums_the_steps() {
    let weight = Param::new(vector(&[1.0, 1.0]));
    let tape = Tape::<f64>::new();
    let step = |input: &[f64]| (&tape.param(&weight) * &tape.constant(vector(input))).sum();
    let loss = &step(&[1.0, 2.0]) + &step(&[10.0, 20.0]);
    assert_eq!(loss.item(), 33.0);
    let w = tape.param(&weight);
    assert_eq!(
        tape.len(),
        1 + 2 * 2 + 1,
        "one leaf, a mul and a sum per step, one add"
    );
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(grads[&w].to_vec(), vec![11.0, 22.0]);
    assert_eq!(grads.param(&weight).unwrap().to_vec(), vec![11.0, 22.0]);
}

/// A parameter's identity is its own, not its storage's: two parameters with
/// one buffer, and a clone of a parameter, are different leaves.
#[test]
fn parameters_sharing_a_buffer_are_still_different_leaves() {
    let values = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let a = Param::new(values.clone());
    let b = Param::new(values);
    let c = a.clone();
    let tape = Tape::<f64>::new();
    let (va, vb, vc) = (tape.param(&a), tape.param(&b), tape.param(&c));
    assert_ne!(va.node(), vb.node());
    assert_ne!(va.node(), vc.node());
    let loss = (&(&va + &vb.mul_scalar(2.0)) + &vc.mul_scalar(3.0)).sum();
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(grads.param(&a).unwrap().to_vec(), vec![1.0; 4]);
    assert_eq!(grads.param(&b).unwrap().to_vec(), vec![2.0; 4]);
    assert_eq!(grads.param(&c).unwrap().to_vec(), vec![3.0; 4]);
}

/// The tape holds parameter ids, not vars, so nothing refers back to it: once
/// the last var and clone are gone, the whole recording is freed, and after
/// `backward` it no longer shares the weights' buffers, so an update writes in
/// place instead of copying the weight.
#[test]
fn a_dropped_tape_frees_everything_and_backward_releases_the_weights() {
    let mut weight = Param::new(Tensor::<f64>::from_vec(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]));
    let x = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    let tape = Tape::new();
    let loss = tape
        .constant(x.clone())
        .matmul(&tape.param(&weight))
        .tanh()
        .sum();
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(tape.memory_bytes(), 0, "backward frees every saved tensor");
    let before = weight.value().storage().as_ptr();
    weight.value_mut().data_mut()[0] = 7.0; // the tape is still alive here
    assert_eq!(
        weight.value().storage().as_ptr(),
        before,
        "no copy-on-write: the spent tape holds no reference to the weight"
    );
    assert!(grads.param(&weight).is_some());

    // A tape dropped without backward frees its saved tensors too.
    let unused = Tape::new();
    let _forward = unused
        .constant(x)
        .matmul(&unused.param(&weight))
        .tanh()
        .sum();
    drop((_forward, unused));
    weight.value_mut().data_mut()[0] = 8.0;
    assert_eq!(weight.value().storage().as_ptr(), before);
}

/// `use_as_param` substitutes a var for a parameter, so a gradient check can
/// perturb the parameter's values through a layer that asks the tape for it.
#[test]
fn use_as_param_substitutes_a_leaf_for_a_parameter() {
    let weight = Param::new(vector(&[1.0, 1.0]));
    let tape = Tape::<f64>::new();
    let substitute = tape.leaf(vector(&[2.0, 3.0]));
    tape.use_as_param(&weight, &substitute);
    let w = tape.param(&weight);
    assert_eq!(w.node(), substitute.node());
    assert_eq!(w.value().to_vec(), vec![2.0, 3.0]);
    let grads = tape.backward(&w.square().sum()).unwrap();
    assert_eq!(grads.param(&weight).unwrap().to_vec(), vec![4.0, 6.0]);

    let inference = Tape::<f64>::no_grad();
    inference.use_as_param(&weight, &inference.constant(vector(&[5.0, 6.0])));
    assert_eq!(inference.param(&weight).value().to_vec(), vec![5.0, 6.0]);
}

/// Gradients of the same parameters from two passes add up (data parallelism).
#[test]
fn parameter_gradients_of_two_passes_add_up() {
    let w = Param::new(vector(&[1.0, 2.0]));
    let v = Param::new(vector(&[3.0]));
    let first = Tape::<f64>::new();
    let mut total = first.backward(&first.param(&w).square().sum()).unwrap();
    let second = Tape::<f64>::new();
    let other = second
        .backward(&(&second.param(&w).sum() + &second.param(&v).sum()))
        .unwrap();
    total.add_params(&other);
    assert_eq!(total.param(&w).unwrap().to_vec(), vec![3.0, 5.0]);
    assert_eq!(total.param(&v).unwrap().to_vec(), vec![1.0]);
    assert_eq!(total.param_ids().len(), 2);
}

/// Dropout is active on a training tape only; the masks follow from the seed.
#[test]
fn dropout_is_active_on_training_tapes_and_repeats_with_the_seed() {
    let x = Tensor::<f64>::ones(&[1000]);
    let draw = |tape: &Tape<f64>| tape.constant(x.clone()).dropout(0.5).value().to_vec();
    assert_eq!(draw(&Tape::new()), vec![1.0; 1000]);
    assert_eq!(draw(&Tape::no_grad()), vec![1.0; 1000]);
    let masked = draw(&Tape::training(7));
    assert!(masked.iter().all(|&v| v == 0.0 || v == 2.0));
    let kept = masked.iter().filter(|&&v| v == 2.0).count();
    assert!((400..600).contains(&kept), "{kept}");
    assert_eq!(masked, draw(&Tape::training(7)));
    assert_ne!(masked, draw(&Tape::training(8)));
}

#[test]
fn constants_unused_leaves_and_intermediates_have_no_gradient() {
    let tape = Tape::<f64>::new();
    let used = tape.leaf(vector(&[1.0, 2.0]));
    let unused = tape.leaf(vector(&[3.0, 4.0]));
    let constant = tape.constant(vector(&[5.0, 6.0]));
    let hidden = &used * &constant;
    let _side_branch = unused.exp(); // recorded, but does not reach the loss
    let loss = hidden.sum();
    let grads = tape.backward(&loss).unwrap();

    assert_eq!(grads[&used].to_vec(), vec![5.0, 6.0]);
    assert!(
        grads.get(&unused).is_none(),
        "a leaf that does not reach the loss has no gradient, not zeros"
    );
    assert!(grads.get(&constant).is_none(), "a constant has no gradient");
    assert!(
        grads.get(&hidden).is_none(),
        "an intermediate keeps its gradient only with retain_grad"
    );
    assert_eq!(grads.len(), 1);
}

#[test]
#[should_panic(expected = "no gradient for this var (shape [2]): it is a constant")]
fn indexing_the_gradient_of_a_constant_panics_with_the_reason() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0, 2.0]));
    let constant = tape.constant(vector(&[5.0, 6.0]));
    let grads = tape.backward(&(&x * &constant).sum()).unwrap();
    let _ = &grads[&constant];
}

/// `dL/dh` for an intermediate `h` is kept when asked for:
///
/// ```text
/// x = [0.5, -1],  w = [2, 3],  h = x * w = [1, -3]
/// L = sum(tanh(h))
/// dL/dh = 1 - tanh(h)^2        = [1 - tanh(1)^2, 1 - tanh(3)^2]
/// dL/dx = dL/dh * w
/// ```
#[test]
fn retain_grad_keeps_the_gradient_of_an_intermediate() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[0.5, -1.0]));
    let w = tape.constant(vector(&[2.0, 3.0]));
    let h = &x * &w;
    h.retain_grad();
    let grads = tape.backward(&h.tanh().sum()).unwrap();
    let dh = [1.0 - 1f64.tanh().powi(2), 1.0 - 3f64.tanh().powi(2)];
    assert_close(&grads[&h].to_vec(), &dh, 1e-15);
    assert_close(&grads[&x].to_vec(), &[dh[0] * 2.0, dh[1] * 3.0], 1e-15);
}

/// Shape ops send gradients back as views: `x`'s gradient from `y = reshape(x)`
/// shares memory with `dL/dy`. Adding `x`'s other gradient must copy first,
/// not write into the retained `dL/dy`:
///
/// ```text
/// L = sum(3 y) + sum(5 x),  y = reshape(x, [4])
/// dL/dy = [3, 3, 3, 3],  dL/dx = 3 + 5 = 8 everywhere
/// ```
#[test]
fn accumulating_into_an_input_leaves_a_retained_gradient_unchanged() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&[2, 2]));
    let five_x = x.mul_scalar(5.0); // recorded first, so its gradient reaches x last
    let y = x.reshape(&[4]);
    y.retain_grad();
    let loss = &y.mul_scalar(3.0).sum() + &five_x.sum();
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(grads[&y].to_vec(), vec![3.0; 4]);
    assert_eq!(grads[&x].to_vec(), vec![8.0; 4]);
}

/// `detach` cuts the graph: in `L = sum(x * detach(x))` the second factor is a
/// constant, so `dL/dx = x` (not `2x`).
#[test]
fn detach_stops_the_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[3.0, -2.0]));
    let frozen = x.detach();
    assert!(!frozen.requires_grad());
    let grads = tape.backward(&(&x * &frozen).sum()).unwrap();
    assert_eq!(grads[&x].to_vec(), vec![3.0, -2.0]);
}

// ---------------------------------------------------------------------------
// What is recorded
// ---------------------------------------------------------------------------

#[test]
fn a_no_grad_tape_records_nothing_and_keeps_no_tensors() {
    let recorded = Tape::<f64>::new();
    let inference = Tape::<f64>::no_grad();
    let weight = Param::new(Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]));
    let forward = |tape: &Tape<f64>| {
        let w = tape.param(&weight);
        let x = tape.leaf(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
        (&x.matmul(&w).tanh() * &x).sigmoid().sum()
    };
    let with_grad = forward(&recorded);
    let without = forward(&inference);

    assert_eq!(
        without.item(),
        with_grad.item(),
        "no_grad computes the same values"
    );
    assert!(!inference.is_recording());
    assert_eq!(inference.len(), 0);
    assert!(inference.is_empty());
    assert_eq!(inference.memory_bytes(), 0);
    assert!(!without.requires_grad());
    assert_eq!(
        inference
            .backward(&without)
            .expect_err("backward should fail"),
        BackwardError::NotRecorded
    );
    assert!(!recorded.is_empty() && recorded.memory_bytes() > 0);
}

#[test]
fn ops_on_constants_alone_record_nothing() {
    let tape = Tape::<f64>::new();
    let a = tape.constant(vector(&[1.0, 2.0]));
    let b = (&a * &a).exp().sum();
    assert_eq!(tape.len(), 0);
    assert!(!b.requires_grad());
    assert_eq!(
        tape.backward(&b).expect_err("backward should fail"),
        BackwardError::NotRecorded
    );
}

/// `memory_bytes` counts the buffers backward rules keep: `tanh` keeps its output
/// `y` (10 f64 = 80 bytes); `mul` keeps both inputs, but `y`'s buffer is already
/// counted, so only `x` adds 80 bytes; `sum` keeps nothing.
#[test]
fn memory_bytes_counts_saved_tensors_and_backward_frees_them() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&[10]));
    let y = x.tanh();
    assert_eq!(tape.memory_bytes(), 80);
    let z = (&y * &x).sum();
    assert_eq!(tape.memory_bytes(), 80 + 80);
    tape.backward(&z).unwrap();
    assert_eq!(
        tape.memory_bytes(),
        0,
        "backward frees saved tensors as it passes them"
    );
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn backward_of_a_non_scalar_loss_is_an_error_naming_its_shape() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&[2, 3]));
    let error = tape.backward(&x.exp()).expect_err("backward should fail");
    assert_eq!(error, BackwardError::NonScalarLoss { shape: vec![2, 3] });
    let message = error.to_string();
    assert!(
        message.contains("[2, 3]") && message.contains("backward_with"),
        "{message}"
    );
}

/// `backward_with` computes a vector-Jacobian product: for `y = 3 x` and seed
/// `s`, `dL/dx = 3 s`; a seed of another shape is an error.
#[test]
fn backward_with_needs_a_seed_of_the_output_shape() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&[2, 3]));
    let y = x.mul_scalar(3.0);
    let error = tape
        .backward_with(&y, Tensor::ones(&[3, 2]))
        .expect_err("backward should fail");
    assert_eq!(
        error,
        BackwardError::SeedShape {
            expected: vec![2, 3],
            got: vec![3, 2]
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("[3, 2]") && message.contains("[2, 3]"),
        "{message}"
    );

    let seed = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3]);
    let grads = tape.backward_with(&y, seed).unwrap();
    assert_eq!(grads[&x].to_vec(), vec![0.0, 3.0, 6.0, 9.0, 12.0, 15.0]);
}

#[test]
fn a_second_backward_on_one_tape_is_an_error() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(vector(&[1.0]));
    let loss = x.tanh().sum();
    tape.backward(&loss).unwrap();
    let error = tape.backward(&loss).expect_err("backward should fail");
    assert_eq!(error, BackwardError::AlreadyBackpropagated);
    assert!(error.to_string().contains("new tape"), "{error}");
}

#[test]
fn backward_of_a_var_from_another_tape_is_an_error() {
    let (first, second) = (Tape::<f64>::new(), Tape::<f64>::new());
    let loss = first.leaf(vector(&[1.0])).sum();
    assert_eq!(
        second.backward(&loss).expect_err("backward should fail"),
        BackwardError::DifferentTape
    );
}

#[test]
#[should_panic(expected = "add: an input was recorded on a different tape")]
fn an_op_mixing_two_tapes_panics_naming_the_op() {
    let (first, second) = (Tape::<f64>::new(), Tape::<f64>::new());
    let _ = &first.leaf(vector(&[1.0])) + &second.leaf(vector(&[2.0]));
}

// ---------------------------------------------------------------------------
// Long unrolled graphs
// ---------------------------------------------------------------------------

/// A vanilla RNN, `h_t = tanh(h_{t-1} W + x_t)`, over `xs: [B, T, H]`; returns the last `h`.
fn rnn(w: &Var<f64>, h0: &Var<f64>, xs: &Var<f64>) -> Var<f64> {
    xs.unbind(1)
        .iter()
        .fold(h0.clone(), |h, x_t| (&h.matmul(w) + x_t).tanh())
}

/// Small random RNN inputs: `W` scaled so the state neither explodes nor dies.
fn rnn_inputs(batch: usize, steps: usize, hidden: usize) -> [Tensor<f64>; 3] {
    let mut rng = StdRng::seed_from_u64(11);
    [
        Tensor::rand_normal(
            &[hidden, hidden],
            0.0,
            0.5 / (hidden as f64).sqrt(),
            &mut rng,
        ),
        Tensor::rand_normal(&[batch, hidden], 0.0, 1.0, &mut rng),
        Tensor::rand_normal(&[batch, steps, hidden], 0.0, 1.0, &mut rng),
    ]
}

/// The backward sweep is a loop over the tape, not a recursion over the graph:
/// 2,000 steps (8,000 nodes) run on the test thread's ordinary stack. At the last
/// step `L = sum(h_T)`, so `dL/dx_{T-1} = 1 - h_T^2`.
#[test]
fn a_2000_step_rnn_backpropagates_without_overflowing_the_stack() {
    let steps = 2000;
    let [w, h0, xs] = rnn_inputs(2, steps, 3);
    let tape = Tape::<f64>::new();
    let (w, h0, xs) = (tape.leaf(w), tape.leaf(h0), tape.leaf(xs));
    let h_last = rnn(&w, &h0, &xs);
    assert!(
        tape.len() >= 4 * steps,
        "a select, matmul, add and tanh per step"
    );
    let grads = tape.backward(&h_last.sum()).unwrap();

    for v in [&w, &h0, &xs] {
        assert!(grads[v].to_vec().iter().all(|g| g.is_finite()));
    }
    let last_step = grads[&xs].select(1, steps - 1).to_vec();
    let expected: Vec<f64> = h_last
        .value()
        .to_vec()
        .iter()
        .map(|h| 1.0 - h * h)
        .collect();
    assert_close(&last_step, &expected, 1e-12);
}

/// The same RNN code, on 6 steps, matches finite differences for `W`, `h0` and every `x_t`.
#[test]
fn a_short_rnn_matches_finite_differences() {
    let inputs = rnn_inputs(2, 6, 3);
    let report = gradcheck(
        |_, v| rnn(&v[0], &v[1], &v[2]),
        &inputs,
        &GradcheckOptions::default(),
    )
    .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(report.checked, 9 + 6 + 36);
}

/// The graph of a 3-step RNN: every op is named, the three leaves (`W`, `h0`,
/// `xs`) are shaded, and the one `W` leaf feeds each of the three matmuls.
#[test]
fn to_dot_of_a_3_step_rnn_names_its_ops_and_marks_its_leaves() {
    let [w, h0, xs] = rnn_inputs(1, 3, 2);
    let tape = Tape::<f64>::new();
    let (w, h0, xs) = (tape.leaf(w), tape.leaf(h0), tape.leaf(xs));
    rnn(&w, &h0, &xs);
    let dot = tape.to_dot();

    assert!(
        dot.starts_with("digraph tape {") && dot.trim_end().ends_with('}'),
        "{dot}"
    );
    for op in ["leaf", "select", "matmul", "add", "tanh"] {
        assert!(
            dot.contains(&format!(": {op} [")),
            "{op} missing from:\n{dot}"
        );
    }
    assert_eq!(dot.matches(": matmul [").count(), 3, "{dot}");
    assert_eq!(
        dot.matches("fillcolor=lightblue").count(),
        3,
        "three shaded leaves:\n{dot}"
    );
    let w_edges = format!("n{} -> ", w.node().unwrap());
    assert_eq!(
        dot.matches(&w_edges).count(),
        3,
        "W feeds every step:\n{dot}"
    );
}

// ---------------------------------------------------------------------------
// Losses at extreme logits
// ---------------------------------------------------------------------------

fn tensor<T: Element>(values: &[f64], shape: &[usize]) -> Tensor<T> {
    Tensor::from_vec(values.iter().map(|&v| T::from_f64(v)).collect(), shape)
}

fn as_f64<T: Element>(t: &Tensor<T>) -> Vec<f64> {
    t.to_vec().into_iter().map(T::to_f64).collect()
}

/// `l = max(x, 0) - x t + ln(1 + e^-|x|)` and `dl/dx = sigmoid(x) - t`. At `|x| = 1e4`
/// the exponential underflows to 0 harmlessly:
///
/// ```text
/// x       1e4   1e4   -1e4  -1e4   0
/// t       1     0     1     0      1
/// l       0     1e4   1e4   0      ln 2
/// dl/dx   0     1     -1    0      -1/2
/// ```
fn bce_is_exact_at_extreme_logits<T: Element>() {
    let tape = Tape::<T>::new();
    let x = tape.leaf(tensor(&[1e4, 1e4, -1e4, -1e4, 0.0], &[5]));
    let targets = tensor(&[1.0, 0.0, 1.0, 0.0, 1.0], &[5]);
    let losses = x.binary_cross_entropy_with_logits(&targets, None, Reduction::PerElement);
    let grads = tape.backward(&losses.sum()).unwrap();
    let tolerance = if T::BYTES == 4 { 1e-6 } else { 1e-15 };
    assert_close(
        &as_f64(losses.value()),
        &[0.0, 1e4, 1e4, 0.0, std::f64::consts::LN_2],
        tolerance,
    );
    assert_close(&as_f64(&grads[&x]), &[0.0, 1.0, -1.0, 0.0, -0.5], tolerance);
}

/// `l_i = logsumexp(x_i) - x_i[t_i]`, `dl_i/dx_i = softmax(x_i) - onehot(t_i)`. With
/// logits `[1e4, 0, -1e4]`, softmax is `[1, 0, 0]` (to within `e^-1e4`):
///
/// ```text
/// target   loss    gradient
/// 0        0       [0,  0,  0]
/// 1        1e4     [1, -1,  0]
/// 2        2e4     [1,  0, -1]
/// ```
fn cross_entropy_is_exact_at_extreme_logits<T: Element>() {
    let tape = Tape::<T>::new();
    let row = [1e4, 0.0, -1e4];
    let x = tape.leaf(tensor(&row.repeat(3), &[3, 3]));
    let losses = x.cross_entropy(
        &Indices::from_slice(&[0, 1, 2]),
        None,
        Reduction::PerElement,
    );
    let grads = tape.backward(&losses.sum()).unwrap();
    let tolerance = if T::BYTES == 4 { 1e-6 } else { 1e-15 };
    assert_close(&as_f64(losses.value()), &[0.0, 1e4, 2e4], tolerance);
    assert_close(
        &as_f64(&grads[&x]),
        &[0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 1.0, 0.0, -1.0],
        tolerance,
    );
}

#[test]
fn losses_are_finite_and_exact_at_extreme_logits_in_f32_and_f64() {
    bce_is_exact_at_extreme_logits::<f32>();
    bce_is_exact_at_extreme_logits::<f64>();
    cross_entropy_is_exact_at_extreme_logits::<f32>();
    cross_entropy_is_exact_at_extreme_logits::<f64>();
}

/// At moderate logits the fused losses equal their textbook compositions,
/// in value and gradient:
/// `bce = -(t ln sigmoid(x) + (1 - t) ln(1 - sigmoid(x)))` and
/// `cross_entropy = -gather(log_softmax(x), t)`.
#[test]
fn fused_losses_match_their_compositions_at_moderate_logits() {
    let logits = Tensor::from_vec(vec![-3.0, -0.5, 0.0, 0.7, 2.0, 4.0], &[2, 3]);
    let targets = Tensor::from_vec(vec![0.0, 0.3, 1.0, 1.0, 0.5, 0.0], &[2, 3]);
    let compare = |fused: &dyn Fn(&Var<f64>) -> Var<f64>,
                   composed: &dyn Fn(&Var<f64>) -> Var<f64>| {
        let results: Vec<(f64, Vec<f64>)> = [fused, composed]
            .iter()
            .map(|loss| {
                let tape = Tape::new();
                let x = tape.leaf(logits.clone());
                let l = loss(&x);
                (l.item(), tape.backward(&l).unwrap()[&x].to_vec())
            })
            .collect();
        assert_close(&[results[0].0], &[results[1].0], 1e-12);
        assert_close(&results[0].1, &results[1].1, 1e-12);
    };
    compare(
        &|x| x.binary_cross_entropy_with_logits(&targets, None, Reduction::Mean),
        &|x| {
            let p = x.sigmoid();
            let t = x.tape().constant(targets.clone());
            let one_minus_t = 1.0 - &t;
            let positive = &t * &p.ln();
            let negative = &one_minus_t * &(1.0 - &p).ln();
            (&positive + &negative).mean().neg()
        },
    );
    let classes = Indices::from_slice(&[2, 0]);
    compare(&|x| x.cross_entropy(&classes, None, Reduction::Sum), &|x| {
        x.log_softmax(1)
            .gather(1, &classes.reshape(&[2, 1]))
            .sum()
            .neg()
    });
}

/// Padding targets are ignored in the value, the count and the gradient.
/// All-zero logits over 4 classes give every row `ln 4` and softmax `1/4`:
///
/// ```text
/// targets [1, pad, 2]  ->  loss = (ln 4 + ln 4) / 2 = ln 4
/// dL/dx row 0 = ([1/4, 1/4, 1/4, 1/4] - onehot(1)) / 2 = [1/8, -3/8, 1/8, 1/8]
/// dL/dx row 1 = 0
/// dL/dx row 2 = [1/8, 1/8, -3/8, 1/8]
/// ```
#[test]
fn cross_entropy_mean_leaves_padding_out_of_value_count_and_gradient() {
    let pad = 9;
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::zeros(&[3, 4]));
    let loss = x.cross_entropy(
        &Indices::from_slice(&[1, pad, 2]),
        Some(pad),
        Reduction::Mean,
    );
    assert_close(&[loss.item()], &[4f64.ln()], 1e-15);
    let (e, t) = (0.125, -0.375);
    let expected = [e, t, e, e, 0.0, 0.0, 0.0, 0.0, e, e, t, e];
    assert_close(
        &tape.backward(&loss).unwrap()[&x].to_vec(),
        &expected,
        1e-15,
    );
}

// ---------------------------------------------------------------------------
// Cutting a sequence into time steps
// ---------------------------------------------------------------------------

/// `L = sum_t (t + 1) * sum(x[:, t, :])` over `steps` slices cut by `cut`:
/// then `dL/dx[:, t, :] = t + 1`.
fn weighted_sum_of_steps(steps: usize, cut: impl Fn(usize) -> Var<f64>) -> Var<f64> {
    let terms: Vec<Var<f64>> = (0..steps)
        .map(|t| cut(t).sum().mul_scalar(t as f64 + 1.0))
        .collect();
    Var::stack(&terms, 0).sum()
}

fn step_weights(shape: [usize; 3]) -> Vec<f64> {
    Tensor::<f64>::from_fn(&shape, |i| i[1] as f64 + 1.0).to_vec()
}

#[test]
fn narrow_and_unbind_send_each_step_its_own_gradient_and_copy_nothing() {
    let shape = [2, 200, 8];
    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&shape));
    let by_narrow = weighted_sum_of_steps(200, |t| x.narrow(1, t, 1));
    assert!(
        x.narrow(1, 7, 1).value().shares_storage_with(x.value()),
        "a slice is a view"
    );
    assert_eq!(
        tape.memory_bytes(),
        0,
        "slices and sums save nothing for backward"
    );
    assert_eq!(
        tape.backward(&by_narrow).unwrap()[&x].to_vec(),
        step_weights(shape)
    );

    let tape = Tape::<f64>::new();
    let x = tape.leaf(Tensor::ones(&shape));
    let steps = x.unbind(1);
    let by_unbind = weighted_sum_of_steps(200, |t| steps[t].clone());
    assert_eq!(
        tape.backward(&by_unbind).unwrap()[&x].to_vec(),
        step_weights(shape)
    );
}

/// An LSTM cuts its gate pre-activations `[B, 4H]` into four gates; each gate's
/// gradient lands in its quarter. With `L = sum_g (g + 1) * sum(gate_g)`, the
/// gradient is `g + 1` across quarter `g`.
#[test]
fn chunked_gates_send_each_gate_its_own_gradient() {
    let tape = Tape::<f64>::new();
    let z = tape.leaf(Tensor::ones(&[2, 8]));
    let gates = z.chunk(4, 1);
    let loss = gates
        .iter()
        .enumerate()
        .map(|(g, gate)| gate.sum().mul_scalar(g as f64 + 1.0))
        .reduce(|a, b| &a + &b)
        .unwrap();
    let expected: Vec<f64> = (0..16).map(|i| ((i % 8) / 2 + 1) as f64).collect();
    assert_eq!(tape.backward(&loss).unwrap()[&z].to_vec(), expected);
}

/// Counts the bytes each thread allocates, so a test can measure what one call
/// allocates (other tests run on other threads and do not disturb the count).
struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: the count is unavailable while a thread is being torn down.
    let _ = ALLOCATED.try_with(|total| total.set(total.get() + bytes));
}

// SAFETY: every method forwards to the system allocator unchanged; counting
// touches only a thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: `ptr` and `layout` come from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The bytes the current thread allocates while running `f`.
fn bytes_allocated_by<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATED.with(Cell::get);
    let result = f();
    (result, ALLOCATED.with(Cell::get) - before)
}

/// Each slice sends back only its own part of the gradient, added in place into
/// one buffer for `x`. So backward allocates one `x`-sized buffer plus a little
/// bookkeeping per recorded op (about 1 KB, independent of the sizes), where a
/// full-size zero gradient per slice would allocate 400 buffers (160 MB here).
#[test]
fn backward_of_400_slices_allocates_one_gradient_buffer_not_one_per_step() {
    let (steps, shape) = (400, [2, 400, 64]);
    let buffer_bytes = shape.iter().product::<usize>() * std::mem::size_of::<f64>();
    let bookkeeping_bytes = 2048 * steps;
    for cut in ["narrow", "unbind"] {
        let tape = Tape::<f64>::new();
        let x = tape.leaf(Tensor::ones(&shape));
        let pieces = if cut == "unbind" {
            x.unbind(1)
        } else {
            (0..steps).map(|t| x.narrow(1, t, 1)).collect()
        };
        let loss = weighted_sum_of_steps(steps, |t| pieces[t].clone());
        let (grads, allocated) = bytes_allocated_by(|| tape.backward(&loss).unwrap());
        assert_eq!(grads[&x].to_vec(), step_weights(shape));
        assert!(
            allocated < buffer_bytes + bookkeeping_bytes,
            "{cut}: backward allocated {allocated} bytes; the gradient is {buffer_bytes} bytes"
        );
    }
}

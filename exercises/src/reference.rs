//! The library's own solutions, called through the exercises' signatures.
//!
//! Not a second copy: each function here hands its arguments to the code
//! of the chapter it names, so the checks that pass these (`cargo run -p
//! exercises -- --solutions`, and this crate's tests) prove that the
//! library passes every check an exercise must.

use autograd::gradients::full;
use autograd::{Gradients, Param, Reduction, Tape, Var};
use nn::{CellOptions, CellWeights, GruCell, LstmCell, LstmState, MergeMode};
use nn::{Module, RecurrentCell, RnnCell};
use rand::{rngs::StdRng, SeedableRng};
use tensor::{Indices, Tensor};
use train::optim::{Adam, Optimizer, Sgd};
use train::trainer::{BatchSource, StepOutput, Trainer, TrainerConfig};

use crate::recording::Node;

/// Exercise 1.1: `tensor::shape::element_position`.
pub fn element_position(offset: usize, strides: &[usize], index: &[usize]) -> usize {
    tensor::shape::element_position(offset, strides, index)
}

/// Exercise 1.2: `tensor::shape::broadcast_shapes`.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    tensor::shape::broadcast_shapes(a, b).map(|shape| shape.to_vec())
}

/// Exercise 1.3: `Tensor::transpose`.
pub fn transpose_view(t: &Tensor<f64>, axis_a: usize, axis_b: usize) -> Tensor<f64> {
    t.transpose(axis_a, axis_b)
}

/// Exercise 1.4: `Tensor::matmul_reference`.
pub fn matmul(a: &Tensor<f64>, b: &Tensor<f64>) -> Tensor<f64> {
    a.matmul_reference(b)
}

/// The gradients the library's op `op` gives its inputs for `grad_output`:
/// the op recorded on a tape of its own, backpropagated from `grad_output`.
pub fn library_gradients(
    inputs: &[&Tensor<f64>],
    op: impl Fn(&[Var<f64>]) -> Var<f64>,
    grad_output: &Tensor<f64>,
) -> Vec<Tensor<f64>> {
    let tape = Tape::new();
    let vars: Vec<Var<f64>> = inputs.iter().map(|x| tape.leaf((*x).clone())).collect();
    let output = op(&vars);
    let grads = tape
        .backward_with(&output, grad_output.clone())
        .expect("the op depends on its inputs");
    vars.iter()
        .map(|v| {
            grads
                .get(v)
                .cloned()
                .unwrap_or_else(|| Tensor::zeros(v.shape()))
        })
        .collect()
}

/// Exercise 2.1: the backward rule of `Var::mul`.
pub fn mul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    let [da, db]: [Tensor<f64>; 2] = library_gradients(&[a, b], |v| &v[0] * &v[1], grad_output)
        .try_into()
        .expect("two inputs");
    (da, db)
}

/// The input of `tanh` or `sigmoid` that gave the output `y` (the rules
/// receive `y`; the library's op is recorded from `x`).
fn inverse(y: &Tensor<f64>, f: fn(f64) -> f64) -> Tensor<f64> {
    y.map(f)
}

/// Exercise 2.2: the backward rule of `Var::tanh`.
pub fn tanh_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    let x = inverse(y, f64::atanh);
    library_gradients(&[&x], |v| v[0].tanh(), grad_output).remove(0)
}

/// Exercise 2.3: the backward rule of `Var::sigmoid`.
pub fn sigmoid_backward(y: &Tensor<f64>, grad_output: &Tensor<f64>) -> Tensor<f64> {
    let x = inverse(y, |y| (y / (1.0 - y)).ln());
    library_gradients(&[&x], |v| v[0].sigmoid(), grad_output).remove(0)
}

/// Exercise 2.4: the backward rule of `Var::matmul`.
pub fn matmul_backward(
    a: &Tensor<f64>,
    b: &Tensor<f64>,
    grad_output: &Tensor<f64>,
) -> (Tensor<f64>, Tensor<f64>) {
    let [da, db]: [Tensor<f64>; 2] =
        library_gradients(&[a, b], |v| v[0].matmul(&v[1]), grad_output)
            .try_into()
            .expect("two inputs");
    (da, db)
}

/// Exercise 2.5: the backward rule of `Var::cross_entropy` (mean).
pub fn cross_entropy_backward(
    logits: &Tensor<f64>,
    targets: &[usize],
    grad_output: f64,
) -> Tensor<f64> {
    let targets = Indices::from_slice(targets);
    let seed = Tensor::scalar(grad_output);
    library_gradients(
        &[logits],
        |v| v[0].cross_entropy(&targets, None, Reduction::Mean),
        &seed,
    )
    .remove(0)
}

/// Exercise 2.6: `Tape::backward_with`. The nodes are recorded on a real
/// tape, each with its rule, and the tape's one reverse loop runs.
pub fn backward(nodes: &[Node], output: usize, seed: Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
    let tape = Tape::new();
    let mut vars: Vec<Var<f64>> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let var = match &node.backward {
            None => tape.leaf(node.value.clone()),
            Some(rule) => {
                let rule = rule.clone();
                let parents: Vec<&Var<f64>> = node.parents.iter().map(|&p| &vars[p]).collect();
                tape.record(
                    node.op,
                    node.value.clone(),
                    &parents,
                    vec![],
                    move |input| rule(&input.grad_output).into_iter().map(full).collect(),
                )
            }
        };
        var.retain_grad();
        vars.push(var);
    }
    let grads = tape
        .backward_with(&vars[output], seed)
        .expect("the output depends on a leaf");
    vars.iter()
        .enumerate()
        .map(|(id, var)| (id <= output).then(|| grads.get(var).cloned()).flatten())
        .collect()
}

/// Exercise 2.7: `autograd::gradcheck::numeric_gradient`.
pub fn numeric_gradient(
    loss: &dyn Fn(&Tensor<f64>) -> f64,
    x: &Tensor<f64>,
    epsilon: f64,
) -> Tensor<f64> {
    autograd::gradcheck::numeric_gradient(loss, x, epsilon)
}

/// A cell of the library's kind: `step` reads only the weights it is
/// given, so any cell's step is the library's rule.
fn any_cell<C: RecurrentCell<f64>>() -> C {
    C::new(1, 1, &CellOptions::default(), &mut StdRng::seed_from_u64(0))
}

/// Exercise 3.1: `RnnCell::step` (tanh).
pub fn rnn_step(w: &CellWeights<f64>, x_projected: &Var<f64>, h: &Var<f64>) -> Var<f64> {
    any_cell::<RnnCell<f64>>().step(w, x_projected, h)
}

/// Exercise 3.2: `LstmCell::step`, for any element type (the IMDB program
/// runs it in `f32`).
pub fn lstm_step<T: tensor::Element>(
    w: &CellWeights<T>,
    x_projected: &Var<T>,
    state: &LstmState<T>,
) -> LstmState<T> {
    let cell = LstmCell::<T>::new(1, 1, &CellOptions::default(), &mut StdRng::seed_from_u64(0));
    cell.step(w, x_projected, state)
}

/// Exercise 3.3: `GruCell::step` (PyTorch's form).
pub fn gru_step(w: &CellWeights<f64>, x_projected: &Var<f64>, h: &Var<f64>) -> Var<f64> {
    any_cell::<GruCell<f64>>().step(w, x_projected, h)
}

/// Exercise 3.4: `nn::run_over_time` with the LSTM's step.
pub fn run_lstm(
    cell: &LstmCell<f64>,
    w: &CellWeights<f64>,
    projected: &[Var<f64>],
    initial: LstmState<f64>,
    valid: &[Option<Tensor<f64>>],
) -> (Vec<Var<f64>>, LstmState<f64>) {
    nn::run_over_time(projected, initial, valid, false, |x, state| {
        cell.step(w, x, state)
    })
}

/// Exercise 3.5: each direction's outputs in time order, then `MergeMode::Concat`.
pub fn bidirectional_outputs(run: &dyn Fn(bool) -> Vec<Var<f64>>) -> Vec<Var<f64>> {
    let forward = run(false);
    let mut reverse = run(true);
    reverse.reverse();
    forward
        .iter()
        .zip(&reverse)
        .map(|(f, r)| MergeMode::Concat.merge(&[f.clone(), r.clone()]))
        .collect()
}

/// Exercise 4.1: `Sgd::update`.
pub fn sgd_step(sgd: &Sgd<f64>, step: u64, theta: &mut [f64], grad: &[f64], velocity: &mut [f64]) {
    sgd.update(step, theta, grad, &mut [velocity]);
}

/// Exercise 4.2: `Adam::update`.
pub fn adam_step(
    adam: &Adam<f64>,
    step: u64,
    theta: &mut [f64],
    grad: &[f64],
    exp_avg: &mut [f64],
    exp_avg_sq: &mut [f64],
) {
    adam.update(step, theta, grad, &mut [exp_avg, exp_avg_sq]);
}

/// Gradients holding exactly `values`, one parameter each: the gradients of
/// `sum_i sum(p_i * values_i)` (so `dL/dp_i = values_i`).
pub fn gradients_holding(values: &[Tensor<f64>]) -> (Vec<Param<f64>>, Gradients<f64>) {
    let params: Vec<Param<f64>> = values
        .iter()
        .map(|v| Param::new(Tensor::zeros(v.shape())))
        .collect();
    let tape = Tape::new();
    let mut terms = params
        .iter()
        .zip(values)
        .map(|(p, v)| (tape.param(p) * tape.constant(v.clone())).sum());
    let first = terms.next().expect("at least one gradient");
    let loss = terms.fold(first, |sum, term| sum + term);
    let grads = tape
        .backward(&loss)
        .expect("the loss depends on the parameters");
    (params, grads)
}

/// Exercise 4.3: `train::optim::clip_grad_norm`.
pub fn clip_grad_norm(grads: &mut [Tensor<f64>], max_norm: f64) -> f64 {
    let (params, mut gradients) = gradients_holding(grads);
    let norm = train::optim::clip_grad_norm(&mut gradients, max_norm).expect("a finite norm");
    for (grad, param) in grads.iter_mut().zip(&params) {
        *grad = param
            .grad(&gradients)
            .expect("every parameter has one")
            .clone();
    }
    norm
}

/// A list of batches as a source of the training loop, in the same order every epoch.
struct InOrder<'a, B>(&'a [B]);

impl<B: Clone> BatchSource for InOrder<'_, B> {
    type Batch = B;

    fn num_batches(&self) -> usize {
        self.0.len()
    }

    fn epoch(&self, _epoch: u64) -> impl Iterator<Item = B> + '_ {
        self.0.iter().cloned()
    }
}

/// Exercise 4.4: one epoch of `Trainer::fit`, in a directory of its own
/// (removed afterwards), with the global-norm clip and nothing printed.
pub fn train_epoch<M: Module<f32>, B: Clone>(
    model: &mut M,
    optimizer: &mut dyn Optimizer<f32>,
    batches: &[B],
    task: &dyn Fn(&M, &Tape<f32>, &B) -> StepOutput,
    clip_norm: f64,
) -> f64 {
    let unique = format!(
        "tapegrad-exercise-4.4-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    let dir = std::env::temp_dir().join(unique.replace(['(', ')'], ""));
    let config = TrainerConfig {
        clip_norm: Some(clip_norm),
        verbose: false,
        ..TrainerConfig::new(1, &dir)
    };
    let mut trainer = Trainer::new(config).expect("a fresh directory");
    let task = |model: &M, tape: &Tape<f32>, batch: &B| task(model, tape, batch);
    let report = trainer.fit(model, optimizer, &InOrder(batches), None, &task);
    let _ = std::fs::remove_dir_all(&dir);
    report
        .expect("one epoch trains")
        .history
        .get("loss")
        .expect("a loss")[0]
}

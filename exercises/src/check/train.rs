//! The checks of chapter 4: the update rules against the library's and
//! PyTorch's (`tests/fixtures/optimizers.safetensors`), the loop against
//! the library's `Trainer`.

use std::collections::BTreeMap;

use autograd::{Reduction, Tape};
use nn::{Embedding, Linear, Lstm, Module};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::{Indices, Tensor};
use train::optim::{Adam, Optimizer, Sgd};
use train::trainer::StepOutput;

use super::{cases_rng, closeness, compare, fixture, normal, random_shape, CheckResult};

/// The PyTorch fixture of the optimizers.
fn pytorch() -> Result<BTreeMap<String, Tensor<f64>>, String> {
    let path = fixture("optimizers.safetensors");
    nn::checkpoint::read::<f64>(&path)
        .map(|file| file.tensors)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A tensor of the fixture.
fn get(data: &BTreeMap<String, Tensor<f64>>, name: &str) -> Result<Tensor<f64>, String> {
    data.get(name)
        .cloned()
        .ok_or(format!("the PyTorch fixture has no {name}"))
}

/// An update rule in the exercises' form: the step (from 1), the
/// parameter, its gradient and the rule's buffers.
type Rule<'a> = &'a dyn Fn(u64, &mut [f64], &[f64], &mut [Vec<f64>]);

/// Six steps of `rule` from PyTorch's starting point with its gradients,
/// against the parameter PyTorch had after each.
fn against_pytorch(case: &str, rule: Rule<'_>, buffers: usize) -> Result<f64, String> {
    let data = pytorch()?;
    let mut theta = get(&data, &format!("{case}.theta0"))?.to_vec();
    let (grads, thetas) = (
        get(&data, &format!("{case}.grads"))?,
        get(&data, &format!("{case}.thetas"))?,
    );
    let mut state = vec![vec![0.0; theta.len()]; buffers];
    let mut worst: f64 = 0.0;
    for step in 0..grads.dim(0) {
        rule(
            step as u64 + 1,
            &mut theta,
            &grads.select(0, step).to_vec(),
            &mut state,
        );
        let got = Tensor::from_vec(theta.clone(), &[theta.len()]);
        let what = format!("PyTorch's {case}, step {}: the parameter", step + 1);
        worst = worst.max(compare(
            &what,
            &got,
            &thetas.select(0, step).contiguous(),
            1e-10,
        )?);
    }
    Ok(worst)
}

/// 50 random parameters, 5 steps each with random gradients: `yours`
/// against `library`, the parameter and every buffer after each step.
fn against_library(
    rule: Rule<'_>,
    library: Rule<'_>,
    buffers: usize,
    rng: &mut StdRng,
) -> Result<f64, String> {
    let mut worst: f64 = 0.0;
    for case in 0..50 {
        let size = rng.gen_range(1..9);
        let theta = normal(&[size], rng).to_vec();
        let (mut ours, mut theirs) = (theta.clone(), theta);
        let (mut our_state, mut their_state) = (
            vec![vec![0.0; size]; buffers],
            vec![vec![0.0; size]; buffers],
        );
        for step in 1..=5 {
            let grad = normal(&[size], rng).to_vec();
            rule(step, &mut ours, &grad, &mut our_state);
            library(step, &mut theirs, &grad, &mut their_state);
            let as_tensor = |v: &[f64]| Tensor::from_vec(v.to_vec(), &[v.len()]);
            let what = format!("random case {case}, step {step}");
            worst = worst.max(compare(
                &format!("{what}: the parameter"),
                &as_tensor(&ours),
                &as_tensor(&theirs),
                1e-12,
            )?);
            for (b, (o, t)) in our_state.iter().zip(&their_state).enumerate() {
                worst = worst.max(compare(
                    &format!("{what}: buffer {b}"),
                    &as_tensor(o),
                    &as_tensor(t),
                    1e-12,
                )?);
            }
        }
    }
    Ok(worst)
}

/// The reader's SGD update of exercise 4.1.
pub type SgdStep = fn(&Sgd<f64>, u64, &mut [f64], &[f64], &mut [f64]);

/// The reader's Adam update of exercise 4.2.
pub type AdamStep = fn(&Adam<f64>, u64, &mut [f64], &[f64], &mut [f64], &mut [f64]);

/// Exercise 4.1: PyTorch's `SGD(lr=0.1, momentum=0.9, weight_decay=0.01)`,
/// then random hyperparameters against `Sgd::update`.
pub fn sgd_step(yours: SgdStep) -> CheckResult {
    let mut sgd = Sgd::new(0.1).with_momentum(0.9);
    sgd.weight_decay = 0.01;
    let pytorch_sgd = sgd.clone();
    let rule = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        yours(&pytorch_sgd, step, theta, grad, &mut state[0]);
    };
    let pytorch = against_pytorch("sgd_momentum", &rule, 1)?;
    let mut rng = cases_rng(41);
    sgd = Sgd::new(rng.gen_range(0.01..0.5)).with_momentum(rng.gen_range(0.1..0.99));
    sgd.weight_decay = rng.gen_range(0.0..0.1);
    let rule = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        yours(&sgd, step, theta, grad, &mut state[0]);
    };
    let library = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        sgd.update(step, theta, grad, &mut [&mut state[0]]);
    };
    let library = against_library(&rule, &library, 1, &mut rng)?;
    Ok(format!(
        "PyTorch's six steps ({}); 50 random cases of 5 steps against Sgd::update ({})",
        closeness(pytorch),
        closeness(library)
    ))
}

/// Exercise 4.2: PyTorch's `Adam(lr=0.01, weight_decay=0.1)`, then random
/// hyperparameters against `Adam::update`.
pub fn adam_step(yours: AdamStep) -> CheckResult {
    let mut adam = Adam::new(0.01);
    adam.weight_decay = 0.1;
    let pytorch_adam = adam.clone();
    let rule = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        let [m, v] = state else {
            unreachable!("two buffers")
        };
        yours(&pytorch_adam, step, theta, grad, m, v);
    };
    let pytorch = against_pytorch("adam_l2", &rule, 2)?;
    let mut rng = cases_rng(42);
    adam = Adam::new(rng.gen_range(1e-3..0.1));
    (adam.beta1, adam.beta2) = (rng.gen_range(0.5..0.95), rng.gen_range(0.9..0.9999));
    (adam.epsilon, adam.weight_decay) = (rng.gen_range(1e-9..1e-6), rng.gen_range(0.0..0.1));
    let rule = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        let [m, v] = state else {
            unreachable!("two buffers")
        };
        yours(&adam, step, theta, grad, m, v);
    };
    let library = |step: u64, theta: &mut [f64], grad: &[f64], state: &mut [Vec<f64>]| {
        let [m, v] = state else {
            unreachable!("two buffers")
        };
        adam.update(step, theta, grad, &mut [m, v]);
    };
    let library = against_library(&rule, &library, 2, &mut rng)?;
    Ok(format!(
        "PyTorch's six steps ({}); 50 random cases of 5 steps against Adam::update ({})",
        closeness(pytorch),
        closeness(library)
    ))
}

/// Exercise 4.3: PyTorch's `clip_grad_norm_(.., 1.0)`, then 100 random
/// lists of gradients, above and below the limit, against the library's.
pub fn clip_grad_norm(yours: fn(&mut [Tensor<f64>], f64) -> f64) -> CheckResult {
    let data = pytorch()?;
    let mut grads = vec![get(&data, "clip.a")?, get(&data, "clip.b")?];
    let norm = yours(&mut grads, 1.0);
    let total = get(&data, "clip_norm.total")?;
    let mut worst = compare(
        "PyTorch's norm",
        &Tensor::from_vec(vec![norm], &[1]),
        &total,
        1e-10,
    )?;
    worst = worst.max(compare(
        "PyTorch's clipped a",
        &grads[0],
        &get(&data, "clip_norm.a")?,
        1e-10,
    )?);
    worst = worst.max(compare(
        "PyTorch's clipped b",
        &grads[1],
        &get(&data, "clip_norm.b")?,
        1e-10,
    )?);
    let mut rng = cases_rng(43);
    let (mut clipped, mut left) = (0, 0);
    for case in 0..100 {
        let count = rng.gen_range(1..5);
        let scale = rng.gen_range(0.1..3.0);
        let original: Vec<Tensor<f64>> = (0..count)
            .map(|_| normal(&random_shape(&mut rng, 2, 4), &mut rng).scale(scale))
            .collect();
        let max_norm = rng.gen_range(0.5..5.0);
        let (mut ours, mut theirs) = (original.clone(), original);
        let (our_norm, their_norm) = (
            yours(&mut ours, max_norm),
            crate::reference::clip_grad_norm(&mut theirs, max_norm),
        );
        let what = format!(
            "random case {case} ({count} gradients, max_norm {max_norm:.3}, norm {their_norm:.3})"
        );
        let as_tensor = |x: f64| Tensor::from_vec(vec![x], &[1]);
        worst = worst.max(compare(
            &format!("{what}: the norm returned"),
            &as_tensor(our_norm),
            &as_tensor(their_norm),
            1e-12,
        )?);
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            worst = worst.max(compare(&format!("{what}: gradient {i}"), o, t, 1e-12)?);
        }
        if their_norm > max_norm {
            clipped += 1;
        } else {
            left += 1;
        }
    }
    Ok(format!(
        "PyTorch's case and 100 random ones ({clipped} clipped, {left} left alone): {}",
        closeness(worst)
    ))
}

/// The model of the loop's check: embedding, LSTM, linear (no dropout).
#[derive(Clone, Debug)]
pub struct Tiny {
    embedding: Embedding,
    lstm: Lstm,
    fc: Linear,
}
nn::module!(Tiny {
    embedding,
    lstm,
    fc
});

/// A batch of the loop's check: token ids `[B, T]` and labels `[B]`.
#[derive(Clone, Debug)]
pub struct TinyBatch {
    ids: Indices,
    labels: Tensor<f32>,
}

/// The loop's task: the mean binary cross-entropy of the final state's logit.
pub fn tiny_step(model: &Tiny, tape: &Tape<f32>, batch: &TinyBatch) -> StepOutput {
    let x = model.embedding.forward(tape, &batch.ids);
    let h = model.lstm.forward(tape, &x).final_hidden();
    let examples = batch.labels.numel();
    let logits = model.fc.forward(tape, &h).reshape(&[examples]);
    StepOutput {
        loss: logits.binary_cross_entropy_with_logits(&batch.labels, None, Reduction::Mean),
        examples,
        correct: None,
        tokens: 0,
    }
}

/// The reader's loop of exercise 4.4, for the check's model.
pub type TrainEpoch = fn(
    &mut Tiny,
    &mut dyn Optimizer<f32>,
    &[TinyBatch],
    &dyn Fn(&Tiny, &Tape<f32>, &TinyBatch) -> StepOutput,
    f64,
) -> f64;

/// A model and 9 batches of sizes 4 and 2 (their losses weigh differently).
fn tiny_problem(rng: &mut StdRng) -> (Tiny, Vec<TinyBatch>) {
    let model = Tiny {
        embedding: Embedding::new(20, 6, rng),
        lstm: Lstm::new(6, 8, rng),
        fc: Linear::new(8, 1, rng),
    };
    let batches = (0..9)
        .map(|b| {
            let rows = if b % 3 == 2 { 2 } else { 4 };
            let ids = (0..rows * 5).map(|_| rng.gen_range(0..20)).collect();
            let labels = (0..rows)
                .map(|_| f32::from(u8::from(rng.gen_bool(0.5))))
                .collect();
            TinyBatch {
                ids: Indices::new(ids, &[rows, 5]),
                labels: Tensor::from_vec(labels, &[rows]),
            }
        })
        .collect();
    (model, batches)
}

/// Exercise 4.4: three epochs' worth of starts (each a fresh model and
/// data set), one epoch each with Adam and a clip that bites, against the
/// library's `Trainer::fit`: the mean loss and every weight afterwards.
pub fn train_epoch(yours: TrainEpoch) -> CheckResult {
    let mut worst: f64 = 0.0;
    for case in 0..3u64 {
        let (model, batches) = tiny_problem(&mut StdRng::seed_from_u64(44 + case));
        let clip = [0.05, 0.5, 100.0][case as usize];
        let (mut ours, mut theirs) = (model.clone(), model);
        let our_loss = yours(&mut ours, &mut Adam::new(0.02), &batches, &tiny_step, clip);
        let their_loss = crate::reference::train_epoch(
            &mut theirs,
            &mut Adam::new(0.02),
            &batches,
            &tiny_step,
            clip,
        );
        let what = format!("case {case} (9 batches of 4 or 2 sequences, Adam(0.02), clip {clip})");
        let as_tensor = |x: f64| Tensor::from_vec(vec![x], &[1]);
        worst = worst.max(compare(
            &format!("{what}: the epoch's mean loss"),
            &as_tensor(our_loss),
            &as_tensor(their_loss),
            1e-6,
        )?);
        for ((name, o), (_, t)) in ours.named_params().iter().zip(theirs.named_params()) {
            let widen = |p: &autograd::Param<f32>| {
                Tensor::from_vec(
                    p.value().to_vec().iter().map(|&x| f64::from(x)).collect(),
                    p.shape(),
                )
            };
            worst = worst.max(compare(
                &format!("{what}: {name} after the epoch"),
                &widen(o),
                &widen(t),
                1e-6,
            )?);
        }
    }
    Ok(format!(
        "3 runs of one epoch (clips of 0.05, 0.5, and 100, which never bites), the mean loss and every weight: Trainer::fit's ({})",
        closeness(worst)
    ))
}

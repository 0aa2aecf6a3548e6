//! The exploding gradient, measured, and what clipping does about it.
//!
//! ```text
//! cargo run -p train --example exploding                 # seconds
//! cargo run -p train --example exploding -- --help
//! ```
//!
//! **1. Growth through time.** Backpropagation through time multiplies the
//! gradient by `W_hh^T` (and the activation's slope) once per step back. So
//! its norm behaves like `ρ^(T - t)`, `ρ` the scale of `W_hh`: it vanishes
//! for `ρ < 1` and explodes for `ρ > 1`. Here `W_hh` is an orthogonal matrix
//! times `--scales` (0.5, 1.0, 1.5 by default), so every singular value, and
//! the spectral norm printed, is the scale. For each scale the program
//! measures `‖dL/dh_t‖` at every step of a sequence (`retain_grad`), for a
//! linear RNN (`h_t = W_hh h_(t-1) + W_ih x_t`, the textbook case) and for
//! the tanh RNN (`nn::RnnCell`), whose saturating units tame the growth, and
//! prints the mean factor per step. `exploding_growth.svg` plots both (log
//! scale).
//!
//! **2. Training, with and without clipping.** A ReLU RNN whose `W_hh` is
//! the identity times 1.1 (`--train-scale`) learns the memory task of
//! `gradient_flow` (say which of 4 symbols came first, 20 steps ago) with
//! SGD, once as it is and once with its gradients clipped to a global norm
//! of `--clip`. Without clipping the first gradients are huge, one step
//! throws the weights far off, the loss spikes to 1e12 and is NaN a few
//! steps later; with clipping the same run descends and learns the task.
//! `exploding_training.svg` plots both losses per step.
//!
//! What to expect (the defaults, measured on this project's 2-vCPU Intel
//! Xeon, under a second): per step back, the linear RNN's gradient changes
//! by 0.500, 1.000 and 1.500 (its `‖dL/dh_1‖` 9.8e-15, 5.5 and 2.4e9), the
//! tanh RNN's by 0.500, 0.988 and 1.094; unclipped, the ReLU RNN's loss
//! reaches 2.5e12 and is NaN after 6 steps, clipped it falls to 0.006 in
//! 400. `docs/results.md` shows both charts.

use std::error::Error;
use std::path::PathBuf;

use autograd::{Reduction, Tape, Var};
use clap::Parser;
use nn::{Activation, CellOptions, Embedding, Init, Linear, Module, RecurrentCell, RnnCell};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tensor::{Indices, Tensor};
use train::cli::{self, at_least_one, non_empty_path, positive};
use train::optim::{clip_grad_norm, Optimizer, Sgd};
use train::plot::{LineChart, Series};

/// Measure exploding gradients, and train a plain RNN with and without clipping.
#[derive(Parser, Debug)]
#[command(name = "exploding")]
struct Options {
    /// Scales of W_hh (its spectral norm) to measure
    #[arg(long, value_delimiter = ',', default_value = "0.5,1.0,1.5", value_parser = positive)]
    scales: Vec<f64>,
    /// Sequence length T
    #[arg(long, default_value = "50", value_parser = at_least_one)]
    length: usize,
    /// Hidden size
    #[arg(long, default_value = "32", value_parser = at_least_one)]
    hidden: usize,
    /// Sequence length of part 2's memory task
    #[arg(long, default_value = "20", value_parser = at_least_one)]
    train_length: usize,
    /// Training steps (batches of 32) of each run of part 2
    #[arg(long, default_value = "400", value_parser = at_least_one)]
    steps: usize,
    /// SGD's learning rate in part 2
    #[arg(long, default_value = "0.01", value_parser = positive)]
    lr: f64,
    /// The scale of part 2's W_hh (the identity times it)
    #[arg(long, default_value = "1.1", value_parser = positive)]
    train_scale: f64,
    /// The global gradient norm the clipped run keeps to
    #[arg(long, default_value = "1", value_parser = positive)]
    clip: f64,
    /// Seed of initialization and data
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Where the charts and exploding.csv go
    #[arg(long, default_value = "runs/exploding", value_parser = non_empty_path)]
    out: PathBuf,
}

const SYMBOLS: usize = 4;
const BATCH: usize = 32;

/// An orthogonal `[n, n]` matrix times `scale`: every singular value is `scale`.
fn scaled_orthogonal(n: usize, scale: f64, rng: &mut StdRng) -> Tensor<f32> {
    Init::Orthogonal
        .tensor::<f32>(&[n, n], rng)
        .scale(scale as f32)
}

/// The largest singular value of `w`, by power iteration on `w^T w`.
fn spectral_norm(w: &Tensor<f32>) -> f64 {
    let mut v = Tensor::<f32>::ones(&[w.dim(1), 1]);
    for _ in 0..100 {
        let u = w.t().matmul(&w.matmul(&v));
        let norm = u.square().sum().item().sqrt();
        v = u.scale(1.0 / norm);
    }
    f64::from(w.matmul(&v).square().sum().item().sqrt())
}

/// `‖dL/dh_t‖` for `t = 1..=T`: from a random start, `T` steps of `step`,
/// the loss a fixed random projection of `h_T`.
fn gradient_norms(o: &Options, step: impl Fn(&Tape, &Var, &Var) -> Var) -> Vec<f64> {
    let rng = &mut StdRng::seed_from_u64(o.seed);
    let tape = Tape::new();
    let mut h = tape.leaf(Tensor::rand_normal(&[1, o.hidden], 0.0, 0.1, rng));
    let mut hs = Vec::new();
    for _ in 0..o.length {
        let x = tape.constant(Tensor::rand_normal(&[1, o.hidden], 0.0, 0.01, rng));
        h = step(&tape, &h, &x);
        h.retain_grad();
        hs.push(h.clone());
    }
    let projection = tape.constant(Tensor::rand_normal(&[1, o.hidden], 0.0, 1.0, rng));
    let grads = tape
        .backward(&(&h * &projection).sum())
        .expect("a scalar loss");
    let norm = |h: &Var| {
        grads
            .get(h)
            .map_or(0.0, |g| f64::from(g.square().sum().item()).sqrt())
    };
    hs.iter().map(norm).collect()
}

/// Part 1: the growth of `‖dL/dh_t‖` per scale, for the linear and the tanh RNN.
fn growth(o: &Options) -> Vec<(String, Vec<f64>)> {
    let mut curves = Vec::new();
    println!(
        "part 1: ‖dL/dh_t‖ through T = {} steps, W_hh = scale x orthogonal",
        o.length
    );
    for &scale in &o.scales {
        let rng = &mut StdRng::seed_from_u64(o.seed.wrapping_add(1));
        let w_hh = scaled_orthogonal(o.hidden, scale, rng);
        let options = CellOptions {
            bias: false,
            ..Default::default()
        };
        let mut cell = RnnCell::<f32>::new(o.hidden, o.hidden, &options, rng);
        let recurrent = w_hh.clone();
        cell.visit_mut(&mut nn::VisitorMut::new(&mut |name, p| {
            if name == "weight_hh" {
                p.set(recurrent.clone());
            }
        }));
        let linear = gradient_norms(o, |tape, h, x| &h.matmul(&tape.constant(w_hh.t())) + x);
        let tanh = gradient_norms(o, |tape, h, x| cell.forward(tape, x, h));
        let per_step = |n: &[f64]| (n[0] / n[n.len() - 1]).powf(1.0 / (n.len() - 1).max(1) as f64);
        println!(
            "  scale {scale}: spectral norm {:.3}; ×/step back: linear {:.3}, tanh {:.3}; ‖dL/dh_1‖ linear {:.2e}, tanh {:.2e}",
            spectral_norm(&w_hh),
            per_step(&linear),
            per_step(&tanh),
            linear[0],
            tanh[0]
        );
        curves.push((format!("linear, scale {scale}"), linear));
        curves.push((format!("tanh, scale {scale}"), tanh));
    }
    curves
}

/// The memory task's batch: `steps[t]` holds token `t`; the first is the symbol.
fn memory_batch(length: usize, rng: &mut StdRng) -> (Vec<Indices>, Indices) {
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.gen_range(0..SYMBOLS)).collect();
    let mut steps = vec![Indices::new(labels.clone(), &[BATCH])];
    steps.resize(length, Indices::new(vec![SYMBOLS; BATCH], &[BATCH]));
    (steps, Indices::new(labels, &[BATCH]))
}

/// Embedding -> ReLU RNN (`W_hh` a scaled identity) -> a linear head on `h_T`.
struct Memorizer {
    embedding: Embedding,
    cell: RnnCell,
    head: Linear,
}
nn::module!(Memorizer {
    embedding,
    cell,
    head
});

/// Part 2: the losses of `--steps` SGD steps, clipped to `clip` or not.
fn train_losses(o: &Options, clip: Option<f64>) -> Result<Vec<f64>, Box<dyn Error>> {
    let rng = &mut StdRng::seed_from_u64(o.seed.wrapping_add(2));
    let options = CellOptions {
        nonlinearity: Activation::Relu,
        ..Default::default()
    };
    let embedding = Embedding::new(SYMBOLS + 1, 8, rng);
    let mut cell = RnnCell::new(8, o.hidden, &options, rng);
    let w_hh = Tensor::<f32>::eye(o.hidden).scale(o.train_scale as f32);
    cell.visit_mut(&mut nn::VisitorMut::new(&mut |name, p| {
        if name == "weight_hh" {
            p.set(w_hh.clone());
        }
    }));
    let mut model = Memorizer {
        embedding,
        cell,
        head: Linear::new(o.hidden, SYMBOLS, rng),
    };
    let (mut sgd, data) = (
        Sgd::new(o.lr),
        &mut StdRng::seed_from_u64(o.seed.wrapping_add(3)),
    );
    let mut losses = Vec::new();
    for _ in 0..o.steps {
        let (steps, labels) = memory_batch(o.train_length, data);
        let tape = Tape::new();
        let mut h = model.cell.zero_state(&tape, BATCH);
        for ids in &steps {
            h = model
                .cell
                .forward(&tape, &model.embedding.forward(&tape, ids), &h);
        }
        let loss = model
            .head
            .forward(&tape, &h)
            .cross_entropy(&labels, None, Reduction::Mean);
        losses.push(f64::from(loss.item()));
        if !loss.item().is_finite() {
            break; // diverged: nothing left to learn from
        }
        let mut grads = tape.backward(&loss)?;
        drop(tape);
        if let Some(limit) = clip {
            clip_grad_norm(&mut grads, limit)?;
        }
        sgd.step(&mut model, &grads)?;
    }
    Ok(losses)
}

fn run(o: &Options) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(&o.out)?;
    let curves = growth(o);
    let points = |values: &[f64]| -> Vec<(f64, f64)> {
        let positive = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0);
        positive.map(|(i, v)| ((i + 1) as f64, *v)).collect()
    };
    let mut chart = LineChart::new(
        "Gradient through time, W_hh = scale x orthogonal",
        "time step t",
        "‖dL/dh_t‖",
    )
    .log_y();
    for (k, (name, values)) in curves.iter().enumerate() {
        chart = chart.series(Series::new(name.clone(), points(values)).color(k));
    }
    chart.save(&o.out.join("exploding_growth.svg"))?;

    println!(
        "part 2: ReLU RNN, W_hh = {} x identity, T = {}, SGD at {}",
        o.train_scale, o.train_length, o.lr
    );
    let (plain, clipped) = (train_losses(o, None)?, train_losses(o, Some(o.clip))?);
    let summary = |losses: &[f64]| {
        let worst = losses.iter().copied().fold(0.0, f64::max);
        let last = losses.last().copied().unwrap_or(f64::NAN);
        format!(
            "{} steps, largest loss {worst:.3e}, last {last:.3}",
            losses.len()
        )
    };
    println!("  without clipping: {}", summary(&plain));
    println!("  clipped to {}:    {}", o.clip, summary(&clipped));
    let training = LineChart::new("ReLU RNN on the memory task", "step", "loss")
        .log_y()
        .series(Series::new("no clipping", points(&plain)).color(0))
        .series(Series::new(format!("clipped to {}", o.clip), points(&clipped)).color(1));
    training.save(&o.out.join("exploding_training.svg"))?;
    let mut csv = String::from("curve,step,value\n");
    let runs = [
        ("no clipping".to_string(), plain),
        ("clipped".to_string(), clipped),
    ];
    for (name, values) in curves.iter().chain(&runs) {
        values
            .iter()
            .enumerate()
            .for_each(|(t, v)| csv.push_str(&format!("{name},{},{v}\n", t + 1)));
    }
    tensor::durable::write_atomically(&o.out.join("exploding.csv"), csv.as_bytes())?;
    println!(
        "wrote {}/{{exploding_growth.svg, exploding_training.svg, exploding.csv}}",
        o.out.display()
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options: Options = match cli::parse_options() {
        Ok(options) => options,
        Err(code) => return code,
    };
    cli::exit_code("exploding", run(&options))
}

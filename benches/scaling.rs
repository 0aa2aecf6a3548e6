//! How training would scale past this machine's cores, predicted from a
//! trace of real training steps.
//!
//! ```text
//! cargo bench --bench scaling                 # shards of 16, 8 and 4 rows (~1 min)
//! SCALING_STEPS=20 cargo bench --bench scaling
//! ```
//!
//! A training step of the default IMDB model (batch 64, 200 tokens, LSTM
//! 128, the library's default sizes) is the loop's own work, done here with
//! the same calls the trainer makes, each timed: the shards (forward and
//! backward of `rows` rows each, recorded on their own tapes, largest first
//! on the pool's threads), then the serial part (the shards' gradients
//! added in shard order, the embedding's by rows as the runner adds them,
//! the global-norm clip over the rows touched), then Adam (its large
//! parameters in pieces of `UPDATE_CHUNK` elements on the threads). The
//! trace is recorded on **one** thread, so each task's time is its work
//! alone. It is then replayed on `N` simulated cores: the shards by list
//! scheduling (largest first, each to the first free core), the serial part
//! serially, the update's pieces spread over the cores, and the steps one
//! after the other. The prediction for 2 cores is checked against the same
//! steps run on 2 threads here; the error says how much the replay leaves
//! out (memory bandwidth and caches shared between cores, the pool's own
//! overhead).
//!
//! For comparison, each step's embedding gradients are also added whole
//! and their norm taken over every row (outside the step), and the trace is
//! replayed with those in place of the work by rows: the design before.
//!
//! The reviews are synthetic (token ids drawn at random, 7 in 10 reviews
//! filling all 200 tokens, the rest 100-199, as the real ones cut at 200
//! are): the work of a step depends on its shapes, not on the words.

use std::time::{Duration, Instant};

use autograd::{Gradients, Tape};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensor::Tensor;
use train::data::{Batch, DataLoader, LoaderConfig, Review, Sentiment};
use train::fast::clip::{clip_grad_norm_by_rows, global_norm_by_rows};
use train::fast::update::UPDATE_CHUNK;
use train::models::{SentimentConfig, SentimentModel};
use train::optim::{global_norm, Adam, Optimizer};
use train::tasks::sentiment_step;
use train::trainer::{record, step_seed, tape_seed};

/// The default model's vocabulary (20,000 words, padding and unknown).
const VOCAB: usize = 20_002;

/// What one traced step took: each shard's time, the serial part, the update.
#[derive(Clone, Debug)]
struct StepTrace {
    shards: Vec<Duration>,
    serial: Duration,
    update: Duration,
    /// The update's pieces: the large parameters' pieces of `UPDATE_CHUNK`.
    pieces: usize,
    wall: Duration,
    /// Adding the shards' embedding gradients whole (outside the step).
    dense_embedding_sum: Duration,
    /// Adding only the rows each shard touched, as the step does (outside
    /// the step, for the same comparison).
    sparse_embedding_sum: Duration,
    /// The global norm over the whole gradients (outside the step).
    dense_norm: Duration,
    /// The global norm over the rows touched, as the step takes it (outside
    /// the step, for the same comparison).
    rows_norm: Duration,
}

/// 64-review batches of synthetic reviews, in the loader's order.
fn batches(count: usize) -> Vec<Batch> {
    let mut rng = StdRng::seed_from_u64(0);
    let reviews: Vec<Review> = (0..64 * count)
        .map(|_| {
            let len = if rng.gen_bool(0.7) {
                200
            } else {
                rng.gen_range(100..200)
            };
            Review {
                token_ids: (0..len).map(|_| rng.gen_range(2..VOCAB)).collect(),
                sentiment: if rng.gen_bool(0.5) {
                    Sentiment::Positive
                } else {
                    Sentiment::Negative
                },
                rating: 1,
            }
        })
        .collect();
    let loader = DataLoader::new(&reviews, LoaderConfig::new(64)).expect("a valid loader");
    loader.batches(0).collect()
}

/// The number of pieces Adam's update is cut into (`update_in_pieces`).
fn update_pieces(model: &SentimentModel) -> usize {
    use nn::Module;
    model
        .named_params()
        .iter()
        .map(|(_, p)| {
            if p.numel() < 2 * UPDATE_CHUNK {
                1
            } else {
                p.numel().div_ceil(UPDATE_CHUNK)
            }
        })
        .sum()
}

/// One training step, each part timed: the trainer's calls, in its order.
fn traced_step(
    model: &mut SentimentModel,
    adam: &mut Adam,
    batch: &Batch,
    rows: usize,
    step: usize,
) -> StepTrace {
    let started = Instant::now();
    let shards = batch.split(rows);
    let total = shards.iter().map(Batch::len).sum::<usize>() as f32;
    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(shards[i].len() * shards[i].time_steps()));
    let seed = step_seed(0, 0, step);
    let model_ref: &SentimentModel = model;
    let mut results = tensor::parallel_map(shards.len(), |k| {
        let i = order[k];
        let began = Instant::now();
        let tape = Tape::training(tape_seed(seed, i));
        let share = Some(shards[i].len() as f32 / total);
        let result =
            record(model_ref, &sentiment_step, &shards[i], &tape, share).expect("backward");
        drop(tape);
        (i, result, began.elapsed())
    });
    results.sort_by_key(|(i, _, _)| *i);
    // Copies of the embedding's gradients for the comparison below, not
    // counted in the step.
    let copying = Instant::now();
    let embedding_grads: Vec<Tensor<f32>> = results
        .iter()
        .map(|(_, result, _)| {
            let shard_grads = result.grads.as_ref().expect("a finite loss");
            shard_grads
                .param(model.embedding.weight())
                .expect("a gradient")
                .clone()
        })
        .collect();
    let copying = copying.elapsed();
    let serial_began = Instant::now();
    let mut grads: Option<Gradients<f32>> = None;
    let mut durations = Vec::new();
    for (_, result, took) in results {
        durations.push(took);
        let shard_grads = result.grads.expect("a finite loss");
        match &mut grads {
            None => grads = Some(shard_grads),
            Some(sum) => sum.add_params_by_rows(&shard_grads),
        }
    }
    let mut grads = grads.expect("at least one shard");
    // The norm both ways, outside the step, for the comparison.
    let outside = Instant::now();
    let timed = |norm: &dyn Fn() -> f64| {
        let began = Instant::now();
        std::hint::black_box(norm());
        began.elapsed()
    };
    let (dense_norm, rows_norm) = (
        timed(&|| global_norm(&grads)),
        timed(&|| global_norm_by_rows(&grads)),
    );
    let outside = outside.elapsed();
    clip_grad_norm_by_rows(&mut grads, 5.0).expect("a finite norm");
    let serial = serial_began.elapsed() - outside;
    let update_began = Instant::now();
    adam.step(model, &grads).expect("an update");
    let update = update_began.elapsed();
    let wall = started.elapsed() - copying - outside;
    let (dense_embedding_sum, sparse_embedding_sum) = embedding_sums(&embedding_grads, &shards);
    StepTrace {
        shards: durations,
        serial,
        update,
        pieces: update_pieces(model),
        wall,
        dense_embedding_sum,
        sparse_embedding_sum,
        dense_norm,
        rows_norm,
    }
}

/// Outside the step: the time of adding the shards' embedding gradients
/// whole (as the loop did before), and of adding only the rows each shard
/// touched into the first one's (as the runner does).
fn embedding_sums(grads: &[Tensor<f32>], shards: &[Batch]) -> (Duration, Duration) {
    let mut dense = grads[0].clone();
    let began = Instant::now();
    for grad in &grads[1..] {
        dense += grad;
    }
    let dense_time = began.elapsed();
    let touched: Vec<(Vec<usize>, Tensor<f32>)> = grads
        .iter()
        .zip(shards)
        .skip(1)
        .map(|(grad, shard)| {
            let mut ids = shard.token_ids.values().to_vec();
            ids.sort_unstable();
            ids.dedup();
            let rows = grad.index_select(0, &ids);
            (ids, rows)
        })
        .collect();
    let mut sparse = grads[0].clone();
    let began = Instant::now();
    for (ids, rows) in &touched {
        sparse.index_add_assign(0, ids, rows);
    }
    let sparse_time = began.elapsed();
    assert_eq!(
        dense.to_vec(),
        sparse.to_vec(),
        "the two sums are the same numbers"
    );
    (dense_time, sparse_time)
}

/// `steps` steps after two to warm up, with shards of `rows` on `threads` threads.
fn run(rows: usize, threads: usize, all: &[Batch]) -> Vec<StepTrace> {
    tensor::set_num_threads(threads);
    let mut model = SentimentModel::new(SentimentConfig::new(VOCAB), &mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(1e-3);
    let traces: Vec<StepTrace> = all
        .iter()
        .enumerate()
        .map(|(step, batch)| traced_step(&mut model, &mut adam, batch, rows, step))
        .collect();
    traces[2..].to_vec()
}

/// The time of one traced step replayed on `cores` cores; with `dense`,
/// the embedding's gradients added whole instead of by rows.
fn replay(trace: &StepTrace, cores: usize, dense: bool) -> Duration {
    let mut shards = trace.shards.clone();
    shards.sort_by(|a, b| b.cmp(a)); // largest first, as the runner starts them
    let mut free_at = vec![Duration::ZERO; cores];
    for shard in shards {
        let first_free = (0..cores).min_by_key(|&c| free_at[c]).expect("a core");
        free_at[first_free] += shard;
    }
    let shards_done = free_at.into_iter().max().unwrap_or_default();
    let other = trace
        .wall
        .saturating_sub(trace.shards.iter().sum::<Duration>() + trace.serial + trace.update);
    let update = trace.update / cores.min(trace.pieces).max(1) as u32;
    let serial = match dense {
        true => dense_serial(trace),
        false => trace.serial,
    };
    shards_done + serial + other + update
}

/// The step's serial part had it added the embedding's gradients whole
/// and taken their norm over every row.
fn dense_serial(trace: &StepTrace) -> Duration {
    trace
        .serial
        .saturating_sub(trace.sparse_embedding_sum + trace.rows_norm)
        + trace.dense_embedding_sum
        + trace.dense_norm
}

fn seconds(durations: impl Iterator<Item = Duration>) -> f64 {
    durations.map(|d| d.as_secs_f64()).sum()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    // As the training programs run: freed buffers kept for reuse, denormals flushed.
    train::fast::run_tuned(measure);
}

/// Traces, replays and measures each shard size, and prints the table.
fn measure() {
    let steps: usize = std::env::var("SCALING_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let all = batches(steps + 2);
    let cores = [1, 2, 4, 8, 16];
    println!("The default IMDB model (batch 64, 200 tokens, LSTM 128), {steps} steps after 2 of warm-up.");
    println!("Traced on 1 thread, replayed on N cores; the 2-core prediction against 2 threads measured here.\n");
    println!(
        "| shard rows | shards | per step, 1 thread: shards / serial / update (ms) | measured 1T, 2T (ms/step) | predicted 2T (error) | predicted speedup at {} cores | before, the embedding's gradients added and their norm taken whole: serial (ms), speedup |",
        cores.map(|c| c.to_string()).join(" / ")
    );
    println!("|--:|--:|--|--|--|--|--|");
    for rows in [16, 8, 4] {
        let one = run(rows, 1, &all);
        let two = run(rows, 2, &all);
        let per_step = |x: f64| 1e3 * x / one.len() as f64;
        let measured_one = per_step(seconds(one.iter().map(|t| t.wall)));
        let measured_two = per_step(seconds(two.iter().map(|t| t.wall)));
        let speedups = |dense: bool| -> (Vec<f64>, String) {
            let predicted: Vec<f64> = cores
                .iter()
                .map(|&n| per_step(seconds(one.iter().map(|t| replay(t, n, dense)))))
                .collect();
            let text: Vec<String> = predicted
                .iter()
                .map(|p| format!("{:.2}x", predicted[0] / p))
                .collect();
            (predicted, text.join(" / "))
        };
        let (predicted, text) = speedups(false);
        let (_, before_text) = speedups(true);
        let serial = per_step(seconds(one.iter().map(|t| t.serial)));
        let before_serial = per_step(seconds(one.iter().map(dense_serial)));
        println!(
            "| {rows} | {} | {:.1} / {serial:.1} / {:.1} | {measured_one:.1}, {measured_two:.1} ({:.2}x) | {:.1} ({:+.0}%) | {text} | {before_serial:.1}: {before_text} |",
            one[0].shards.len(),
            per_step(seconds(one.iter().flat_map(|t| t.shards.iter().copied()))),
            per_step(seconds(one.iter().map(|t| t.update))),
            measured_one / measured_two,
            predicted[1],
            100.0 * (predicted[1] - measured_two) / measured_two,
        );
    }
}

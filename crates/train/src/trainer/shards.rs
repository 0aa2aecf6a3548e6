//! One batch on every core: shards, their tapes and seeds, and the metrics of a pass.
//!
//! A batch is cut into shards of rows ([`Split`]); each shard is recorded on
//! its own tape by its own thread, with a seed fixed by `(seed, epoch, step,
//! shard)`, and the results come back in shard order, so the numbers do not
//! depend on the thread count (see the [loop's docs](super)). [`evaluate`] is
//! the same pass with nothing recorded.

use std::time::Instant;

use autograd::{BackwardError, Gradients, Tape};

use super::{BatchSource, Split, Task};
use crate::metrics::RunningMean;

/// Mean loss, accuracy and throughput over a pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochMetrics {
    /// The loss, averaged over examples.
    pub loss: f64,
    /// The fraction of correct predictions, for tasks that count them.
    pub accuracy: Option<f64>,
    /// Examples seen.
    pub examples: usize,
    /// Tokens seen.
    pub tokens: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Accumulates a pass's step outputs into [`EpochMetrics`].
#[derive(Default)]
pub(super) struct Meter {
    pub(super) loss: RunningMean,
    correct: usize,
    counted: bool,
    examples: usize,
    pub(super) tokens: usize,
}

impl Meter {
    pub(super) fn add(&mut self, shard: &ShardResult) {
        self.loss.add(shard.loss, shard.examples);
        self.examples += shard.examples;
        self.tokens += shard.tokens;
        if let Some(correct) = shard.correct {
            self.correct += correct;
            self.counted = true;
        }
    }

    /// The fraction correct; NaN when the loss is not finite, because then
    /// the predictions counted came from NaN outputs (`NaN > 0.5` is false, so
    /// every one of them was counted as "negative").
    pub(super) fn accuracy(&self) -> Option<f64> {
        self.counted.then(|| {
            if self.loss.mean().is_finite() {
                self.correct as f64 / self.examples.max(1) as f64
            } else {
                f64::NAN
            }
        })
    }

    pub(super) fn finish(&self, started: Instant) -> EpochMetrics {
        EpochMetrics {
            loss: self.loss.mean(),
            accuracy: self.accuracy(),
            examples: self.examples,
            tokens: self.tokens,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// What one shard's pass produced: its figures, and its gradients if it was recorded.
pub(super) struct ShardResult {
    pub(super) loss: f64,
    examples: usize,
    correct: Option<usize>,
    tokens: usize,
    pub(super) grads: Option<Gradients<f32>>,
}

/// Runs `task` on each shard of `batch` at the same time, one tape per shard.
///
/// With `seed: Some(s)` the pass is a training pass (tapes made by
/// [`Tape::training`], each shard's loss weighted by its share of the batch
/// and backpropagated); with `None` nothing is recorded. Results come back in
/// shard order.
pub(super) fn run_shards<M, B, K>(
    model: &M,
    task: &K,
    batch: &B,
    shard_size: Option<usize>,
    seed: Option<u64>,
) -> Vec<Result<ShardResult, BackwardError>>
where
    M: Sync,
    B: Split + Sync,
    K: Task<M, B> + Sync,
{
    let shards = match shard_size {
        Some(rows) if rows < batch.examples() => batch.split(rows),
        _ => Vec::new(),
    };
    let pieces: &[B] = if shards.is_empty() {
        std::slice::from_ref(batch)
    } else {
        &shards
    };
    let total = pieces.iter().map(Split::examples).sum::<usize>().max(1);
    // Largest first (a stable order, so ties keep shard order); results are put back in shard order.
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pieces[i].cost()));
    let run_one = |i: usize| -> Result<ShardResult, BackwardError> {
        let piece = &pieces[i];
        let tape = match seed {
            Some(seed) => Tape::training(shard_seed(seed, i)),
            None => Tape::no_grad(),
        };
        let output = task.step(model, &tape, piece);
        let loss = f64::from(output.loss.item());
        let grads = match seed {
            Some(_) if loss.is_finite() => {
                let share = output.examples as f32 / total as f32;
                let weighted = if pieces.len() == 1 {
                    output.loss.clone()
                } else {
                    output.loss.mul_scalar(share)
                };
                Some(tape.backward(&weighted)?)
            }
            _ => None,
        };
        Ok(ShardResult {
            loss,
            examples: output.examples,
            correct: output.correct,
            tokens: output.tokens,
            grads,
        })
    };
    let mut results = tensor::parallel_map(pieces.len(), |k| (order[k], run_one(order[k])));
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Runs `task` over every batch of `source` without recording (`no_grad`
/// tapes, dropout off), shards of `shard_size` rows at the same time, and
/// averages its loss and accuracy. It runs in the caller's floating-point
/// mode (inside [`Trainer::fit`](super::Trainer::fit), denormals flushed as
/// its config says; elsewhere wrap it in `tensor::fast::denormals::flush_denormals`
/// for the same numbers).
pub fn evaluate<M, S, K>(model: &M, source: &S, task: &K, shard_size: Option<usize>) -> EpochMetrics
where
    M: Sync,
    S: BatchSource,
    S::Batch: Split + Sync,
    K: Task<M, S::Batch> + Sync,
{
    let started = Instant::now();
    let mut meter = Meter::default();
    task.reset(model);
    for batch in source.epoch(0) {
        for shard in run_shards(model, task, &batch, shard_size, None) {
            meter.add(&shard.expect("nothing is backpropagated in evaluation"));
        }
    }
    meter.finish(started)
}

/// SplitMix64's finalizer: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of one training step: distinct for every (seed, epoch, step).
pub(super) fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    mix(seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (step as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
}

/// The seed of one shard's tape within a step.
fn shard_seed(step_seed: u64, shard: usize) -> u64 {
    mix(step_seed ^ (shard as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

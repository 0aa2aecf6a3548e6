//! One batch's forward and backward: its tapes, their seeds, and the
//! figures of a pass.
//!
//! The loop hands each batch to a [`BatchRunner`]. The plain one,
//! [`WholeBatch`], records the batch on one tape; the appendix's
//! [`Shards`](crate::fast) records shards of it on every core. Each
//! tape recorded gives one [`TapeResult`]: its loss figures and its
//! gradients. [`evaluate`] is the same pass with nothing recorded.

use std::time::Instant;

use autograd::{BackwardError, Gradients, Tape};

use super::{BatchSource, Task};
use crate::metrics::RunningMean;
use crate::optim::{clip_grad_norm, global_norm, ClipError};

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

/// What one tape's pass produced: its figures, and its gradients if it was
/// a training pass (of its share of the batch's mean loss).
pub struct TapeResult {
    /// The loss of the examples on this tape, averaged over them.
    pub loss: f64,
    /// How many examples the tape held.
    pub examples: usize,
    /// How many of them the model got right, for tasks with an accuracy.
    pub correct: Option<usize>,
    /// How many tokens the tape held.
    pub tokens: usize,
    /// The gradients, for a training pass whose loss is finite.
    pub grads: Option<Gradients<f32>>,
}

/// How the loop runs one batch: on one tape, or cut into pieces recorded at
/// the same time. Either way the tapes come back in a fixed order, so the
/// numbers do not depend on the number of threads.
pub trait BatchRunner<M, B, K> {
    /// A training pass over `batch`: tapes made by [`Tape::training`] with
    /// seeds from `step_seed` ([`tape_seed`]), each tape's loss weighted by
    /// its share of the batch and backpropagated (if finite).
    ///
    /// # Errors
    /// If backpropagation fails on a tape.
    fn train(
        &self,
        model: &M,
        task: &K,
        batch: &B,
        step_seed: u64,
    ) -> Vec<Result<TapeResult, BackwardError>>;

    /// The figures of `batch` with nothing recorded (`no_grad` tapes, dropout off).
    fn evaluate(&self, model: &M, task: &K, batch: &B) -> Vec<TapeResult>;

    /// Adds one tape's gradients into the step's total; the loop calls it
    /// for each tape after the first, in tape order. The plain way is
    /// [`Gradients::add_params`].
    fn add_gradients(&self, total: &mut Gradients<f32>, tape: &Gradients<f32>) {
        total.add_params(tape);
    }

    /// The global norm of the step's gradients, which are then clipped to
    /// `max_norm` if one is given. The plain way is [`clip_grad_norm`], or
    /// [`global_norm`] alone.
    ///
    /// # Errors
    /// As [`clip_grad_norm`].
    fn clip_gradients(
        &self,
        grads: &mut Gradients<f32>,
        max_norm: Option<f64>,
    ) -> Result<f64, ClipError> {
        match max_norm {
            Some(limit) => clip_grad_norm(grads, limit),
            None => Ok(global_norm(grads)),
        }
    }
}

/// The plain runner: each batch is recorded whole, on one tape.
#[derive(Clone, Copy, Debug, Default)]
pub struct WholeBatch;

impl<M, B, K: Task<M, B>> BatchRunner<M, B, K> for WholeBatch {
    fn train(
        &self,
        model: &M,
        task: &K,
        batch: &B,
        step_seed: u64,
    ) -> Vec<Result<TapeResult, BackwardError>> {
        let tape = Tape::training(tape_seed(step_seed, 0));
        vec![record(model, task, batch, &tape, None)]
    }

    fn evaluate(&self, model: &M, task: &K, batch: &B) -> Vec<TapeResult> {
        let result = record(model, task, batch, &Tape::no_grad(), None);
        vec![result.expect("nothing is backpropagated in evaluation")]
    }
}

/// Runs `task` on `batch` on `tape`. On a recording tape, a finite loss is
/// backpropagated; when the batch is one piece of a larger one, weighted by
/// `share`, the piece's part of the whole batch.
///
/// # Errors
/// If backpropagation fails.
pub fn record<M, B, K: Task<M, B>>(
    model: &M,
    task: &K,
    batch: &B,
    tape: &Tape<f32>,
    share: Option<f32>,
) -> Result<TapeResult, BackwardError> {
    let output = task.step(model, tape, batch);
    let loss = f64::from(output.loss.item());
    let grads = if tape.is_recording() && loss.is_finite() {
        let weighted = match share {
            Some(share) => output.loss.mul_scalar(share),
            None => output.loss.clone(),
        };
        Some(tape.backward(&weighted)?)
    } else {
        None
    };
    Ok(TapeResult {
        loss,
        examples: output.examples,
        correct: output.correct,
        tokens: output.tokens,
        grads,
    })
}

/// Accumulates a pass's tape results into [`EpochMetrics`].
#[derive(Default)]
pub(super) struct Meter {
    pub(super) loss: RunningMean,
    correct: usize,
    counted: bool,
    examples: usize,
    pub(super) tokens: usize,
}

impl Meter {
    pub(super) fn add(&mut self, result: &TapeResult) {
        self.loss.add(result.loss, result.examples);
        self.examples += result.examples;
        self.tokens += result.tokens;
        if let Some(correct) = result.correct {
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

/// Runs `task` over every batch of `source` without recording (`no_grad`
/// tapes, dropout off), each batch as `runner` runs it, and averages its
/// loss and accuracy.
pub fn evaluate<M, S, K, R>(model: &M, source: &S, task: &K, runner: &R) -> EpochMetrics
where
    S: BatchSource,
    K: Task<M, S::Batch>,
    R: BatchRunner<M, S::Batch, K>,
{
    let started = Instant::now();
    let mut meter = Meter::default();
    task.reset(model);
    for batch in source.epoch(0) {
        for result in runner.evaluate(model, task, &batch) {
            meter.add(&result);
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
pub fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    mix(seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (step as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
}

/// The seed of tape `index` of a step (0 for a step recorded whole): its
/// dropout masks.
pub fn tape_seed(step_seed: u64, index: usize) -> u64 {
    mix(step_seed ^ (index as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

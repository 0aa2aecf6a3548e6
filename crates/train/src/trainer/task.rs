//! What a problem plugs into the loop: a [`Task`] turns a batch into a loss, a
//! [`BatchSource`] hands out an epoch's batches, and [`Split`] cuts a batch
//! into the shards that run at the same time.

use autograd::{Tape, Var};

#[cfg(doc)]
use super::TrainerConfig;

/// What one batch's forward pass gives the loop.
pub struct StepOutput {
    /// The batch's mean loss, recorded on the step's tape.
    pub loss: Var<f32>,
    /// How many examples the batch holds (the loss's weight in the epoch's mean).
    pub examples: usize,
    /// How many of them the model got right, for tasks with an accuracy.
    pub correct: Option<usize>,
    /// How many tokens the batch holds, for the tokens/s figure (0 if not counted).
    pub tokens: usize,
}

/// A problem the loop can train on: how a batch becomes a loss.
///
/// Any function or closure `Fn(&Model, &Tape<f32>, &Batch) -> StepOutput`
/// is a task. Shards of one batch run at the same time on several threads,
/// so a task computes from its arguments and the model only.
pub trait Task<M, B> {
    /// Runs the forward pass of `batch` on `tape` and returns its loss.
    fn step(&self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput;

    /// Called before each training epoch and each evaluation pass: a task
    /// whose model carries state from batch to batch resets it here.
    fn reset(&self, _model: &M) {}

    /// Called after each epoch (from 1) is done and saved: a language model
    /// prints a sample of its text here, as the tutorials do.
    fn after_epoch(&self, _model: &M, _epoch: usize) {}
}

impl<M, B, F> Task<M, B> for F
where
    F: Fn(&M, &Tape<f32>, &B) -> StepOutput,
{
    fn step(&self, model: &M, tape: &Tape<f32>, batch: &B) -> StepOutput {
        self(model, tape, batch)
    }
}

/// A batch that can be cut into shards of rows, for data parallelism.
pub trait Split: Sized {
    /// The number of examples.
    fn examples(&self) -> usize;

    /// Consecutive pieces of at most `rows` examples, in order. A batch
    /// whose rows cannot be separated (streams carrying state from batch to
    /// batch) returns itself whole.
    fn split(&self, rows: usize) -> Vec<Self>;

    /// Roughly how much work the batch is (default: its examples); the
    /// largest shards start first, so no thread is left with a long one at
    /// the end.
    fn cost(&self) -> usize {
        self.examples()
    }
}

/// Character windows split by rows. Only for windows that do not carry state
/// from batch to batch: a stateful run keeps each batch whole
/// ([`TrainerConfig::shard_size`] `None`).
impl Split for crate::data::text::CharBatch {
    fn examples(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        let (batch, time) = (self.inputs.shape()[0], self.inputs.shape()[1]);
        (0..batch)
            .step_by(rows.max(1))
            .map(|first| {
                let end = (first + rows).min(batch);
                let cut = |ids: &tensor::Indices| {
                    tensor::Indices::new(
                        ids.values()[first * time..end * time].to_vec(),
                        &[end - first, time],
                    )
                };
                crate::data::text::CharBatch {
                    inputs: cut(&self.inputs),
                    targets: cut(&self.targets),
                }
            })
            .collect()
    }
}

impl Split for crate::data::Batch {
    fn examples(&self) -> usize {
        self.len()
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        crate::data::Batch::split(self, rows)
    }

    fn cost(&self) -> usize {
        self.len() * self.time_steps()
    }
}

/// Where an epoch's batches come from. The batches of an epoch must depend
/// only on the epoch number, so a resumed run sees the same ones.
pub trait BatchSource {
    /// One batch.
    type Batch;

    /// The number of batches in an epoch.
    fn num_batches(&self) -> usize;

    /// The batches of epoch `epoch` (counted from 0), in order.
    fn epoch(&self, epoch: u64) -> impl Iterator<Item = Self::Batch> + '_;
}

impl<E: crate::data::loader::SequenceExample> BatchSource for crate::data::DataLoader<'_, E> {
    type Batch = crate::data::Batch;

    fn num_batches(&self) -> usize {
        crate::data::DataLoader::num_batches(self)
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = crate::data::Batch> + '_ {
        self.batches(epoch)
    }
}

impl BatchSource for crate::data::text::CharLoader<'_> {
    type Batch = crate::data::text::CharBatch;

    fn num_batches(&self) -> usize {
        crate::data::text::CharLoader::num_batches(self)
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = crate::data::text::CharBatch> + '_ {
        self.batches(epoch)
    }
}

//! What a problem plugs into the loop: a [`Task`] turns a batch into a loss,
//! and a [`BatchSource`] hands out an epoch's batches.

use autograd::{Tape, Var};

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
/// is a task. It computes from its arguments and the model only, so the
/// pieces of one batch can run at the same time on several threads
/// ([`Shards`](crate::fast)).
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

impl BatchSource for crate::data::SeriesLoader<'_> {
    type Batch = crate::data::SeriesBatch;

    fn num_batches(&self) -> usize {
        crate::data::SeriesLoader::num_batches(self)
    }

    fn epoch(&self, epoch: u64) -> impl Iterator<Item = crate::data::SeriesBatch> + '_ {
        self.batches(epoch)
    }
}

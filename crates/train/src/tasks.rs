//! Ready tasks for the training loop: how a batch of each dataset becomes a loss.

use autograd::Tape;
use nn::SentimentModel;

use crate::data::Batch;
use crate::trainer::StepOutput;

/// The IMDB task: a [`SentimentModel`] on a batch of reviews. The loss is
/// the model's (binary or two-class cross-entropy); a prediction is correct
/// when `P(positive) > 0.5` matches the label.
pub fn sentiment_step(model: &SentimentModel, tape: &Tape, batch: &Batch) -> StepOutput {
    let logits = model.forward(tape, &batch.token_ids, Some(&batch.mask()));
    let correct = model
        .positive_probability(logits.value())
        .iter()
        .zip(batch.labels.to_vec())
        .filter(|(p, label)| (**p > 0.5) == (*label > 0.5))
        .count();
    StepOutput {
        loss: model.loss(&logits, &batch.labels),
        examples: batch.len(),
        correct: Some(correct),
        tokens: batch.lengths.iter().sum(),
    }
}

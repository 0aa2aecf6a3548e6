//! Ready tasks for the training loop: how a batch of each dataset becomes a loss.

use crate::models::{CharRnn, SentimentModel};
use autograd::{Reduction, Tape};
use tensor::Indices;

use crate::data::text::CharBatch;
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

/// The character-level language-model task: a [`CharRnn`] predicts each
/// next character; the loss is the mean cross-entropy per character (in nats),
/// and the accuracy counts characters whose most likely prediction is right.
/// Every character is an example.
pub fn char_step(model: &CharRnn, tape: &Tape, batch: &CharBatch) -> StepOutput {
    let logits = model.forward(tape, &batch.inputs);
    let (rows, time, vocab) = (logits.dim(0), logits.dim(1), logits.dim(2));
    let logits = logits.reshape(&[rows * time, vocab]);
    let targets = Indices::new(batch.targets.values().to_vec(), &[rows * time]);
    let predicted = logits.value().argmax_axis(1);
    let correct = predicted
        .values()
        .iter()
        .zip(targets.values())
        .filter(|(p, t)| p == t)
        .count();
    StepOutput {
        loss: logits.cross_entropy(&targets, None, Reduction::Mean),
        examples: rows * time,
        correct: Some(correct),
        tokens: rows * time,
    }
}

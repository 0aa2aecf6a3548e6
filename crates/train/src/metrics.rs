//! Metrics: numbers that say how well a model does, computed without a tape.
//!
//! A metric computed from NaN is NaN. `NaN > 0` is false, so a naive count
//! would call a NaN logit a confident "negative" and report a perfectly
//! ordinary accuracy for a model that computes nothing at all.

use tensor::{Element, Indices, Tensor};

/// The fraction of binary predictions that match their labels, where a logit
/// `x > 0` (probability `sigmoid(x) > 0.5`) predicts 1; NaN if any logit is NaN.
///
/// # Panics
/// If the shapes differ.
pub fn binary_accuracy<T: Element>(logits: &Tensor<T>, labels: &Tensor<T>) -> f64 {
    assert_eq!(
        logits.shape(),
        labels.shape(),
        "binary_accuracy: logits {:?} and labels {:?} differ",
        logits.shape(),
        labels.shape()
    );
    let logits = logits.to_vec();
    if logits.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let half = T::from_f64(0.5);
    let correct = logits
        .iter()
        .zip(labels.to_vec())
        .filter(|(&x, y)| (x > T::ZERO) == (*y > half))
        .count();
    correct as f64 / logits.len().max(1) as f64
}

/// The fraction of rows of `logits [N, C]` whose largest entry is the target
/// class; NaN if any logit is NaN (`argmax` would pass over it).
///
/// # Panics
/// If `logits` is not `[N, C]` with `N` targets.
pub fn categorical_accuracy<T: Element>(logits: &Tensor<T>, targets: &Indices) -> f64 {
    assert!(
        logits.ndim() == 2 && targets.shape() == [logits.dim(0)],
        "categorical_accuracy: logits {:?} need targets of shape [{}], got {:?}",
        logits.shape(),
        logits.shape().first().copied().unwrap_or(0),
        targets.shape()
    );
    if logits.to_vec().iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let predicted = logits.argmax_axis(1);
    let correct = predicted
        .values()
        .iter()
        .zip(targets.values())
        .filter(|(p, t)| p == t)
        .count();
    correct as f64 / targets.numel().max(1) as f64
}

/// A running mean weighted by counts (a loss averaged over batches of unequal size).
#[derive(Clone, Debug, Default)]
pub struct RunningMean {
    total: f64,
    count: f64,
}

impl RunningMean {
    /// Adds `value`, measured over `count` examples.
    pub fn add(&mut self, value: f64, count: usize) {
        self.total += value * count as f64;
        self.count += count as f64;
    }

    /// The mean so far (NaN before anything is added).
    pub fn mean(&self) -> f64 {
        self.total / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_the_sign_of_logits() {
        let logits = Tensor::from_vec(vec![2.0f32, -1.0, 0.5, -3.0], &[4]);
        let labels = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0], &[4]);
        assert_eq!(binary_accuracy(&logits, &labels), 0.5);
        let scores = Tensor::from_vec(vec![0.1f32, 0.9, 0.8, 0.2], &[2, 2]);
        assert_eq!(
            categorical_accuracy(&scores, &Indices::from_slice(&[1, 1])),
            0.5
        );
    }

    /// A NaN logit is no prediction: the accuracy is NaN, not a count that
    /// called it negative (before, `[NaN, NaN]` against `[0, 0]` scored 1.0).
    #[test]
    fn accuracy_from_nan_logits_is_nan() {
        let logits = Tensor::from_vec(vec![f32::NAN, f32::NAN], &[2]);
        let labels = Tensor::from_vec(vec![0.0f32, 0.0], &[2]);
        assert!(binary_accuracy(&logits, &labels).is_nan());
        let scores = Tensor::from_vec(vec![0.1f32, f32::NAN, 0.8, 0.2], &[2, 2]);
        assert!(categorical_accuracy(&scores, &Indices::from_slice(&[0, 0])).is_nan());
        // An infinite logit is still a prediction.
        let logits = Tensor::from_vec(vec![f32::INFINITY, f32::NEG_INFINITY], &[2]);
        let labels = Tensor::from_vec(vec![1.0f32, 0.0], &[2]);
        assert_eq!(binary_accuracy(&logits, &labels), 1.0);
    }

    /// Batches of 3 at loss 1 and 1 at loss 5 average to (3 + 5) / 4 = 2.
    #[test]
    fn running_mean_weights_by_count() {
        let mut mean = RunningMean::default();
        mean.add(1.0, 3);
        mean.add(5.0, 1);
        assert_eq!(mean.mean(), 2.0);
    }
}

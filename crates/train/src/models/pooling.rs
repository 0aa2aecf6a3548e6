//! Pooling over time: how a sentiment model reads one feature vector per
//! review out of the encoder's outputs at every step, over the valid steps
//! only.

use autograd::{Tape, Var};
use clap::ValueEnum;
use tensor::{Element, Tensor};

/// How a [`SentimentModel`](super::SentimentModel) reduces the encoder's outputs over time to one
/// feature vector per review (over the valid steps only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SentimentPool {
    /// The final state, h after the last valid token (the tutorials' model)
    #[default]
    Last,
    /// The mean of the outputs over time (Keras' GlobalAveragePooling1D with a mask)
    Mean,
    /// The largest output of each feature over time (Keras' GlobalMaxPooling1D)
    Max,
    /// The max and the mean side by side, twice the features (concat pooling)
    MaxMean,
}

crate::text_as_choice!(SentimentPool);

impl SentimentPool {
    /// How many features the pooling makes of an encoder's `output_size` ones.
    pub fn features(self, output_size: usize) -> usize {
        match self {
            SentimentPool::MaxMean => 2 * output_size,
            _ => output_size,
        }
    }
}

/// The mean or max of `output` `[B, T, F]` over the valid steps of `mask`
/// `[B, T]` (every step when there is no mask): `[B, F]`; both: `[B, 2F]`.
///
/// The recurrent layer writes zeros at padded steps, so the mean is the sum
/// over time divided by the number of valid steps; for the max, padded steps
/// are pushed far below any output (`h` lies in `(-1, 1)`) so none can win.
pub(crate) fn pool_over_time<T: Element>(
    tape: &Tape<T>,
    output: &Var<T>,
    mask: Option<&Tensor<T>>,
    pool: SentimentPool,
) -> Var<T> {
    let (batch, time) = (output.dim(0), output.dim(1));
    let mask = match mask {
        Some(mask) => mask.reshape(&[batch, time, 1]),
        None => Tensor::ones(&[batch, time, 1]),
    };
    let mean = || {
        let valid_steps = mask.sum_axis(1, false).map(|count| count.max(T::ONE));
        output.sum_axis(1, false).div(&tape.constant(valid_steps))
    };
    let max = || {
        let below = mask.map(|m| (m - T::ONE) * T::from_f64(1e4));
        output.add(&tape.constant(below)).max_axis(1, false)
    };
    match pool {
        SentimentPool::Last => unreachable!("the final state is not pooled"),
        SentimentPool::Mean => mean(),
        SentimentPool::Max => max(),
        SentimentPool::MaxMean => Var::concat(&[max(), mean()], 1),
    }
}

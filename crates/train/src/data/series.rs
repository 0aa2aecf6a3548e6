//! Sequences of numbers: windows of a series as a dataset, and its batches.
//!
//! Forecasting is the other main use of a recurrent network: read the last
//! `T` values of a series, predict what comes next. The examples are
//! windows cut from one long series, each a `[T, F]` input (`F` features per
//! step, 1 for a plain series) and a target:
//!
//! - **many-to-one** ([`SeriesDataset::next_values`]): the `horizon` values
//!   after the window, `[horizon]`, read from the network's last state;
//! - **many-to-many** ([`SeriesDataset::shifted`]): the window itself one
//!   step later, `[T, F]`, one prediction per step.
//!
//! A [`SeriesLoader`] hands out batches of rows as plain tensors, in a
//! seeded shuffled order or in order, the way [`DataLoader`](super::DataLoader)
//! hands out token ids: the training loop takes either.

use std::ops::Range;

use tensor::Tensor;

use super::loader::order;
use super::DataError;

/// Windows of a series: `inputs [N, T, F]` and `targets [N, ...]`, row `i`
/// of one belonging to row `i` of the other.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesDataset {
    /// `[N, T, F]`.
    pub inputs: Tensor<f32>,
    /// `[N, horizon]` (many-to-one) or `[N, T, F]` (many-to-many).
    pub targets: Tensor<f32>,
}

impl SeriesDataset {
    /// Many-to-one windows of a 1-feature `series`: inputs `[N, window, 1]`
    /// (a window every `stride` values), each target the `horizon` values
    /// that follow its window, `[N, horizon]`.
    ///
    /// ```
    /// use train::data::SeriesDataset;
    /// let data = SeriesDataset::next_values(&[0.0, 1.0, 2.0, 3.0, 4.0], 2, 1, 1).unwrap();
    /// assert_eq!(data.inputs.shape(), &[3, 2, 1]);
    /// assert_eq!(data.targets.to_vec(), vec![2.0, 3.0, 4.0]); // each window's next value
    /// ```
    ///
    /// # Errors
    /// If `window`, `horizon` or `stride` is 0, or the series is too short
    /// for one window and its target.
    pub fn next_values(
        series: &[f32],
        window: usize,
        horizon: usize,
        stride: usize,
    ) -> Result<SeriesDataset, DataError> {
        let starts = window_starts(series.len(), window, horizon, stride)?;
        let inputs = gather_windows(series, &starts, window);
        let targets: Vec<f32> = starts
            .iter()
            .flat_map(|&s| series[s + window..s + window + horizon].iter().copied())
            .collect();
        Ok(SeriesDataset {
            inputs: Tensor::from_vec(inputs, &[starts.len(), window, 1]),
            targets: Tensor::from_vec(targets, &[starts.len(), horizon]),
        })
    }

    /// Many-to-many windows: inputs `[N, window, 1]`, targets the same
    /// windows one step later, `[N, window, 1]` (a prediction at every step).
    ///
    /// # Errors
    /// As [`SeriesDataset::next_values`] with a horizon of 1.
    pub fn shifted(
        series: &[f32],
        window: usize,
        stride: usize,
    ) -> Result<SeriesDataset, DataError> {
        let starts = window_starts(series.len(), window, 1, stride)?;
        let inputs = gather_windows(series, &starts, window);
        let next: Vec<usize> = starts.iter().map(|s| s + 1).collect();
        let targets = gather_windows(series, &next, window);
        let shape = [starts.len(), window, 1];
        Ok(SeriesDataset {
            inputs: Tensor::from_vec(inputs, &shape),
            targets: Tensor::from_vec(targets, &shape),
        })
    }

    /// The number of windows.
    pub fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The windows `rows` (a split in time order: train, then validation, then test).
    ///
    /// # Panics
    /// If `rows` reaches past the last window.
    pub fn rows(&self, rows: Range<usize>) -> SeriesDataset {
        let count = rows.len();
        SeriesDataset {
            inputs: self.inputs.narrow(0, rows.start, count).contiguous(),
            targets: self.targets.narrow(0, rows.start, count).contiguous(),
        }
    }
}

/// The first index of every window of `window` values followed by
/// `horizon` more, one every `stride` values.
fn window_starts(
    len: usize,
    window: usize,
    horizon: usize,
    stride: usize,
) -> Result<Vec<usize>, DataError> {
    if window == 0 || horizon == 0 || stride == 0 {
        return Err(DataError::InvalidArgument(format!(
            "a window ({window}), a horizon ({horizon}) and a stride ({stride}) must each be at least 1"
        )));
    }
    let needed = window.saturating_add(horizon);
    if len < needed {
        return Err(DataError::InvalidArgument(format!(
            "a series of {len} values is too short for a window of {window} and a horizon of {horizon}"
        )));
    }
    Ok((0..=len - needed).step_by(stride).collect())
}

/// The windows of `window` values starting at `starts`, one after another.
fn gather_windows(series: &[f32], starts: &[usize], window: usize) -> Vec<f32> {
    starts
        .iter()
        .flat_map(|&s| series[s..s + window].iter().copied())
        .collect()
}

/// A batch of windows: `inputs [B, T, F]` and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesBatch {
    /// `[B, T, F]`.
    pub inputs: Tensor<f32>,
    /// `[B, horizon]` or `[B, T, F]`.
    pub targets: Tensor<f32>,
}

impl SeriesBatch {
    /// The number of windows.
    pub fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Whether the batch holds no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `first..first + count`, as a batch of its own.
    pub fn rows(&self, first: usize, count: usize) -> SeriesBatch {
        SeriesBatch {
            inputs: self.inputs.narrow(0, first, count).contiguous(),
            targets: self.targets.narrow(0, first, count).contiguous(),
        }
    }
}

/// Batches of a [`SeriesDataset`]'s windows, shuffled with a seed (a new
/// order every epoch) or in order.
#[derive(Clone, Debug)]
pub struct SeriesLoader<'a> {
    data: &'a SeriesDataset,
    batch_size: usize,
    shuffle_seed: Option<u64>,
}

impl<'a> SeriesLoader<'a> {
    /// A loader of `batch_size` windows per batch; `shuffle_seed: None` keeps
    /// the windows in order (for evaluation).
    ///
    /// # Errors
    /// If `batch_size` is 0.
    pub fn new(
        data: &'a SeriesDataset,
        batch_size: usize,
        shuffle_seed: Option<u64>,
    ) -> Result<SeriesLoader<'a>, DataError> {
        if batch_size == 0 {
            return Err(DataError::InvalidArgument(
                "a batch of 0 windows: batch_size must be at least 1".into(),
            ));
        }
        Ok(SeriesLoader {
            data,
            batch_size,
            shuffle_seed,
        })
    }

    /// The number of batches in an epoch (the last may be smaller).
    pub fn num_batches(&self) -> usize {
        self.data.len().div_ceil(self.batch_size)
    }

    /// The batches of epoch `epoch`: the same order for the same seed and epoch.
    pub fn batches(&self, epoch: u64) -> impl Iterator<Item = SeriesBatch> + '_ {
        let seed = self
            .shuffle_seed
            .map(|s| s ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let rows = order(self.data.len(), seed);
        (0..self.num_batches()).map(move |b| {
            let ids = &rows[b * self.batch_size..((b + 1) * self.batch_size).min(rows.len())];
            SeriesBatch {
                inputs: self.data.inputs.index_select(0, ids),
                targets: self.data.targets.index_select(0, ids),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_their_targets_line_up() {
        let series: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let ahead = SeriesDataset::next_values(&series, 3, 2, 2).unwrap();
        assert_eq!(ahead.inputs.shape(), &[3, 3, 1]);
        assert_eq!(ahead.inputs.select(0, 1).to_vec(), vec![2.0, 3.0, 4.0]);
        assert_eq!(ahead.targets.select(0, 1).to_vec(), vec![5.0, 6.0]);
        let shifted = SeriesDataset::shifted(&series, 4, 3).unwrap();
        assert_eq!(shifted.len(), 2);
        assert_eq!(
            shifted.targets.select(0, 1).to_vec(),
            vec![4.0, 5.0, 6.0, 7.0]
        );
        assert_eq!(shifted.rows(1..2).inputs.to_vec(), vec![3.0, 4.0, 5.0, 6.0]);
        let error = SeriesDataset::next_values(&series, 9, 2, 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("too short for a window of 9 and a horizon of 2"),
            "{error}"
        );
        assert!(SeriesDataset::shifted(&series, 0, 1).is_err());
    }

    /// Every window comes once an epoch; the order is the seed's and the
    /// epoch's; without a seed it is the data's.
    #[test]
    fn the_loader_covers_every_window_once_in_a_seeded_order() {
        let series: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let data = SeriesDataset::next_values(&series, 2, 1, 1).unwrap();
        let firsts = |loader: &SeriesLoader, epoch| -> Vec<f32> {
            loader
                .batches(epoch)
                .flat_map(|b| b.inputs.select(2, 0).select(1, 0).to_vec())
                .collect()
        };
        let shuffled = SeriesLoader::new(&data, 5, Some(3)).unwrap();
        assert_eq!(shuffled.num_batches(), 8);
        let (a, b) = (firsts(&shuffled, 0), firsts(&shuffled, 1));
        let mut sorted = a.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, (0..38).map(|i| i as f32).collect::<Vec<_>>());
        assert_ne!(a, b, "another order each epoch");
        assert_eq!(a, firsts(&shuffled, 0), "the same order for the same epoch");
        let in_order = SeriesLoader::new(&data, 5, None).unwrap();
        assert_eq!(firsts(&in_order, 4), sorted);
        assert!(SeriesLoader::new(&data, 0, None).is_err());
    }
}

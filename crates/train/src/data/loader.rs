//! From encoded examples to batches a model can eat.
//!
//! A [`DataLoader`] does, once per epoch:
//!
//! 1. **shuffle** the example order with a seeded RNG (seed and epoch number
//!    together pick the order, so a run can be repeated exactly, and every
//!    epoch still sees a new order);
//! 2. **bucket** by length (optional): cut the shuffled order into pools of a
//!    few dozen batches and sort each pool by length, so each batch holds
//!    reviews of similar length. A batch is as wide as its longest review;
//!    without bucketing a 30-word review shares a batch with a 200-word one
//!    and the LSTM runs 170 steps over padding;
//! 3. cut the order into batches of `batch_size`, drop an incomplete last one
//!    if asked (`drop_last`), and, when bucketing, **shuffle the batches** so
//!    the model does not see short reviews first and long ones last;
//! 4. **collate** each batch: pad the sequences to a rectangle and build the
//!    tensors (see [`Batch`]).
//!
//! [`split_validation`] holds out part of the training set for validation,
//! deterministically for a seed: the test set is only for the very end.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tensor::{Indices, Tensor};

use super::tokenizer::{pad, Side};
use super::vocab::PAD_ID;
use super::DataError;

/// An example a [`DataLoader`] can batch: a token-id sequence and a label.
pub trait SequenceExample {
    /// The token ids, without padding (may be empty).
    fn token_ids(&self) -> &[usize];
    /// The label, as the float a loss function compares with.
    fn label(&self) -> f32;
}

/// How a [`DataLoader`] orders, groups and pads examples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle every epoch (training) or keep the examples' order (evaluation).
    pub shuffle: bool,
    /// The seed of the shuffles; combined with the epoch number.
    pub seed: u64,
    /// Drop the last batch if it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Length bucketing: `Some(k)` sorts pools of `k` batches by length before
    /// cutting them into batches; `None` turns bucketing off.
    pub bucket_pool: Option<usize>,
    /// Where padding goes in each sequence.
    pub padding: Side,
    /// `None`: each batch is as wide as its longest sequence. `Some(n)`: every
    /// batch is exactly `n` wide (then no sequence may be longer than `n`).
    pub fixed_len: Option<usize>,
}

impl LoaderConfig {
    /// Training defaults for `batch_size`: shuffled with seed 0, incomplete last
    /// batch kept, bucketing over pools of 50 batches, padding at the start.
    pub fn new(batch_size: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size,
            shuffle: true,
            seed: 0,
            drop_last: false,
            bucket_pool: Some(50),
            padding: Side::Pre,
            fixed_len: None,
        }
    }

    /// Evaluation settings for `batch_size`: no shuffling, every example kept.
    /// Bucketing still sorts pools by length, which only saves time.
    pub fn evaluation(batch_size: usize) -> LoaderConfig {
        LoaderConfig {
            shuffle: false,
            ..LoaderConfig::new(batch_size)
        }
    }
}

/// One batch, ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Token ids, `[batch, time]`, padded with [`PAD_ID`] on the `padding` side.
    pub token_ids: Indices,
    /// The real length of each sequence (`<= time`).
    pub lengths: Vec<usize>,
    /// The labels, `[batch]`.
    pub labels: Tensor<f32>,
    /// Which examples these are: positions in the slice given to the loader.
    pub example_indices: Vec<usize>,
    /// Where the padding is.
    pub padding: Side,
    /// The width every batch of its loader has at least
    /// ([`LoaderConfig::fixed_len`]; 0 for none). A model that reads the
    /// padding sees all of it, so the pieces of [`Batch::split`] keep it.
    pub min_width: usize,
}

impl Batch {
    /// The number of examples in the batch.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch has no examples (a loader never yields one).
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The padded width, `time` in `[batch, time]`.
    pub fn time_steps(&self) -> usize {
        self.token_ids.shape()[1]
    }

    /// The batch cut into consecutive pieces of at most `rows` examples, each
    /// as wide as its own longest sequence (the padding all its sequences
    /// share is dropped) but at least `min_width`, for a training step that
    /// runs the pieces at the same time. The rows keep their order.
    ///
    /// # Panics
    /// If `rows` is 0.
    pub fn split(&self, rows: usize) -> Vec<Batch> {
        assert!(rows > 0, "Batch::split: rows must be at least 1");
        let time = self.time_steps();
        let ids = self.token_ids.values();
        let labels = self.labels.to_vec();
        (0..self.len())
            .step_by(rows)
            .map(|first| {
                let end = (first + rows).min(self.len());
                let lengths = self.lengths[first..end].to_vec();
                let longest = lengths.iter().copied().max().unwrap_or(0);
                let width = longest.max(self.min_width).max(1).min(time);
                // The columns this piece keeps: its sequences sit at the end (pre-padding) or the start.
                let columns = match self.padding {
                    Side::Pre => time - width..time,
                    Side::Post => 0..width,
                };
                let token_ids = (first..end)
                    .flat_map(|row| {
                        ids[row * time..(row + 1) * time][columns.clone()]
                            .iter()
                            .copied()
                    })
                    .collect();
                Batch {
                    token_ids: Indices::new(token_ids, &[end - first, width]),
                    lengths,
                    labels: Tensor::from_vec(labels[first..end].to_vec(), &[end - first]),
                    example_indices: self.example_indices[first..end].to_vec(),
                    padding: self.padding,
                    min_width: self.min_width,
                }
            })
            .collect()
    }

    /// `[batch, time]`: 1.0 where a real token is, 0.0 on padding.
    pub fn mask(&self) -> Tensor<f32> {
        let time = self.time_steps();
        let mut mask = vec![0.0; self.len() * time];
        for (row, &length) in mask.chunks_mut(time.max(1)).zip(&self.lengths) {
            let real = match self.padding {
                Side::Pre => &mut row[time - length..],
                Side::Post => &mut row[..length],
            };
            real.fill(1.0);
        }
        Tensor::from_vec(mask, &[self.len(), time])
    }
}

/// Pads `examples[indices]` into one [`Batch`], as wide as the longest of them,
/// at least `min_width`, and at least 1 (so a batch of empty reviews is one pad wide).
pub fn collate<E: SequenceExample>(
    examples: &[E],
    indices: &[usize],
    padding: Side,
    min_width: usize,
) -> Batch {
    let lengths: Vec<usize> = indices
        .iter()
        .map(|&i| examples[i].token_ids().len())
        .collect();
    let width = lengths
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(min_width)
        .max(1);
    let mut token_ids = Vec::with_capacity(indices.len() * width);
    for &i in indices {
        token_ids.extend(pad(examples[i].token_ids(), width, padding, PAD_ID));
    }
    let labels = indices.iter().map(|&i| examples[i].label()).collect();
    Batch {
        token_ids: Indices::new(token_ids, &[indices.len(), width]),
        lengths,
        labels: Tensor::from_vec(labels, &[indices.len()]),
        example_indices: indices.to_vec(),
        padding,
        min_width,
    }
}

/// Batches a slice of examples, epoch after epoch (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct DataLoader<'a, E> {
    examples: &'a [E],
    config: LoaderConfig,
}

impl<'a, E: SequenceExample> DataLoader<'a, E> {
    /// A loader over `examples`. Fails on a batch size or pool of 0, and on a
    /// `fixed_len` shorter than some example.
    pub fn new(examples: &'a [E], config: LoaderConfig) -> Result<DataLoader<'a, E>, DataError> {
        if config.batch_size == 0 || config.bucket_pool == Some(0) || config.fixed_len == Some(0) {
            return Err(DataError::InvalidArgument(format!(
                "batch_size, bucket_pool and fixed_len must be at least 1 (got {config:?})"
            )));
        }
        if let Some(fixed_len) = config.fixed_len {
            if let Some((index, example)) = examples
                .iter()
                .enumerate()
                .find(|(_, example)| example.token_ids().len() > fixed_len)
            {
                return Err(DataError::InvalidArgument(format!(
                    "example {index} has {} tokens, more than fixed_len {fixed_len}; \
                     truncate when encoding",
                    example.token_ids().len()
                )));
            }
        }
        Ok(DataLoader { examples, config })
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        let (n, size) = (self.examples.len(), self.config.batch_size);
        if self.config.drop_last {
            n / size
        } else {
            n.div_ceil(size)
        }
    }

    /// Which examples go in which batch in epoch `epoch`, in order.
    pub fn batch_plan(&self, epoch: u64) -> Vec<Vec<usize>> {
        let config = &self.config;
        let mut rng = StdRng::seed_from_u64(epoch_seed(config.seed, epoch));
        let mut order: Vec<usize> = (0..self.examples.len()).collect();
        if config.shuffle {
            order.shuffle(&mut rng);
        }
        if let Some(pool_batches) = config.bucket_pool {
            // Whole batches per pool, so only the very last batch can be short.
            for pool in order.chunks_mut(pool_batches * config.batch_size) {
                // A stable sort: equal lengths keep their shuffled order.
                pool.sort_by_key(|&i| self.examples[i].token_ids().len());
            }
        }
        let mut batches: Vec<Vec<usize>> = order
            .chunks(config.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        if config.drop_last && batches.last().is_some_and(|b| b.len() < config.batch_size) {
            batches.pop();
        }
        if config.shuffle && config.bucket_pool.is_some() {
            batches.shuffle(&mut rng);
        }
        batches
    }

    /// The batches of epoch `epoch`.
    pub fn batches(&self, epoch: u64) -> Batches<'a, E> {
        Batches {
            examples: self.examples,
            plan: self.batch_plan(epoch).into_iter(),
            padding: self.config.padding,
            min_width: self.config.fixed_len.unwrap_or(0),
        }
    }
}

/// The seed of one epoch's RNG: distinct epochs of one seed, and one epoch of
/// distinct seeds, get unrelated orders.
fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The batches of one epoch; built lazily, one [`Batch`] per `next`.
#[derive(Debug)]
pub struct Batches<'a, E> {
    examples: &'a [E],
    plan: std::vec::IntoIter<Vec<usize>>,
    padding: Side,
    min_width: usize,
}

impl<E: SequenceExample> Iterator for Batches<'_, E> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let indices = self.plan.next()?;
        Some(collate(
            self.examples,
            &indices,
            self.padding,
            self.min_width,
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.plan.size_hint()
    }
}

impl<E: SequenceExample> ExactSizeIterator for Batches<'_, E> {}

/// At most `limit` of `examples`, spread evenly over all of them (a split
/// stored sorted by label keeps both labels); all of them for `None`.
///
/// ```
/// use train::data::loader::spread;
/// assert_eq!(spread((0..10).collect(), Some(3)), vec![0, 3, 6]);
/// assert_eq!(spread(vec![1, 2], None), vec![1, 2]);
/// ```
pub fn spread<E>(examples: Vec<E>, limit: Option<usize>) -> Vec<E> {
    match limit {
        None => examples,
        Some(limit) => {
            let step = (examples.len() / limit.min(examples.len()).max(1)).max(1);
            examples.into_iter().step_by(step).take(limit).collect()
        }
    }
}

/// The share of the training set held out for validation by default.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;

/// Splits `examples` into `(train, validation)`, putting a random
/// `fraction` of them (rounded) in validation; the same seed gives the same
/// split. Each part keeps the examples' original relative order.
pub fn split_validation<E>(
    examples: Vec<E>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<E>, Vec<E>), DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::InvalidArgument(format!(
            "the validation fraction must be in [0, 1), got {fraction}"
        )));
    }
    let n = examples.len();
    let validation_len = (fraction * n as f64).round() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut in_validation = vec![false; n];
    for &i in &order[..validation_len] {
        in_validation[i] = true;
    }
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (example, held_out) in examples.into_iter().zip(in_validation) {
        if held_out {
            validation.push(example);
        } else {
            train.push(example);
        }
    }
    Ok((train, validation))
}

/// `0..n`, shuffled with `seed` if one is given.
pub(crate) fn order(n: usize, seed: Option<u64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(seed) = seed {
        order.shuffle(&mut StdRng::seed_from_u64(seed));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Example(Vec<usize>, f32);

    impl SequenceExample for Example {
        fn token_ids(&self) -> &[usize] {
            &self.0
        }
        fn label(&self) -> f32 {
            self.1
        }
    }

    fn examples(lengths: &[usize]) -> Vec<Example> {
        lengths
            .iter()
            .enumerate()
            .map(|(i, &len)| Example(vec![i + 2; len], (i % 2) as f32))
            .collect()
    }

    /// Pieces keep the rows in order, each as wide as its own longest sequence.
    #[test]
    fn a_batch_splits_into_narrower_pieces() {
        let data = examples(&[1, 3, 2, 1, 4]);
        for side in [Side::Pre, Side::Post] {
            let batch = collate(&data, &[0, 1, 2, 3, 4], side, 0);
            let pieces = batch.split(2);
            assert_eq!(pieces.len(), 3);
            assert_eq!(pieces[0].token_ids.shape(), [2, 3]);
            assert_eq!(pieces[1].token_ids.shape(), [2, 2]);
            assert_eq!(pieces[2].token_ids.shape(), [1, 4]);
            for (piece, rows) in pieces.iter().zip([[0, 1], [2, 3]]) {
                assert_eq!(piece.example_indices, rows);
            }
            let joined: Vec<usize> = pieces.iter().flat_map(|p| p.lengths.clone()).collect();
            assert_eq!(joined, batch.lengths);
            // The same tokens, the same mask pattern, minus the shared padding.
            let piece = &pieces[1];
            let expected = match side {
                Side::Pre => [4, 4, 0, 5],
                Side::Post => [4, 4, 5, 0],
            };
            assert_eq!(piece.token_ids.values(), expected);
            assert_eq!(piece.labels.to_vec(), [0.0, 1.0]);
            assert_eq!(batch.split(10), vec![batch.clone()]);
        }
    }

    /// A batch of a fixed width (for a model that reads the padding) splits
    /// into pieces of that width, each row unchanged.
    #[test]
    fn pieces_of_a_fixed_width_batch_keep_its_width() {
        let data = examples(&[1, 3, 2, 1]);
        for side in [Side::Pre, Side::Post] {
            let batch = collate(&data, &[0, 1, 2, 3], side, 5);
            let pieces = batch.split(2);
            let time = batch.time_steps();
            for (piece, first) in pieces.iter().zip([0, 2]) {
                assert_eq!(piece.token_ids.shape(), [2, 5]);
                let rows = &batch.token_ids.values()[first * time..(first + 2) * time];
                assert_eq!(piece.token_ids.values(), rows);
                assert_eq!(piece.min_width, 5);
            }
        }
    }

    #[test]
    fn collate_pads_pre_or_post_and_reports_lengths() {
        let data = examples(&[2, 0, 3]);
        let batch = collate(&data, &[0, 1, 2], Side::Post, 0);
        assert_eq!(batch.token_ids.shape(), [3, 3]);
        assert_eq!(batch.token_ids.values(), [2, 2, 0, 0, 0, 0, 4, 4, 4]);
        assert_eq!(batch.lengths, [2, 0, 3]);
        assert_eq!(batch.labels.to_vec(), [0.0, 1.0, 0.0]);
        assert_eq!(batch.mask().to_vec(), [1., 1., 0., 0., 0., 0., 1., 1., 1.]);

        let batch = collate(&data, &[0, 1], Side::Pre, 4);
        assert_eq!(batch.token_ids.values(), [0, 0, 2, 2, 0, 0, 0, 0]);
        assert_eq!(batch.mask().to_vec(), [0., 0., 1., 1., 0., 0., 0., 0.]);
        // A batch of empty sequences is one pad wide, never zero.
        assert_eq!(collate(&data, &[1], Side::Pre, 0).token_ids.shape(), [1, 1]);
    }

    #[test]
    fn every_example_once_per_epoch_and_drop_last_drops_only_the_short_batch() {
        let data = examples(&[5, 1, 9, 3, 3, 7, 2, 8, 6, 4]);
        for bucket_pool in [None, Some(1), Some(2)] {
            let mut config = LoaderConfig::new(3);
            config.bucket_pool = bucket_pool;
            let loader = DataLoader::new(&data, config.clone()).unwrap();
            let mut seen: Vec<usize> = loader.batch_plan(4).concat();
            seen.sort();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
            assert_eq!(loader.batches(0).len(), 4);

            config.drop_last = true;
            let loader = DataLoader::new(&data, config).unwrap();
            let plan = loader.batch_plan(4);
            assert_eq!(plan.len(), 3);
            assert!(plan.iter().all(|batch| batch.len() == 3));
            assert_eq!(loader.num_batches(), 3);
        }
    }

    #[test]
    fn shuffle_is_seeded_and_changes_with_the_epoch() {
        let data = examples(&[1; 50]);
        let loader = DataLoader::new(&data, LoaderConfig::new(5)).unwrap();
        assert_eq!(loader.batch_plan(1), loader.batch_plan(1));
        assert_ne!(loader.batch_plan(1), loader.batch_plan(2));
        let unshuffled = DataLoader::new(&data, LoaderConfig::evaluation(5)).unwrap();
        assert_eq!(
            unshuffled.batch_plan(7).concat(),
            (0..50).collect::<Vec<_>>()
        );
    }

    #[test]
    fn bucketing_groups_similar_lengths() {
        // Lengths 1..=64 in a scrambled order; batches of 8 from one pool of all.
        let lengths: Vec<usize> = (0..64).map(|i| (i * 37) % 64 + 1).collect();
        let data = examples(&lengths);
        let mut config = LoaderConfig::new(8);
        config.bucket_pool = Some(8);
        let bucketed = DataLoader::new(&data, config.clone()).unwrap();
        let padded_width = |loader: &DataLoader<Example>| -> usize {
            loader.batches(0).map(|b| b.time_steps() * b.len()).sum()
        };
        // Sorted into batches of consecutive lengths: widths 8, 16, ..., 64.
        assert_eq!(
            padded_width(&bucketed),
            8 * (8 + 16 + 24 + 32 + 40 + 48 + 56 + 64)
        );
        config.bucket_pool = None;
        let plain = DataLoader::new(&data, config).unwrap();
        assert!(padded_width(&plain) > padded_width(&bucketed));
        // The batch order is still shuffled, not shortest first.
        let widths: Vec<usize> = bucketed.batches(0).map(|b| b.time_steps()).collect();
        assert!(widths.windows(2).any(|w| w[0] > w[1]), "{widths:?}");
    }

    #[test]
    fn fixed_len_pads_every_batch_to_it_and_rejects_longer_examples() {
        let data = examples(&[2, 3]);
        let mut config = LoaderConfig::new(2);
        config.fixed_len = Some(4);
        let loader = DataLoader::new(&data, config.clone()).unwrap();
        assert!(loader.batches(0).all(|batch| batch.time_steps() == 4));
        config.fixed_len = Some(2);
        assert!(DataLoader::new(&data, config).is_err());
        assert!(DataLoader::new(&data, LoaderConfig::new(0)).is_err());
    }

    #[test]
    fn validation_split_is_deterministic_and_disjoint() {
        let data: Vec<usize> = (0..100).collect();
        let (train, validation) = split_validation(data.clone(), 0.2, 7).unwrap();
        assert_eq!((train.len(), validation.len()), (80, 20));
        let (train_again, validation_again) = split_validation(data.clone(), 0.2, 7).unwrap();
        assert_eq!((&train, &validation), (&train_again, &validation_again));
        let (_, other_validation) = split_validation(data.clone(), 0.2, 8).unwrap();
        assert_ne!(validation, other_validation);
        let mut all = [train, validation].concat();
        all.sort();
        assert_eq!(all, data);
        assert!(split_validation(data.clone(), 1.0, 0).is_err());
        assert_eq!(split_validation(data, 0.0, 0).unwrap().1.len(), 0);
    }
}

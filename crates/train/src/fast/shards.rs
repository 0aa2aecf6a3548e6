//! Data parallelism: one batch on every core.
//!
//! The time loop of a recurrent network is sequential, and the products of
//! one step (`[64 x 128] @ [128 x 512]`) are too small to split well over
//! cores. The parallelism is in the batch: its sequences are independent.
//! [`Shards`] cuts each batch into shards of rows ([`Split`]); each shard is
//! recorded on its own tape by its own thread (tapes are per thread; the
//! weights are shared, read-only), with a seed fixed by `(seed, epoch, step,
//! shard)`; the loss of a shard is weighted by its share of the batch, so
//! the shards' gradients add up to the gradient of the batch's mean loss,
//! and the loop adds them in shard order. This is data parallelism, the idea
//! that spreads training over many machines, here over the cores of one.
//! Because the shards are fixed by the batch (not by the number of threads)
//! and come back in a fixed order, the numbers are the same, bit for bit,
//! with 1 thread or 16.
//!
//! The shards' gradients are added with
//! [`Gradients::add_params_by_rows`](autograd::Gradients::add_params_by_rows):
//! an embedding table's gradient is added only where a shard read the table
//! (3,200 of 20,002 rows for a shard of 16 reviews of 200 tokens), which is
//! most of the work that follows the shards and cannot be spread over the
//! cores. The same numbers as adding them whole, bit for bit; the global
//! norm and the clip that follow read those rows only
//! ([`clip`](crate::fast::clip)).

use autograd::{BackwardError, Gradients, Tape};

use crate::data::text::CharBatch;
use crate::data::{Batch, SeriesBatch};
use crate::fast::clip::{clip_grad_norm_by_rows, global_norm_by_rows};
use crate::optim::ClipError;
use crate::trainer::{record, tape_seed, BatchRunner, TapeResult, Task};

/// The default rows per shard: small enough that a batch of 64 keeps 4
/// cores busy, large enough that each step's products stay efficient (the
/// programs' `--shard-rows`, [`cli::SHARD_ROWS`](crate::cli::SHARD_ROWS)).
pub const DEFAULT_SHARD_SIZE: usize = crate::cli::SHARD_ROWS;

/// A batch that can be cut into shards of rows.
pub trait Split: Sized {
    /// The number of examples.
    fn examples(&self) -> usize;

    /// Consecutive pieces of at most `rows` examples, in order.
    fn split(&self, rows: usize) -> Vec<Self>;

    /// Roughly how much work the batch is (default: its examples); the
    /// largest shards start first, so no thread is left with a long one at
    /// the end.
    fn cost(&self) -> usize {
        self.examples()
    }
}

/// Character windows split by rows. Only for windows that do not carry state
/// from batch to batch: a stateful run keeps each batch whole.
impl Split for CharBatch {
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
                CharBatch {
                    inputs: cut(&self.inputs),
                    targets: cut(&self.targets),
                }
            })
            .collect()
    }
}

/// Windows of a series split by rows.
impl Split for SeriesBatch {
    fn examples(&self) -> usize {
        self.len()
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        (0..self.len())
            .step_by(rows.max(1))
            .map(|first| self.rows(first, rows.min(self.len() - first)))
            .collect()
    }
}

impl Split for Batch {
    fn examples(&self) -> usize {
        self.len()
    }

    fn split(&self, rows: usize) -> Vec<Self> {
        Batch::split(self, rows)
    }

    fn cost(&self) -> usize {
        self.len() * self.time_steps()
    }
}

/// The runner that records shards of `rows` rows of each batch at the same
/// time, one tape per shard (see the [module docs](self)); `rows: None`
/// records each batch whole (for streams that carry state from batch to batch).
#[derive(Clone, Copy, Debug)]
pub struct Shards {
    /// Rows per shard, or `None` for whole batches.
    pub rows: Option<usize>,
}

impl Default for Shards {
    /// Shards of [`DEFAULT_SHARD_SIZE`] rows.
    fn default() -> Self {
        Shards {
            rows: Some(DEFAULT_SHARD_SIZE),
        }
    }
}

impl Shards {
    /// Shards of `rows` rows (`None`: whole batches).
    ///
    /// # Panics
    /// If `rows` is `Some(0)`.
    pub fn new(rows: Option<usize>) -> Self {
        assert!(rows != Some(0), "Shards: a shard needs at least one row");
        Shards { rows }
    }

    /// Runs `one(i, shard, share)` for every shard of `batch` on the pool
    /// (the batch itself, with no share, if it fits in one shard), largest
    /// first; the results come back in shard order. `share` is the shard's
    /// part of the batch's rows, by which its mean loss is weighted.
    fn run<B: Split + Sync, R: Send>(
        &self,
        batch: &B,
        one: impl Fn(usize, &B, Option<f32>) -> R + Sync,
    ) -> Vec<R> {
        let shards = match self.rows {
            Some(rows) if rows < batch.examples() => batch.split(rows),
            _ => Vec::new(),
        };
        let pieces: &[B] = if shards.is_empty() {
            std::slice::from_ref(batch)
        } else {
            &shards
        };
        let total = pieces.iter().map(Split::examples).sum::<usize>().max(1);
        let share = |piece: &B| (pieces.len() > 1).then(|| piece.examples() as f32 / total as f32);
        // Largest first (a stable order, so ties keep shard order).
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(pieces[i].cost()));
        let mut results = tensor::parallel_map(pieces.len(), |k| {
            let i = order[k];
            (i, one(i, &pieces[i], share(&pieces[i])))
        });
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, result)| result).collect()
    }
}

impl<M, B, K> BatchRunner<M, B, K> for Shards
where
    M: Sync,
    B: Split + Sync,
    K: Task<M, B> + Sync,
{
    fn train(
        &self,
        model: &M,
        task: &K,
        batch: &B,
        step_seed: u64,
    ) -> Vec<Result<TapeResult, BackwardError>> {
        self.run(batch, |i, piece, share| {
            let tape = Tape::training(tape_seed(step_seed, i));
            record(model, task, piece, &tape, share)
        })
    }

    fn evaluate(&self, model: &M, task: &K, batch: &B) -> Vec<TapeResult> {
        self.run(batch, |_, piece, _| {
            record(model, task, piece, &Tape::no_grad(), None)
                .expect("nothing is backpropagated in evaluation")
        })
    }

    /// Adds a shard's gradients row by row where they are sparse (the
    /// embedding's): the same numbers as [`Gradients::add_params`].
    fn add_gradients(&self, total: &mut Gradients<f32>, tape: &Gradients<f32>) {
        total.add_params_by_rows(tape);
    }

    /// The norm and the clip reading only the rows a sparse gradient
    /// touched ([`clip_grad_norm_by_rows`]): the plain numbers, bit for bit.
    fn clip_gradients(
        &self,
        grads: &mut Gradients<f32>,
        max_norm: Option<f64>,
    ) -> Result<f64, ClipError> {
        match max_norm {
            Some(limit) => clip_grad_norm_by_rows(grads, limit),
            None => Ok(global_norm_by_rows(grads)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CharRnn, CharRnnConfig};
    use crate::tasks::char_step;
    use crate::trainer::WholeBatch;
    use autograd::Gradients;
    use nn::Module;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tensor::Indices;

    /// The shards' gradients, added, are the gradient of the whole batch's
    /// mean loss, within rounding: each shard's loss is weighted by its share
    /// of the batch's rows, whatever the task counts as an example (a
    /// character model counts characters, not rows).
    #[test]
    fn shard_gradients_add_up_to_the_whole_batchs() {
        let config = CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            num_layers: 1,
            stateful: false,
            ..CharRnnConfig::new(7)
        };
        let model = CharRnn::<f32>::new(config, &mut StdRng::seed_from_u64(0));
        let rng = &mut StdRng::seed_from_u64(1);
        let mut ids = |_| Indices::new((0..6 * 5).map(|_| rng.gen_range(0..7)).collect(), &[6, 5]);
        let batch = CharBatch {
            inputs: ids(0),
            targets: ids(1),
        };
        let sum = |tapes: Vec<Result<TapeResult, BackwardError>>| {
            let mut total: Option<Gradients<f32>> = None;
            for grads in tapes.into_iter().map(|t| t.unwrap().grads.unwrap()) {
                match &mut total {
                    None => total = Some(grads),
                    Some(total) => total.add_params(&grads),
                }
            }
            total.unwrap()
        };
        let whole = sum(WholeBatch.train(&model, &char_step, &batch, 3));
        let shards = sum(Shards::new(Some(4)).train(&model, &char_step, &batch, 3));
        for (name, param) in model.named_params() {
            let (a, b) = (whole.param(param).unwrap(), shards.param(param).unwrap());
            let worst = (a - b).abs().max().item();
            let scale = a.abs().max().item();
            assert!(worst <= 1e-5 * scale, "{name}: {worst:e} of {scale:e}");
        }
    }

    /// `runner.add_gradients` for the runner of `task`'s batches.
    fn add_as_runner_does<K: Task<CharRnn, CharBatch>>(
        runner: &impl BatchRunner<CharRnn, CharBatch, K>,
        _task: &K,
        total: &mut Gradients<f32>,
        more: &Gradients<f32>,
    ) {
        runner.add_gradients(total, more);
    }

    /// The runner adds its shards' gradients by rows: the embedding's only
    /// where each shard read it, and the same bits as adding them whole.
    #[test]
    fn shards_add_their_gradients_by_rows_with_the_same_bits() {
        let config = CharRnnConfig {
            embedding_dim: 3,
            hidden_size: 4,
            num_layers: 1,
            stateful: false,
            ..CharRnnConfig::new(40)
        };
        let model = CharRnn::<f32>::new(config, &mut StdRng::seed_from_u64(0));
        let rng = &mut StdRng::seed_from_u64(2);
        let mut ids = |_| Indices::new((0..8 * 5).map(|_| rng.gen_range(0..40)).collect(), &[8, 5]);
        let batch = CharBatch {
            inputs: ids(0),
            targets: ids(1),
        };
        let runner = Shards::new(Some(2));
        let tapes = || -> Vec<Gradients<f32>> {
            runner
                .train(&model, &char_step, &batch, 5)
                .into_iter()
                .map(|t| t.unwrap().grads.unwrap())
                .collect()
        };
        let (mut whole, mut by_rows, tapes) = (tapes().remove(0), tapes().remove(0), tapes());
        let table = model.embedding.weight();
        assert!(tapes[0].rows_touched(table).unwrap().len() <= 10);
        for grads in &tapes[1..] {
            whole.add_params(grads);
            add_as_runner_does(&runner, &char_step, &mut by_rows, grads);
        }
        for (name, param) in model.named_params() {
            let bits = |g: &Gradients<f32>| -> Vec<u32> {
                g.param(param)
                    .unwrap()
                    .to_vec()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect()
            };
            assert_eq!(bits(&whole), bits(&by_rows), "{name}");
        }
    }
}

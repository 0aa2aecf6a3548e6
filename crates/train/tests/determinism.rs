//! The same training run on 1 and on 2 threads gives bit-identical losses,
//! weights and optimizer state.
//!
//! `tensor` promises this by construction (work is split over disjoint
//! pieces of the output, never over a sum; see `matmul/parallel.rs`): this
//! test holds it to it, through the whole loop: data loading, dropout masks,
//! shards of a batch on both threads, LSTM forward and backward, gradient
//! clipping, Adam, checkpoints.
//!
//! The sizes are chosen so that the parallel paths really run: the LSTM's
//! step product `[32 x 128] @ [128 x 512]` (4.2 MFLOP) and its input
//! projection `[1280 x 64] @ [64 x 512]` are above the 2 MFLOP per thread at
//! which a product is split, and the `[32, 40, 512]` gate tensors are above
//! the 65,536 elements per thread at which an elementwise op is. On Linux the
//! test also checks that the pool's worker thread was started.
//!
//! The thread count is a process-wide setting, so this file holds one test.

use std::path::Path;

use nn::checkpoint;
use nn::{CellKind, Module};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use train::data::{DataLoader, LoaderConfig, Review, Sentiment};
use train::fast::Shards;
use train::models::{ModelConfig, SentimentConfig, SentimentModel};
use train::optim::Adam;
use train::tasks::sentiment_step;
use train::trainer::{Trainer, TrainerConfig};

fn reviews(count: usize, seed: u64) -> Vec<Review> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let positive = rng.gen_bool(0.5);
            let mut token_ids: Vec<usize> = (0..40).map(|_| rng.gen_range(4..500)).collect();
            if positive {
                token_ids[rng.gen_range(0..40)] = 3;
            }
            Review {
                token_ids,
                sentiment: if positive {
                    Sentiment::Positive
                } else {
                    Sentiment::Negative
                },
                rating: if positive { 9 } else { 1 },
            }
        })
        .collect()
}

fn config() -> SentimentConfig {
    SentimentConfig {
        embedding_dim: 64,
        hidden_size: 128,
        cell: CellKind::Lstm,
        dropout: 0.2,
        recurrent_dropout: 0.1,
        ..SentimentConfig::new(500)
    }
}

/// The run's losses as text (`to_csv` writes each `f64` so that it reads
/// back to the same bits), and its final weights' and checkpoints' bits.
struct Outcome {
    history: String,
    weights: Vec<(String, Vec<u32>)>,
    last_checkpoint: Vec<(String, Vec<u32>)>,
}

fn bits(
    tensors: impl IntoIterator<Item = (String, tensor::Tensor<f32>)>,
) -> Vec<(String, Vec<u32>)> {
    tensors
        .into_iter()
        .map(|(name, t)| (name, t.to_vec().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

fn train_on(threads: usize, dir: &Path) -> Outcome {
    tensor::set_num_threads(threads);
    assert_eq!(tensor::num_threads(), threads);
    let (train, validation) = (reviews(96, 1), reviews(32, 2));
    let loader = LoaderConfig {
        seed: 3,
        ..LoaderConfig::new(32)
    };
    let train = DataLoader::new(&train, loader).unwrap();
    let validation = DataLoader::new(&validation, LoaderConfig::evaluation(32)).unwrap();
    let mut model = SentimentModel::new(config(), &mut StdRng::seed_from_u64(0));
    let mut adam = Adam::new(3e-3);
    let mut trainer = Trainer::new(TrainerConfig {
        seed: 5,
        clip_norm: Some(1.0),
        verbose: false,
        metadata: config().to_metadata(),
        ..TrainerConfig::new(2, dir)
    })
    .unwrap()
    .with_runner(Shards::default()); // two shards of 16 rows, one per thread

    let report = trainer
        .fit(
            &mut model,
            &mut adam,
            &train,
            Some(&validation),
            &sentiment_step,
        )
        .unwrap();
    Outcome {
        history: report.history.to_csv(),
        weights: bits(model.state_dict()),
        last_checkpoint: bits(
            checkpoint::read::<f32>(&report.last_checkpoint)
                .unwrap()
                .tensors,
        ),
    }
}

/// The names of this process's threads (Linux only: `None` elsewhere).
fn thread_names() -> Option<Vec<String>> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .collect(),
    )
}

#[test]
fn one_and_two_threads_give_bit_identical_losses_and_weights() {
    let (one_dir, two_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = train_on(1, one_dir.path());
    let workers_before = thread_names().map(|names| {
        names
            .iter()
            .filter(|n| n.starts_with("tapegrad-worke"))
            .count()
    });
    let two = train_on(2, two_dir.path());
    tensor::set_num_threads(0);

    if let (Some(before), Some(after)) = (
        workers_before,
        thread_names().map(|names| {
            names
                .iter()
                .filter(|n| n.starts_with("tapegrad-worke"))
                .count()
        }),
    ) {
        assert_eq!(before, 0, "a 1-thread run started no worker");
        assert!(after >= 1, "the 2-thread run used a worker thread");
    }
    let losses: Vec<&str> = one.history.lines().collect();
    assert_eq!(losses.len(), 3, "{}", one.history);
    assert_ne!(losses[1], losses[2], "the model trains");
    assert_eq!(one.history, two.history, "losses and accuracies per epoch");
    assert!(
        one.weights == two.weights,
        "final weights differ in some bit"
    );
    assert!(
        one.last_checkpoint == two.last_checkpoint,
        "weights and Adam's moments in last.safetensors differ in some bit"
    );
}

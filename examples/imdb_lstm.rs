//! Train a recurrent network to tell positive from negative IMDB movie reviews.
//!
//! ```text
//! cargo run -p train --example imdb_lstm                 # the default run
//! cargo run -p train --example imdb_lstm -- --help       # every option
//! cargo run -p train --example imdb_lstm -- --limit 2000 --epochs 1    # a smoke run: seconds once the data is cached
//! cargo run -p train --example imdb_lstm -- --resume --epochs 5        # continue a stopped run
//! cargo run -p train --example imdb_lstm -- --predict "A wonderful film." "Dull and too long."
//! echo "What a waste of two hours." | cargo run -p train --example imdb_lstm -- --predict
//! ```
//!
//! A program is flags, data, model and the loop (`train::trainer`, shared by
//! every program). It writes `history.csv`, the curves, `best.safetensors`,
//! `last.safetensors` and `vocab.txt` into `--out`, and reports the test
//! accuracy of this run's best checkpoint and the peak memory. `--predict`
//! trains nothing: it rebuilds the model from a checkpoint alone (its
//! configuration, vocabulary and text settings travel in the file) and
//! prints each text's probability of being positive.
//!
//! The default run (an LSTM of 128 reading the last 200 tokens of each
//! review, the classifier reading the max and the mean of its outputs, 2
//! epochs) reaches about 88% on the 25,000 test reviews in a few minutes on
//! two cores; `docs/results.md` has the measured figures of every cell and
//! setting.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rand::{rngs::StdRng, SeedableRng};
use train::cli::{self, at_least_one, non_empty_path, probability, LoopOptions};
use train::data::loader::{split_validation, spread, DEFAULT_VALIDATION_FRACTION};
use train::data::{
    DataLoader, DataPaths, Imdb, ImdbConfig, LoaderConfig, Review, Side, Vocabulary,
};
use train::fast::{run_tuned, Shards};
use train::models::{ModelConfig, ReviewEncoding, SentimentConfig, SentimentModel};
use train::optim::Adam;
use train::tasks::sentiment_step;
use train::trainer::{self, evaluate, Trainer, BEST_CHECKPOINT};

/// Train an RNN, LSTM or GRU on the IMDB movie reviews (sentiment, positive or negative).
#[derive(Parser, Debug)]
#[command(name = "imdb_lstm", allow_negative_numbers = true)]
#[command(mut_arg("out", |a| a.default_value("runs/imdb_lstm")))]
struct Options {
    /// aclImdb_v1.tar.gz, a .tar.gz in its layout, or an aclImdb/ directory
    /// [default: $TAPEGRAD_DATA, the cache, then a download from Stanford]
    #[arg(long, value_name = "PATH", value_parser = non_empty_path)]
    data: Option<PathBuf>,
    /// Most frequent words kept
    #[arg(long, default_value = "20000", value_parser = at_least_one)]
    vocab_size: usize,
    /// Tokens kept per training review
    #[arg(long, default_value = "200", value_parser = at_least_one)]
    max_len: usize,
    /// Tokens kept per validation and test review, and by --predict (0: the whole review)
    #[arg(long, value_name = "N", default_value = "600")]
    eval_max_len: usize,
    /// Which end of a long review is cut
    #[arg(long, value_enum, default_value_t = Side::Pre)]
    truncate: Side,
    /// The share of the training reviews held out for validation (0: none;
    /// best.safetensors is then the last epoch's)
    #[arg(long, default_value_t = DEFAULT_VALIDATION_FRACTION, value_parser = probability)]
    validation_split: f64,
    /// Use only N training and N test reviews (a quick smoke run)
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    limit: Option<usize>,
    #[command(flatten)]
    model: SentimentConfig,
    #[command(flatten)]
    training: LoopOptions,
    /// Train nothing: print each TEXT's probability of being positive (lines of standard input if none)
    #[arg(long, value_name = "TEXT", num_args = 0..)]
    predict: Option<Vec<String>>,
    /// The checkpoint --predict reads [default: best.safetensors in --out]
    #[arg(long, value_name = "PATH", value_parser = non_empty_path)]
    checkpoint: Option<PathBuf>,
}

/// `--predict`: the model and its text settings from the checkpoint alone,
/// then one probability per text (or per line of standard input).
fn predict(o: &Options, texts: &[String]) -> Result<(), Box<dyn Error>> {
    let path = (o.checkpoint.clone()).unwrap_or(o.training.out.join(BEST_CHECKPOINT));
    let file = nn::checkpoint::read::<f32>(&path)?;
    let in_file = |e| format!("{}: {e}", path.display());
    let config = SentimentConfig::from_metadata(&file.metadata).map_err(in_file)?;
    let encoding = ReviewEncoding::from_metadata(&file.metadata).map_err(in_file)?;
    let mut model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(0));
    nn::checkpoint::load(&mut model, &path)?;
    let texts = match texts {
        [] => std::io::stdin().lines().collect::<Result<_, _>>()?,
        texts => texts.to_vec(),
    };
    for text in texts.iter().filter(|t| !t.trim().is_empty()) {
        let probability = encoding.positive_probability(&model, text);
        println!("{probability:.6}\t{text}");
    }
    Ok(())
}

/// The reviews (train, validation, test), each cut to its length, and the vocabulary.
type Reviews = (Vec<Review>, Vec<Review>, Vec<Review>, Vocabulary);

/// Finds (or downloads) the reviews, tokenizes them, and holds out a share
/// of the training set for validation.
fn load_reviews(o: &Options) -> Result<Reviews, Box<dyn Error>> {
    let started = Instant::now();
    let side = o.truncate;
    let eval_len = if o.eval_max_len == 0 {
        usize::MAX
    } else {
        o.eval_max_len
    };
    let imdb_config = ImdbConfig {
        vocab_size: o.vocab_size,
        max_len: o.max_len.max(eval_len), // each split is cut to its own length below
        truncating: side,
    };
    let imdb = Imdb::load(&DataPaths::from_env(o.data.clone()), &imdb_config)?;
    let seed = o.training.seed;
    let (mut train, mut validation) =
        split_validation(spread(imdb.train, o.limit), o.validation_split, seed)?;
    let mut test = spread(imdb.test, o.limit);
    Review::truncate_all(&mut train, o.max_len, side);
    Review::truncate_all(&mut validation, eval_len, side);
    Review::truncate_all(&mut test, eval_len, side);
    println!(
        "data: {} train / {} validation / {} test reviews, vocabulary {} ({}, {:.1} s)",
        train.len(),
        validation.len(),
        test.len(),
        imdb.vocab.len(),
        imdb.cache,
        started.elapsed().as_secs_f64()
    );
    Ok((train, validation, test, imdb.vocab))
}

fn run(o: &Options) -> Result<(), Box<dyn Error>> {
    // 1. Data, and how a text is encoded for the model.
    let (train, validation, test, vocab) = load_reviews(o)?;
    let encoding = ReviewEncoding {
        vocab,
        max_len: o.max_len,
        eval_max_len: o.eval_max_len,
        truncating: o.truncate,
    };

    // 2. Model and optimizer.
    let config = SentimentConfig {
        vocab_size: encoding.vocab.len(),
        ..o.model
    };
    let mut model = SentimentModel::<f32>::new(config, &mut StdRng::seed_from_u64(o.training.seed));
    println!("{}", model.summary(o.training.batch_size, o.max_len));
    let mut adam = Adam::new(o.training.lr);

    // 3. The loop, a batch on every core; the checkpoints carry what rebuilds the model.
    let mut metadata = config.to_metadata();
    metadata.extend(encoding.to_metadata());
    let trainer = Trainer::new(o.training.trainer_config(metadata))?;
    let mut trainer = trainer.with_runner(Shards::default());
    let vocab_file = o.training.out.join("vocab.txt");
    tensor::durable::write_atomically(&vocab_file, encoding.vocab.to_text().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", vocab_file.display()))?;
    let loading = LoaderConfig {
        seed: o.training.seed,
        ..LoaderConfig::new(o.training.batch_size)
    };
    let batches = DataLoader::new(&train, loading)?;
    let validation_batches = DataLoader::new(&validation, LoaderConfig::evaluation(128))?;
    let validation_source = (!validation.is_empty()).then_some(&validation_batches);
    let task = &sentiment_step;
    let report = trainer.fit(&mut model, &mut adam, &batches, validation_source, task)?;

    // 4. The best checkpoint of this run on the test set.
    trainer::load_best(&mut model, &report)?;
    let test_batches = DataLoader::new(&test, LoaderConfig::evaluation(128))?;
    let tested = evaluate(&model, &test_batches, task, trainer.runner());
    let (best_epoch, best_value) = report.best.unwrap_or((0, f64::NAN));
    // Without validation the trainer keeps the last epoch and records its training loss.
    let monitored = match validation.is_empty() {
        true => "loss".to_string(),
        false => o.training.monitor.name(),
    };
    let accuracy = tested.accuracy.unwrap_or(f64::NAN);
    println!(
        "test: loss {:.4} accuracy {accuracy:.4} (best.safetensors: epoch {best_epoch}, {monitored} {best_value:.4})",
        tested.loss
    );
    println!(
        "wrote {}/{{history.csv, loss.svg, accuracy.svg, best.safetensors, last.safetensors, vocab.txt}}",
        o.training.out.display()
    );
    println!("peak memory: {}", train::memory::peak_rss_text());
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options: Options = match cli::parse_options() {
        Ok(options) => options,
        Err(code) => return code,
    };
    // Tuned for training throughout, so the test score and --predict see the
    // numbers of the validation passes (denormals flushed).
    let result = run_tuned(|| match &options.predict {
        Some(texts) => predict(&options, texts),
        None => run(&options),
    });
    cli::exit_code("imdb_lstm", result)
}

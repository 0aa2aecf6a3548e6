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
//!
//! The tutorials' models as written, with their test accuracy here:
//! `--embedding 64 --layer-sizes 64,32 --bidirectional --dense 64 --pool
//! last --dropout 0` (stacked BiLSTMs, 86.3%); `--cell gru --reset-after
//! false` (87.8%); `--pool last --max-len 400 --eval-max-len 400 --truncate
//! post --padding post --mask false` (the final state read after the
//! padding: 51.5%, chance; masked, 85.5%). `docs/results.md` has the rest.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rand::{rngs::StdRng, SeedableRng};
use train::cli::{self, non_empty_path, LoopOptions};
use train::data::{DataLoader, ImdbOptions, ImdbSplits, Review};
use train::fast::{run_tuned, Shards};
use train::models::{Metadata, ModelConfig, ReviewEncoding, SentimentConfig, SentimentModel};
use train::optim::{Adam, Optimizer};
use train::tasks::sentiment_step;
use train::trainer::{self, evaluate, Trainer, BEST_CHECKPOINT};

/// Train an RNN, LSTM or GRU on the IMDB movie reviews (sentiment, positive or negative).
#[derive(Parser, Debug)]
#[command(name = "imdb_lstm", allow_negative_numbers = true)]
#[command(mut_arg("out", |a| a.default_value("runs/imdb_lstm")))]
struct Options {
    #[command(flatten)]
    data: ImdbOptions,
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
    trainer::load_weights(&mut model, &path)?;
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

/// What every checkpoint carries: what rebuilds the model and encodes its
/// input, and the data settings a resumed run must keep.
fn checkpoint_metadata(
    o: &Options,
    config: &SentimentConfig,
    encoding: &ReviewEncoding,
) -> Metadata {
    let mut metadata = config.to_metadata();
    metadata.extend(encoding.to_metadata());
    metadata.extend(o.data.split_metadata());
    metadata
}

/// Training, validation and test reviews.
type Splits = [Vec<Review>; 3];

/// The reviews of the run, and how a text is encoded for the model.
fn load_data(o: &Options) -> Result<(Splits, ReviewEncoding), Box<dyn Error>> {
    let started = Instant::now();
    let ImdbSplits {
        train,
        validation,
        test,
        vocab,
        cache,
    } = o.data.load(o.training.seed)?;
    println!(
        "data: {} train / {} validation / {} test reviews, vocabulary {} ({cache}, {:.1} s)",
        train.len(),
        validation.len(),
        test.len(),
        vocab.len(),
        started.elapsed().as_secs_f64()
    );
    let encoding = ReviewEncoding {
        vocab,
        max_len: o.data.max_len,
        eval_max_len: o.data.eval_max_len,
        truncating: o.data.truncate,
        padding: o.data.padding,
    };
    Ok(([train, validation, test], encoding))
}

fn run(o: &Options) -> Result<(), Box<dyn Error>> {
    // 1. Data.
    let ([train, validation, test], encoding) = load_data(o)?;

    // 2. Model and optimizer.
    let config = SentimentConfig {
        vocab_size: encoding.vocab.len(),
        ..o.model.clone()
    };
    train::memory::check_model_fits("the model", config.num_params())?;
    let mut model =
        SentimentModel::<f32>::new(config.clone(), &mut StdRng::seed_from_u64(o.training.seed));
    println!("{}", model.summary(o.training.batch_size, o.data.max_len));
    let mut adam = Adam::new(o.training.lr);
    adam.validate()?; // before anything is written

    // 3. The loop, a batch on every core; the checkpoints carry what rebuilds the model.
    let metadata = checkpoint_metadata(o, &config, &encoding);
    let trainer = Trainer::new(o.training.trainer_config(metadata))?;
    let mut trainer = trainer.with_runner(Shards::new(Some(o.training.shard_rows)));
    let vocab_file = o.training.out.join("vocab.txt");
    tensor::durable::write_atomically(&vocab_file, encoding.vocab.to_text().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", vocab_file.display()))?;
    let loading = encoding.loader_config(&config, o.training.batch_size, Some(o.training.seed));
    let batches = DataLoader::new(&train, loading)?;
    let evaluation = encoding.loader_config(&config, 128, None);
    let validation_batches = DataLoader::new(&validation, evaluation.clone())?;
    let task = &sentiment_step;
    let report = trainer.fit(
        &mut model,
        &mut adam,
        &batches,
        Some(&validation_batches),
        task,
    )?;

    // 4. The best checkpoint of this run on the test set.
    trainer::load_best(&mut model, &report)?;
    let tested = evaluate(
        &model,
        &DataLoader::new(&test, evaluation)?,
        task,
        trainer.runner(),
    );
    let (best_epoch, best_value) = report.best.unwrap_or((0, f64::NAN));
    let accuracy = tested.accuracy.unwrap_or(f64::NAN);
    println!(
        "test: loss {:.4} accuracy {accuracy:.4} (best.safetensors: epoch {best_epoch}, {} {best_value:.4})",
        tested.loss, report.monitored
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

//! Train an LSTM to tell positive from negative IMDB movie reviews.
//!
//! ```text
//! cargo run -p train --example imdb_lstm -- [options]
//!
//!   --data PATH        aclImdb_v1.tar.gz, a .tar.gz in its layout, or an aclImdb/ directory
//!                      (default: $TAPEGRAD_DATA, the cache, then a download from Stanford)
//!   --epochs N         passes over the training set (default 3)
//!   --batch-size N     reviews per batch (default 64)
//!   --vocab-size N     most frequent words kept (default 20000)
//!   --max-len N        tokens kept per review, from the end (default 200)
//!   --embedding N      embedding width (default 128)
//!   --hidden N         LSTM hidden size (default 128)
//!   --layers N         stacked LSTM layers (default 1)
//!   --bidirectional    a bidirectional LSTM
//!   --dropout P        dropout between layers and before the classifier (default 0.2)
//!   --lr X             Adam learning rate (default 0.001)
//!   --clip X           gradient-norm clipping (default 5; 0 = off)
//!   --limit N          use only N training and N test reviews (a quick smoke run)
//!   --seed N           seed of initialization, split and shuffles (default 0)
//!   --out DIR          where history.csv, the plots and checkpoints go (default runs/imdb_lstm)
//! ```
//!
//! The loop is the one every framework runs, written out in full:
//! a fresh tape per batch, forward, loss, backward, clip, optimizer step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use autograd::{Reduction, Tape};
use indicatif::{ProgressBar, ProgressStyle};
use nn::models::{SentimentConfig, SentimentLstm};
use nn::Module;
use rand::rngs::StdRng;
use rand::SeedableRng;
use train::data::imdb::{Imdb, ImdbConfig, Review, Split};
use train::data::loader::{
    split_validation, DataLoader, LoaderConfig, DEFAULT_VALIDATION_FRACTION,
};
use train::data::DataPaths;
use train::history::History;
use train::metrics::{binary_accuracy, RunningMean};
use train::optim::{clip_grad_norm, Adam, Optimizer};

struct Options {
    data: Option<PathBuf>,
    epochs: usize,
    batch_size: usize,
    vocab_size: usize,
    max_len: usize,
    embedding: usize,
    hidden: usize,
    layers: usize,
    bidirectional: bool,
    dropout: f64,
    learning_rate: f64,
    clip: f64,
    limit: Option<usize>,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        data: None,
        epochs: 3,
        batch_size: 64,
        vocab_size: 20_000,
        max_len: 200,
        embedding: 128,
        hidden: 128,
        layers: 1,
        bidirectional: false,
        dropout: 0.2,
        learning_rate: 1e-3,
        clip: 5.0,
        limit: None,
        seed: 0,
        out: PathBuf::from("runs/imdb_lstm"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        fn parse<N: std::str::FromStr>(flag: &str, text: String) -> Result<N, String> {
            text.parse()
                .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
        }
        match flag.as_str() {
            "--data" => o.data = Some(PathBuf::from(value()?)),
            "--epochs" => o.epochs = parse(&flag, value()?)?,
            "--batch-size" => o.batch_size = parse(&flag, value()?)?,
            "--vocab-size" => o.vocab_size = parse(&flag, value()?)?,
            "--max-len" => o.max_len = parse(&flag, value()?)?,
            "--embedding" => o.embedding = parse(&flag, value()?)?,
            "--hidden" => o.hidden = parse(&flag, value()?)?,
            "--layers" => o.layers = parse(&flag, value()?)?,
            "--bidirectional" => o.bidirectional = true,
            "--dropout" => o.dropout = parse(&flag, value()?)?,
            "--lr" => o.learning_rate = parse(&flag, value()?)?,
            "--clip" => o.clip = parse(&flag, value()?)?,
            "--limit" => o.limit = Some(parse(&flag, value()?)?),
            "--seed" => o.seed = parse(&flag, value()?)?,
            "--out" => o.out = PathBuf::from(value()?),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(o)
}

/// Mean loss and accuracy of `model` over `reviews`, with no tape recording.
fn evaluate(
    model: &mut SentimentLstm,
    reviews: &[Review],
    batch_size: usize,
) -> Result<(f64, f64), String> {
    model.eval();
    let loader = DataLoader::new(reviews, LoaderConfig::evaluation(batch_size))
        .map_err(|e| e.to_string())?;
    let (mut loss, mut accuracy) = (RunningMean::default(), RunningMean::default());
    for batch in loader.batches(0) {
        let tape = Tape::no_grad();
        let mask = batch.mask();
        let logits = model.forward(&tape, &batch.token_ids, Some(&mask));
        let batch_loss =
            logits.binary_cross_entropy_with_logits(&batch.labels, None, Reduction::Mean);
        loss.add(batch_loss.item() as f64, batch.len());
        accuracy.add(binary_accuracy(logits.value(), &batch.labels), batch.len());
    }
    model.train();
    Ok((loss.mean(), accuracy.mean()))
}

fn run(o: Options) -> Result<(), String> {
    // 1. Data: find (or download) the reviews, tokenize, hold out 20% of train for validation.
    let started = Instant::now();
    let paths = DataPaths::from_env(o.data.clone());
    let config = ImdbConfig {
        vocab_size: o.vocab_size,
        max_len: o.max_len,
        ..ImdbConfig::default()
    };
    let imdb = Imdb::load(&paths, &config).map_err(|e| e.to_string())?;
    let limit = o.limit.unwrap_or(usize::MAX);
    let take = |split: Split| -> Vec<Review> {
        let reviews = imdb.split(split);
        // A limit takes an even spread over the whole split (it is sorted by label on disk).
        let step = (reviews.len() / limit.min(reviews.len()).max(1)).max(1);
        reviews.iter().step_by(step).take(limit).cloned().collect()
    };
    let (train, validation) =
        split_validation(take(Split::Train), DEFAULT_VALIDATION_FRACTION, o.seed)
            .map_err(|e| e.to_string())?;
    let test = take(Split::Test);
    println!(
        "data: {} train / {} validation / {} test reviews, vocabulary {} ({:?}, {:.1} s)",
        train.len(),
        validation.len(),
        test.len(),
        imdb.vocab.len(),
        imdb.cache,
        started.elapsed().as_secs_f64()
    );

    // 2. Model and optimizer.
    let mut rng = StdRng::seed_from_u64(o.seed);
    let model_config = SentimentConfig {
        embedding_dim: o.embedding,
        hidden_size: o.hidden,
        num_layers: o.layers,
        bidirectional: o.bidirectional,
        dropout: o.dropout,
        seed: o.seed,
        ..SentimentConfig::new(imdb.vocab.len())
    };
    let mut model = SentimentLstm::<f32>::new(model_config, &mut rng);
    println!("{}", model.summary(o.batch_size, o.max_len));
    let mut optimizer = Adam::new(o.learning_rate);
    std::fs::create_dir_all(&o.out)
        .map_err(|e| format!("cannot create {}: {e}", o.out.display()))?;
    imdb.vocab
        .save(&o.out.join("vocab.txt"))
        .map_err(|e| e.to_string())?;

    // 3. The loop.
    let loader_config = LoaderConfig {
        seed: o.seed,
        ..LoaderConfig::new(o.batch_size)
    };
    let loader = DataLoader::new(&train, loader_config).map_err(|e| e.to_string())?;
    let mut history = History::new();
    let mut best_validation = f64::NEG_INFINITY;
    for epoch in 0..o.epochs {
        let bar = ProgressBar::new(loader.num_batches() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed} < {eta})",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, o.epochs));
        let epoch_start = Instant::now();
        let (mut loss_mean, mut accuracy_mean, mut tokens) =
            (RunningMean::default(), RunningMean::default(), 0usize);
        for batch in loader.batches(epoch as u64) {
            // Forward and backward on a fresh tape.
            let tape = Tape::new();
            let mask = batch.mask();
            let logits = model.forward(&tape, &batch.token_ids, Some(&mask));
            let loss =
                logits.binary_cross_entropy_with_logits(&batch.labels, None, Reduction::Mean);
            let grads = tape.backward(&loss).map_err(|e| e.to_string())?;
            loss_mean.add(loss.item() as f64, batch.len());
            accuracy_mean.add(binary_accuracy(logits.value(), &batch.labels), batch.len());
            tokens += batch.lengths.iter().sum::<usize>();
            let (names, mut gradients): (Vec<String>, Vec<_>) = model
                .gradients(&tape, &grads)
                .into_iter()
                .filter_map(|(name, grad)| grad.map(|g| (name, g)))
                .unzip();
            // Drop the graph before updating, so the weights are no longer shared and update in place.
            drop((grads, loss, logits, tape));
            if o.clip > 0.0 {
                clip_grad_norm(&mut gradients, o.clip);
            }
            let mut gradient_of: std::collections::HashMap<String, _> =
                names.into_iter().zip(gradients).collect();
            for (name, param) in model.named_params_mut() {
                if let Some(grad) = gradient_of.remove(&name) {
                    optimizer.update(&name, param.value_mut(), &grad);
                }
            }
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.4} acc {:.3} {:.0} tok/s",
                loss_mean.mean(),
                accuracy_mean.mean(),
                tokens as f64 / epoch_start.elapsed().as_secs_f64()
            ));
        }
        bar.finish();
        let seconds = epoch_start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = evaluate(&mut model, &validation, o.batch_size)?;
        println!(
            "epoch {}: loss {:.4} accuracy {:.4} | val_loss {:.4} val_accuracy {:.4} | {:.1} s, {:.0} tokens/s",
            epoch + 1,
            loss_mean.mean(),
            accuracy_mean.mean(),
            val_loss,
            val_accuracy,
            seconds,
            tokens as f64 / seconds
        );
        history.record(&[
            ("loss", loss_mean.mean()),
            ("accuracy", accuracy_mean.mean()),
            ("val_loss", val_loss),
            ("val_accuracy", val_accuracy),
        ]);
        history
            .save(&o.out)
            .map_err(|e| format!("cannot write the history to {}: {e}", o.out.display()))?;
        if val_accuracy > best_validation {
            best_validation = val_accuracy;
            nn::checkpoint::save(&model, o.out.join("best.safetensors"))
                .map_err(|e| e.to_string())?;
        }
    }

    // 4. The best checkpoint on the test set.
    if o.epochs > 0 {
        nn::checkpoint::load(&mut model, o.out.join("best.safetensors"))
            .map_err(|e| e.to_string())?;
    }
    let (test_loss, test_accuracy) = evaluate(&mut model, &test, o.batch_size)?;
    println!("test: loss {test_loss:.4} accuracy {test_accuracy:.4} (best validation accuracy {best_validation:.4})");
    println!(
        "wrote {}/{{history.csv, loss.svg, accuracy.svg, best.safetensors, vocab.txt}}",
        o.out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if message.is_empty() => {
            println!(
                "{}",
                include_str!("imdb_lstm.rs")
                    .lines()
                    .take(22)
                    .map(|l| l.trim_start_matches("//!"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("imdb_lstm: {message}");
            ExitCode::FAILURE
        }
    }
}

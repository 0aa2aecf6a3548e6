//! Smoke test of the IMDB loader on the real data: load, count, time, check.
//!
//! ```text
//! cargo run -p train --example load_imdb -- --data ../shared/data/aclImdb_labeled.tar.gz --verify-cache
//! cargo run -p train --example load_imdb -- --help
//! ```
//!
//! Exits non-zero unless each split has the expected count, half positive and
//! half negative. `--export FILE` also writes the encoded reviews (the same
//! training/validation split `imdb_lstm` makes) as a safetensors file another
//! framework can read: the PyTorch peer benchmark (`benches/peers/`) trains on
//! exactly the token ids tapegrad trains on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use safetensors::tensor::{Dtype, TensorView};
use train::cli::{at_least_one, non_empty_path};
use train::data::imdb::{CacheStatus, Imdb, ImdbConfig, Review, Sentiment, Split};
use train::data::loader::{split_validation, DEFAULT_VALIDATION_FRACTION};
use train::data::{CacheMode, DataPaths};

/// Load the IMDB reviews, count and check them, and time the cache.
#[derive(Parser, Debug)]
#[command(name = "load_imdb")]
struct Cli {
    /// The archive or aclImdb/ directory [default: $TAPEGRAD_DATA, the cache, then a download]
    #[arg(long, value_name = "PATH", value_parser = non_empty_path)]
    data: Option<PathBuf>,
    /// The cache directory [default: $XDG_CACHE_HOME/tapegrad]
    #[arg(long, value_name = "DIR", value_parser = non_empty_path)]
    cache_dir: Option<PathBuf>,
    /// Neither read nor write the encoded-dataset cache
    #[arg(long, conflicts_with = "verify_cache")]
    no_cache: bool,
    /// Build from the source (timed), then load again, which must come from the cache (timed) and be identical
    #[arg(long)]
    verify_cache: bool,
    /// Fail instead of downloading
    #[arg(long)]
    no_download: bool,
    /// Expected training reviews
    #[arg(long, default_value = "25000")]
    expect_train: usize,
    /// Expected test reviews
    #[arg(long, default_value = "25000")]
    expect_test: usize,
    /// Most frequent words kept
    #[arg(long, default_value = "20000", value_parser = at_least_one)]
    vocab_size: usize,
    /// Tokens kept per review
    #[arg(long, default_value = "200", value_parser = at_least_one)]
    max_len: usize,
    /// Write the vocabulary (one word per line) to FILE
    #[arg(long, value_name = "FILE", value_parser = non_empty_path)]
    save_vocab: Option<PathBuf>,
    /// Write the encoded splits (train/validation as imdb_lstm splits them with --seed, and test) to FILE
    #[arg(long, value_name = "FILE", value_parser = non_empty_path)]
    export: Option<PathBuf>,
    /// The seed of the training/validation split, for --export
    #[arg(long, default_value = "0")]
    seed: u64,
}

struct Options {
    paths: DataPaths,
    config: ImdbConfig,
    verify_cache: bool,
    expected: [usize; 2],
    save_vocab: Option<PathBuf>,
    export: Option<(PathBuf, u64)>,
}

fn options(cli: Cli) -> Options {
    let mut paths = DataPaths::from_env(cli.data);
    if cli.cache_dir.is_some() {
        paths.cache_dir = cli.cache_dir;
    }
    paths.cache_mode = if cli.verify_cache {
        CacheMode::Refresh
    } else if cli.no_cache {
        CacheMode::Off
    } else {
        CacheMode::ReadWrite
    };
    paths.allow_download = !cli.no_download;
    Options {
        paths,
        config: ImdbConfig {
            vocab_size: cli.vocab_size,
            max_len: cli.max_len,
            ..ImdbConfig::default()
        },
        verify_cache: cli.verify_cache,
        expected: [cli.expect_train, cli.expect_test],
        save_vocab: cli.save_vocab,
        export: cli.export.map(|path| (path, cli.seed)),
    }
}

fn main() -> ExitCode {
    let cli: Cli = match train::cli::parse_options() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(options(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("load_imdb: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `name.ids` (`[N, max_len]` int32, pre-padded with 0), `name.lengths` (int32)
/// and `name.labels` (float32) for one set of reviews.
fn export_tensors(
    name: &str,
    reviews: &[Review],
    max_len: usize,
) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let mut ids = Vec::with_capacity(reviews.len() * max_len * 4);
    for review in reviews {
        let padding = max_len - review.token_ids.len();
        for id in std::iter::repeat_n(0, padding).chain(review.token_ids.iter().copied()) {
            ids.extend_from_slice(&(id as i32).to_le_bytes());
        }
    }
    let lengths = reviews
        .iter()
        .flat_map(|r| (r.token_ids.len() as i32).to_le_bytes())
        .collect();
    let labels = reviews
        .iter()
        .flat_map(|r| r.sentiment.label().to_le_bytes())
        .collect();
    let n = reviews.len();
    vec![
        (format!("{name}.ids"), Dtype::I32, vec![n, max_len], ids),
        (format!("{name}.lengths"), Dtype::I32, vec![n], lengths),
        (format!("{name}.labels"), Dtype::F32, vec![n], labels),
    ]
}

fn export(imdb: &Imdb, max_len: usize, path: &std::path::Path, seed: u64) -> Result<(), String> {
    let (train, validation) =
        split_validation(imdb.train.clone(), DEFAULT_VALIDATION_FRACTION, seed)
            .map_err(|e| e.to_string())?;
    let mut tensors = export_tensors("train", &train, max_len);
    tensors.extend(export_tensors("validation", &validation, max_len));
    tensors.extend(export_tensors("test", &imdb.test, max_len));
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).expect("sizes match");
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, &None).map_err(|e| e.to_string())?;
    tensor::durable::write_atomically(path, &bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Loads, prints and checks; `Ok(false)` if a check failed.
fn run(mut options: Options) -> Result<bool, String> {
    let start = Instant::now();
    let imdb = Imdb::load(&options.paths, &options.config).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed().as_secs_f64();
    println!("source: {}", imdb.source.display());
    println!("load:   {elapsed:.2} s ({})", imdb.cache);

    let mut ok = true;
    println!("split   negative  positive     total");
    for (split, expected) in Split::ALL.into_iter().zip(options.expected) {
        let [negative, positive] = Sentiment::ALL.map(|sentiment| imdb.count(split, sentiment));
        let total = negative + positive;
        println!(
            "{:<6} {negative:>9} {positive:>9} {total:>9}",
            split.dir_name()
        );
        if total != expected {
            println!("  FAIL: expected {expected} {} reviews", split.dir_name());
            ok = false;
        }
        if negative != positive {
            println!("  FAIL: labels are not balanced");
            ok = false;
        }
    }
    let lengths: Vec<usize> = imdb.train.iter().map(|r| r.token_ids.len()).collect();
    let mean = lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64;
    println!(
        "vocabulary: {} ids ({} words + <pad> + <unk>)",
        imdb.vocab.len(),
        imdb.vocab.num_words()
    );
    println!(
        "train tokens per review, truncated to {}: mean {mean:.1}, max {}, empty {}",
        options.config.max_len,
        lengths.iter().max().unwrap_or(&0),
        lengths.iter().filter(|&&len| len == 0).count()
    );
    if let Some(first) = imdb.train.first() {
        let words = imdb
            .vocab
            .decode(&first.token_ids[..first.token_ids.len().min(12)]);
        println!(
            "first train review ({:?}, {} stars): {words} ...",
            first.sentiment, first.rating
        );
    }

    if let Some(path) = &options.save_vocab {
        imdb.vocab.save(path).map_err(|e| e.to_string())?;
        println!("vocabulary saved to {}", path.display());
    }

    if options.verify_cache {
        options.paths.cache_mode = CacheMode::ReadWrite;
        let start = Instant::now();
        let again = Imdb::load(&options.paths, &options.config).map_err(|e| e.to_string())?;
        let elapsed = start.elapsed().as_secs_f64();
        println!("warm:   {elapsed:.2} s ({})", again.cache);
        if !matches!(again.cache, CacheStatus::Hit(_)) {
            println!("  FAIL: the second load did not come from the cache");
            ok = false;
        }
        if (&again.train, &again.test, &again.vocab) != (&imdb.train, &imdb.test, &imdb.vocab) {
            println!("  FAIL: the cached dataset differs from the one built");
            ok = false;
        }
    }
    if let Some((path, seed)) = &options.export {
        export(&imdb, options.config.max_len, path, *seed)?;
        println!("encoded splits written to {}", path.display());
    }
    println!("{}", if ok { "OK" } else { "FAILED" });
    Ok(ok)
}

//! Smoke test of the IMDB loader on the real data: load, count, time, check.
//!
//! ```text
//! cargo run -p train --example load_imdb -- [--data PATH] [options]
//!
//!   --data PATH          archive or aclImdb/ directory (default: TAPEGRAD_DATA,
//!                        then the cache, then a download)
//!   --cache-dir DIR      cache directory (default: $XDG_CACHE_HOME/tapegrad)
//!   --no-cache           neither read nor write the encoded-dataset cache
//!   --verify-cache       build from the source (timed), then load again, which
//!                        must come from the cache (timed) and be identical
//!   --no-download        fail instead of downloading
//!   --expect-train N     expected training reviews (default 25000)
//!   --expect-test N      expected test reviews (default 25000)
//!   --vocab-size N       (default 20000)
//!   --max-len N          (default 200)
//!   --save-vocab FILE    write the vocabulary (one word per line) to FILE
//! ```
//!
//! Exits non-zero unless each split has the expected count, half positive and
//! half negative.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use train::data::imdb::{CacheStatus, Imdb, ImdbConfig, Sentiment, Split};
use train::data::{CacheMode, DataPaths};

struct Options {
    paths: DataPaths,
    config: ImdbConfig,
    verify_cache: bool,
    expected: [usize; 2],
    save_vocab: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut data = None;
    let mut cache_dir = None;
    let mut cache_mode = CacheMode::ReadWrite;
    let mut allow_download = true;
    let mut verify_cache = false;
    let mut save_vocab = None;
    let mut expected = [25_000, 25_000];
    let mut config = ImdbConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let mut number = || -> Result<usize, String> {
            let text = value()?;
            text.parse()
                .map_err(|_| format!("{flag}: {text:?} is not a number"))
        };
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--cache-dir" => cache_dir = Some(PathBuf::from(value()?)),
            "--no-cache" => cache_mode = CacheMode::Off,
            "--verify-cache" => verify_cache = true,
            "--no-download" => allow_download = false,
            "--expect-train" => expected[0] = number()?,
            "--expect-test" => expected[1] = number()?,
            "--vocab-size" => config.vocab_size = number()?,
            "--max-len" => config.max_len = number()?,
            "--save-vocab" => save_vocab = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if verify_cache && cache_mode == CacheMode::Off {
        return Err("--verify-cache and --no-cache contradict each other".to_string());
    }
    let mut paths = DataPaths::from_env(data);
    if cache_dir.is_some() {
        paths.cache_dir = cache_dir;
    }
    paths.cache_mode = if verify_cache {
        CacheMode::Refresh
    } else {
        cache_mode
    };
    paths.allow_download = allow_download;
    Ok(Options {
        paths,
        config,
        verify_cache,
        expected,
        save_vocab,
    })
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!(
                "usage: load_imdb [--data PATH] [--cache-dir DIR] [--no-cache] [--verify-cache] \
                 [--no-download] [--expect-train N] [--expect-test N] [--vocab-size N] [--max-len N] [--save-vocab FILE]"
            );
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads, prints and checks; `Ok(false)` if a check failed.
fn run(mut options: Options) -> Result<bool, train::data::DataError> {
    let start = Instant::now();
    let imdb = Imdb::load(&options.paths, &options.config)?;
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
        imdb.vocab.save(path)?;
        println!("vocabulary saved to {}", path.display());
    }

    if options.verify_cache {
        options.paths.cache_mode = CacheMode::ReadWrite;
        let start = Instant::now();
        let again = Imdb::load(&options.paths, &options.config)?;
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
    println!("{}", if ok { "OK" } else { "FAILED" });
    Ok(ok)
}

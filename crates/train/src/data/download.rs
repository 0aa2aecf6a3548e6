//! Fetching a data file over HTTP, safely.
//!
//! A download can fail in three quiet ways: the connection drops half-way, the
//! server sends something else than expected, or the program is killed while
//! writing. Any of them can leave a file that *looks* like the data set and
//! later fails in a confusing place, or worse, trains on half the data. So a
//! download here
//!
//! 1. streams into `NAME.<pid>.part` beside the destination, never into the
//!    destination itself;
//! 2. hashes the bytes (MD5) as they arrive and counts them against the
//!    `Content-Length` the server announced;
//! 3. only if both match, flushes the file to disk and *renames* it to `NAME`.
//!    A rename within one directory is atomic: a reader sees no file, or the
//!    whole file.
//!
//! On any failure the `.part` file is deleted (by the `Drop` of a small
//! `PartFile` guard), so the cache never keeps a bad or partial file and the
//! next run simply retries. If the program is killed instead, the `.part`
//! file stays behind, and the next run that uses the cache directory removes
//! it (see `tensor::durable::PartFile`: a download in progress holds a lock
//! on its file, a dead one does not).
//!
//! HTTP is done by `ureq`, a small blocking client; the progress bar by
//! `indicatif`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use tensor::durable::PartFile;

use super::DataError;

/// A data file that can be downloaded, and the names it may already have on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// What the file is, for messages ("IMDB movie reviews").
    pub dataset: String,
    /// Where to download it from.
    pub url: String,
    /// The name it is stored under in the cache.
    pub file_name: String,
    /// Its MD5 (lowercase hex), checked after every download; `None` skips the check.
    pub md5: Option<String>,
    /// Other names that are accepted in a data directory or the cache
    /// (an extracted directory, a repacked archive, ...), tried after `file_name`.
    pub other_names: Vec<String>,
}

impl RemoteFile {
    /// `file_name` first, then `other_names`.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.file_name.as_str()).chain(self.other_names.iter().map(String::as_str))
    }
}

/// Downloads `file.url` to `destination`, verifying its length and MD5, and
/// writing it atomically. On error nothing is left at `destination` or beside it.
pub fn download_file(
    file: &RemoteFile,
    destination: &Path,
    show_progress: bool,
) -> Result<(), DataError> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io("creating", parent, e))?;
    }
    let url = file.url.as_str();
    let failed = |problem: String| DataError::Download {
        url: url.to_string(),
        problem,
        help: String::new(),
    };

    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|error| match error {
        ureq::Error::Status(code, response) => failed(format!(
            "the server answered HTTP {code} {}",
            response.status_text()
        )),
        ureq::Error::Transport(transport) => failed(transport.to_string()),
    })?;
    // With a `Content-Encoding` the announced length is of the encoded bytes,
    // not of the ones we read; ureq checks it itself then.
    let expected_len: Option<u64> = match response.header("Content-Encoding") {
        Some(_) => None,
        None => response
            .header("Content-Length")
            .and_then(|len| len.trim().parse().ok()),
    };

    if show_progress {
        eprintln!("downloading {url}\n         to {}", destination.display());
    }
    let progress = progress_bar(show_progress, expected_len, &file.file_name);
    let mut part =
        PartFile::create(destination).map_err(|e| DataError::io("creating", destination, e))?;
    let (received, actual) =
        receive(response.into_reader(), &mut part, &progress).map_err(|(received, error)| {
            progress.abandon();
            match error {
                Received::Connection(error) => failed(format!(
                    "connection lost after {received} bytes{}: {error}",
                    expected_len.map(|n| format!(" of {n}")).unwrap_or_default()
                )),
                Received::Disk(error) => DataError::io("writing", destination, error),
            }
        })?;
    progress.finish_and_clear();
    if let Some(expected) = expected_len {
        if received != expected {
            return Err(failed(format!(
                "connection closed after {received} of {expected} bytes"
            )));
        }
    }
    if let Some(expected) = &file.md5 {
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(DataError::Checksum {
                url: url.to_string(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    part.commit()
        .map_err(|e| DataError::io("writing", destination, e))
}

/// What stopped a download half-way.
enum Received {
    /// Reading from the server failed.
    Connection(std::io::Error),
    /// Writing the part file failed.
    Disk(std::io::Error),
}

/// Copies `body` into `part`, returning the bytes received and their MD5
/// (lowercase hex), or how many bytes came before what went wrong.
fn receive(
    mut body: impl Read,
    part: &mut PartFile,
    progress: &ProgressBar,
) -> Result<(u64, String), (u64, Received)> {
    let mut hasher = Md5::new();
    let mut received: u64 = 0;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err((received, Received::Connection(error))),
        };
        hasher.update(&buffer[..n]);
        part.write_all(&buffer[..n])
            .map_err(|error| (received, Received::Disk(error)))?;
        received += n as u64;
        progress.inc(n as u64);
    }
    Ok((received, format!("{:x}", hasher.finalize())))
}

fn progress_bar(show: bool, len: Option<u64>, name: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_message(format!("downloading {name}"));
    bar
}

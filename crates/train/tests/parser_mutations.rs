//! Mutation tests of the `train` crate's file readers: vocabulary files,
//! training histories and `.tar.gz` dataset archives. Each starts from a
//! valid file and damages it 10,000 ways (truncation, flipped bits, length
//! fields set to extremes, inserted, deleted and copied bytes); every result
//! must be read as exactly the original, read as another file the format
//! cannot tell apart from a valid one (and then faithfully), or refused with
//! an error that names the file; never a panic, a hang or a huge allocation.
//!
//! The encoded-dataset cache, whose reader is private, has its mutation test
//! beside it (`src/data/imdb.rs`); checkpoints have theirs in `nn`. All share
//! `tests/support/mutation.rs` at the workspace root.

mod common;
#[path = "../../../tests/support/mutation.rs"]
mod mutation;

use std::io::Cursor;
use std::path::Path;

use mutation::{Field, Limits, Verdict};
use train::data::imdb::{read_tar_gz, RawImdb};
use train::data::{DataError, Vocabulary};
use train::history::History;

#[global_allocator]
static ALLOCATOR: mutation::Counting = mutation::Counting;

const MUTATIONS: usize = 10_000;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A refusal must say which file it is about.
fn refused(error: &DataError, origin: &str) -> Result<Verdict, String> {
    let message = error.to_string();
    if message.contains(origin) {
        Ok(Verdict::Rejected)
    } else {
        Err(format!("the error does not name {origin}: {message}"))
    }
}

#[test]
fn a_damaged_vocabulary_is_read_faithfully_or_refused() {
    let vocab = Vocabulary::build(
        [
            "the movie was great, the acting was not",
            "it's a 10/10 film",
        ],
        20,
    )
    .unwrap();
    let base = vocab.to_text().into_bytes();
    let origin = Path::new("run/vocab.txt");
    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        match Vocabulary::from_bytes(bytes, origin) {
            Err(error) => refused(&error, "run/vocab.txt"),
            Ok(read) if read == vocab => Ok(Verdict::Same),
            Ok(read) => {
                // A vocabulary file has no checksum (people read and edit it):
                // a word changed into another word is another valid file. It
                // must then be read line for line, nothing dropped or merged.
                let text = std::str::from_utf8(bytes).expect("accepted, so UTF-8");
                let lines: String = text.lines().map(|line| format!("{line}\n")).collect();
                if read.to_text() == lines {
                    Ok(Verdict::Changed)
                } else {
                    Err(format!("read as {:?}", read.words()))
                }
            }
        }
    };
    let report = mutation::run(
        "vocabulary",
        manifest(),
        &base,
        &[],
        MUTATIONS,
        90,
        &Limits::default(),
        &check,
    );
    eprintln!("vocabulary: {report}");
    assert!(report.inputs >= MUTATIONS);
}

#[test]
fn a_damaged_history_is_read_faithfully_or_refused() {
    let mut history = History::new();
    for epoch in 0..4 {
        let e = f64::from(epoch);
        history.record(&[
            ("loss", 0.7 - 0.1 * e),
            ("accuracy", 0.5 + 0.1 * e),
            ("val_loss", 0.75 - 0.05 * e),
            ("val_accuracy", 0.55 + 0.05 * e),
        ]);
    }
    let base = history.to_csv().into_bytes();
    let fields = mutation::decimal_fields(&base, 0..base.len());
    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Ok(Verdict::Rejected); // it is read from UTF-8 metadata only
        };
        match History::from_csv(text) {
            Err(message) if message.starts_with("history: ") => Ok(Verdict::Rejected),
            Err(message) => Err(format!("an unclear refusal: {message}")),
            Ok(read) if read.to_csv() == history.to_csv() => Ok(Verdict::Same),
            Ok(read) => {
                // A digit changed is another valid history. What was read must be
                // finite and read back as itself.
                let all_finite = read
                    .names()
                    .iter()
                    .all(|name| read.get(name).unwrap().iter().all(|v| v.is_finite()));
                let again = History::from_csv(&read.to_csv())
                    .map_err(|e| format!("what was read does not read back: {e}"))?;
                if all_finite && again.to_csv() == read.to_csv() {
                    Ok(Verdict::Changed)
                } else {
                    Err(format!("read as {:?}", read.to_csv()))
                }
            }
        }
    };
    let report = mutation::run(
        "history",
        manifest(),
        &base,
        &fields,
        MUTATIONS,
        91,
        &Limits::default(),
        &check,
    );
    eprintln!("history: {report}");
    assert!(report.inputs >= MUTATIONS);
}

/// The reading buffers of gzip and tar: allowed besides what grows with the input.
fn archive_limits() -> Limits {
    Limits {
        per_byte: 16,
        fixed: 4 << 20,
        ..Limits::default()
    }
}

fn read_archive(bytes: &[u8]) -> Result<RawImdb, DataError> {
    read_tar_gz(Cursor::new(bytes), Path::new("reviews.tar.gz"))
}

/// The `.tar.gz` file damaged as it lies on disk: gzip's CRC-32 and length
/// in its trailer catch every change of the data, so whatever reads must
/// read as the original.
#[test]
fn a_damaged_archive_reads_as_the_original_or_is_refused() {
    let base = common::gzip(&common::tar_bytes(&common::labeled_reviews()));
    let original = read_archive(&base).unwrap();
    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        match read_archive(bytes) {
            Err(error) => refused(&error, "reviews.tar.gz"),
            Ok(raw) if raw == original => Ok(Verdict::Same),
            Ok(raw) => Err(format!("read as another dataset: {raw:?}")),
        }
    };
    let report = mutation::run(
        "tar-gz",
        manifest(),
        &base,
        &[],
        MUTATIONS,
        92,
        &archive_limits(),
        &check,
    );
    eprintln!("tar.gz archive: {report}");
    assert_eq!(report.changed, 0);
}

/// The offsets of the size field (12 octal digits at 124) of every member
/// header of a tar stream.
fn size_fields(tar: &[u8]) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
        fields.push(Field::Octal {
            start: at + 124,
            len: 12,
        });
        let size = octal(&tar[at + 124..at + 136]).unwrap();
        at += 512 + size.div_ceil(512) * 512;
    }
    fields
}

fn octal(field: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(field).ok()?;
    usize::from_str_radix(text.trim_matches(|c| c == '\0' || c == ' '), 8).ok()
}

/// Recomputes the checksum of every header the tar reader will meet, so a
/// damaged header (a size field of 2^33, say) reaches the reader's logic
/// instead of stopping at "header checksum mismatch".
fn fix_header_checksums(tar: &mut [u8]) {
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|&b| b != 0) {
        let header = &mut tar[at..at + 512];
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let Some(size) = octal(&header[124..136]) else {
            return;
        };
        match size
            .checked_next_multiple_of(512)
            .and_then(|data| at.checked_add(512 + data))
        {
            Some(next) => at = next,
            None => return,
        }
    }
}

/// The tar stream inside damaged (headers re-checksummed, then gzipped), so
/// the tar reader and the layout checks meet every damage, size fields set
/// to 2^60 included. What reads is another valid archive; it must follow the
/// layout's rules.
#[test]
fn a_damaged_tar_stream_reads_as_a_valid_dataset_or_is_refused() {
    let tar = common::tar_bytes(&common::labeled_reviews());
    let original = read_archive(&common::gzip(&tar)).unwrap();
    let fields = size_fields(&tar);
    assert_eq!(fields.len(), common::labeled_reviews().len());
    let check = |bytes: &[u8]| -> Result<Verdict, String> {
        let mut tar = bytes.to_vec();
        fix_header_checksums(&mut tar);
        let raw = match read_archive(&common::gzip(&tar)) {
            Err(error) => return refused(&error, "reviews.tar.gz"),
            Ok(raw) => raw,
        };
        if raw == original {
            return Ok(Verdict::Same);
        }
        for (split, reviews) in [("train", &raw.train), ("test", &raw.test)] {
            if reviews.is_empty() {
                return Err(format!("read with an empty {split} split"));
            }
            if let Some(bad) = reviews.iter().find(|r| !(1..=10).contains(&r.rating)) {
                return Err(format!("read a rating of {} in {split}", bad.rating));
            }
            let order: Vec<_> = reviews.iter().map(|r| (r.sentiment, r.id)).collect();
            if !order.is_sorted() {
                return Err(format!("{split} is not in label and id order"));
            }
        }
        Ok(Verdict::Changed)
    };
    let report = mutation::run(
        "tar",
        manifest(),
        &tar,
        &fields,
        MUTATIONS,
        93,
        &archive_limits(),
        &check,
    );
    eprintln!("tar stream (re-checksummed): {report}");
    assert!(report.inputs >= MUTATIONS);
}

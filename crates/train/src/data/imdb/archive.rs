//! Reading the reviews: from a `.tar.gz` archive or an extracted directory to
//! labelled texts ([`RawImdb`]), before any tokenizing.
//!
//! # Layout
//!
//! ```text
//! aclImdb/
//!   train/pos/<id>_<rating>.txt    12,500 reviews rated 7-10 stars
//!   train/neg/<id>_<rating>.txt    12,500 reviews rated 1-4 stars
//!   train/unsup/                   50,000 unlabelled reviews (skipped)
//!   train/labeledBow.feat, urls_*.txt, ...   precomputed features (skipped)
//!   test/pos/, test/neg/           the same for the test split
//! ```
//!
//! The label comes from the directory, the star rating from the file name;
//! both are kept.
//!
//! # Reading
//!
//! [`read_raw`] takes the official `aclImdb_v1.tar.gz`, any `.tar.gz` with the
//! same layout, or an extracted directory. An archive is *streamed*: bytes
//! flow from the file through a gzip decoder (`flate2`) into a tar reader
//! (`tar`), which hands us one member at a time, in one pass, with nothing
//! unpacked to disk. The 50,000 unlabelled reviews stream past unread.
//!
//! Policies, so that a dataset is either right or an error, never silently smaller:
//! - a review that is not valid UTF-8 is an **error** naming the file inside
//!   the archive (the real dataset is all UTF-8; lossy decoding would hide a
//!   damaged file);
//! - a truncated or damaged archive, a missing `train/` or `test/`, a split or
//!   label with no reviews, an unknown label directory, and a file name that
//!   is not `<id>_<rating>.txt` are errors;
//! - hidden files (names starting with `.`, such as macOS' `.DS_Store`) are not
//!   reviews and are ignored;
//! - reviews are sorted by label then id, so a tarball and its extracted
//!   directory give identical datasets whatever order their files come in.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::{Sentiment, Split};
use crate::data::DataError;

/// A review as read from disk, before tokenizing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReview {
    /// The number before the `_` in the file name.
    pub id: u32,
    /// The star rating after the `_` (1-10).
    pub rating: u8,
    /// The label, from the directory.
    pub sentiment: Sentiment,
    /// The review, HTML line breaks and all.
    pub text: String,
}

/// Both splits as read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawImdb {
    /// The archive or directory read.
    pub source: PathBuf,
    /// Training reviews, negatives then positives, each by id.
    pub train: Vec<RawReview>,
    /// Test reviews, in the same order.
    pub test: Vec<RawReview>,
}

/// Reads the reviews from a `.tar.gz` archive or an extracted directory (see
/// the [module docs](self) for the layout and the policies on bad data).
pub fn read_raw(path: &Path) -> Result<RawImdb, DataError> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io("reading", path, e))?;
    if metadata.is_dir() {
        read_directory(path)
    } else {
        read_archive(path)
    }
}

/// Where a member of the dataset belongs, from its path.
#[derive(Debug)]
enum Place {
    /// A review file: `train|test / pos|neg / <name>`.
    Review(Split, Sentiment),
    /// Inside `train/` or `test/`, but not a review we want (`unsup`, `.feat`).
    SplitContent(Split),
    /// Outside the splits (`README`, `imdb.vocab`).
    Elsewhere,
}

/// Classifies a member path, given relative to the archive or directory
/// (`aclImdb/train/pos/0_9.txt`). The top directory is optional.
fn place_of(
    source: &Path,
    components: &[&str],
    member: &str,
    is_file: bool,
) -> Result<Place, DataError> {
    let mut parts = components;
    if parts.len() > 1 && Split::from_dir_name(parts[0]).is_none() {
        parts = &parts[1..]; // the top directory, "aclImdb/"
    }
    let Some(split) = parts.first().and_then(|name| Split::from_dir_name(name)) else {
        return Ok(Place::Elsewhere); // README, imdb.vocab
    };
    match parts {
        // `train/` itself, and `train/labeledBow.feat`, `train/urls_pos.txt`, ...:
        // precomputed features we do not use.
        [] | [_] => Ok(Place::SplitContent(split)),
        [_, _] if is_file => Ok(Place::SplitContent(split)),
        [_, label_dir, rest @ ..] => {
            let Some(sentiment) = label_of_directory(source, member, label_dir)? else {
                return Ok(Place::SplitContent(split)); // unsup/, or a hidden directory
            };
            match rest {
                [] => Ok(Place::SplitContent(split)), // the `pos/` directory itself
                [_] => Ok(Place::Review(split, sentiment)),
                _ => Err(DataError::BadFileName {
                    path: source.to_path_buf(),
                    member: member.to_string(),
                    problem: format!("reviews must sit directly in {}/{label_dir}/", parts[0]),
                }),
            }
        }
    }
}

/// The label of the reviews in directory `name` (inside `train/` or `test/`):
/// `Some` for `pos`/`neg`, `None` for `unsup` and hidden directories, an
/// error for anything else.
fn label_of_directory(
    source: &Path,
    member: &str,
    name: &str,
) -> Result<Option<Sentiment>, DataError> {
    match name {
        "pos" => Ok(Some(Sentiment::Positive)),
        "neg" => Ok(Some(Sentiment::Negative)),
        "unsup" => Ok(None),
        hidden if is_hidden(hidden) => Ok(None),
        other => Err(DataError::UnknownLabel {
            path: source.to_path_buf(),
            member: member.to_string(),
            directory: other.to_string(),
        }),
    }
}

/// Parses `<id>_<rating>.txt`.
fn parse_file_name(source: &Path, member: &str, name: &str) -> Result<(u32, u8), DataError> {
    let bad = |problem: String| DataError::BadFileName {
        path: source.to_path_buf(),
        member: member.to_string(),
        problem,
    };
    let stem = name
        .strip_suffix(".txt")
        .ok_or_else(|| bad("a review file must be named <id>_<rating>.txt".to_string()))?;
    let (id, rating) = stem
        .split_once('_')
        .ok_or_else(|| bad("a review file must be named <id>_<rating>.txt".to_string()))?;
    let id = id
        .parse()
        .map_err(|_| bad(format!("the id {id:?} is not a number")))?;
    let rating = rating
        .parse()
        .ok()
        .filter(|rating| (1..=10).contains(rating))
        .ok_or_else(|| {
            bad(format!(
                "the rating {rating:?} is not a number from 1 to 10"
            ))
        })?;
    Ok((id, rating))
}

/// Gathers reviews from either layout and checks the result is complete.
struct Collector {
    source: PathBuf,
    seen_split: [bool; 2],
    train: Vec<RawReview>,
    test: Vec<RawReview>,
}

impl Collector {
    fn new(source: &Path) -> Collector {
        Collector {
            source: source.to_path_buf(),
            seen_split: [false; 2],
            train: Vec::with_capacity(25_000),
            test: Vec::with_capacity(25_000),
        }
    }

    fn saw_split(&mut self, split: Split) {
        self.seen_split[split as usize] = true;
    }

    /// Adds a review file's bytes, which must be UTF-8.
    fn add(
        &mut self,
        split: Split,
        sentiment: Sentiment,
        member: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DataError> {
        let (id, rating) = parse_file_name(&self.source, member, file_name)?;
        let text = String::from_utf8(bytes).map_err(|error| DataError::NotUtf8 {
            path: self.source.clone(),
            member: Some(member.to_string()),
            valid_up_to: error.utf8_error().valid_up_to(),
        })?;
        self.saw_split(split);
        let review = RawReview {
            id,
            rating,
            sentiment,
            text,
        };
        match split {
            Split::Train => self.train.push(review),
            Split::Test => self.test.push(review),
        }
        Ok(())
    }

    /// Checks both splits are there and every split and label has reviews,
    /// then sorts each split by (label, id).
    fn finish(mut self) -> Result<RawImdb, DataError> {
        for split in Split::ALL {
            if !self.seen_split[split as usize] {
                return Err(DataError::MissingSplit {
                    path: self.source.clone(),
                    split: split.dir_name(),
                });
            }
            let reviews = match split {
                Split::Train => &mut self.train,
                Split::Test => &mut self.test,
            };
            if reviews.is_empty() {
                return Err(DataError::EmptySplit {
                    path: self.source.clone(),
                    split: split.dir_name().to_string(),
                });
            }
            for sentiment in Sentiment::ALL {
                if !reviews.iter().any(|review| review.sentiment == sentiment) {
                    return Err(DataError::EmptySplit {
                        path: self.source.clone(),
                        split: format!("{}/{}", split.dir_name(), sentiment.dir_name()),
                    });
                }
            }
            reviews.sort_by_key(|review| (review.sentiment, review.id, review.rating));
        }
        Ok(RawImdb {
            source: self.source,
            train: self.train,
            test: self.test,
        })
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Turns an I/O error from the decompressor or the tar reader into a
/// [`DataError::Archive`] that says what probably happened.
fn damaged(path: &Path, error: io::Error) -> DataError {
    let problem = if error.kind() == io::ErrorKind::UnexpectedEof {
        format!("{error} (the file ends too early: an interrupted download or copy?)")
    } else {
        error.to_string()
    };
    DataError::Archive {
        path: path.to_path_buf(),
        problem,
    }
}

fn read_archive(path: &Path) -> Result<RawImdb, DataError> {
    let file = File::open(path).map_err(|e| DataError::io("reading", path, e))?;
    read_tar_gz(BufReader::with_capacity(1 << 20, file), path)
}

/// The most bytes reserved up front for one member, whatever its tar header
/// says: a header is 512 bytes anyone can edit, and a size field of 2^60 must
/// not reserve 2^60 bytes. Larger members still read whole, growing as the
/// bytes really arrive. (IMDB reviews are under 14 KB.)
const MEMBER_RESERVE_LIMIT: u64 = 1 << 20;

/// Reads the reviews from a `.tar.gz` stream, as [`read_raw`] reads an
/// archive file; `source` names the archive in errors.
///
/// # Errors
/// As [`read_raw`]: a damaged gzip or tar stream (a bad CRC, a stream cut
/// short, a tar stream without its end marker), or members that do not follow
/// the layout.
pub fn read_tar_gz(reader: impl Read, source: &Path) -> Result<RawImdb, DataError> {
    let path = source;
    // bytes on disk -> gzip decoder -> tar reader -> one member at a time
    let decoder = GzDecoder::new(reader);
    let mut archive = tar::Archive::new(EndWatch::new(decoder));
    let mut collector = Collector::new(path);
    for entry in archive.entries().map_err(|e| damaged(path, e))? {
        let mut entry = entry.map_err(|e| damaged(path, e))?;
        let member_path = entry.path().map_err(|e| damaged(path, e))?.into_owned();
        let member = member_path.to_string_lossy().into_owned();
        let components: Vec<&str> = member
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let entry_type = entry.header().entry_type();
        let is_file = entry_type.is_file();
        match place_of(path, &components, &member, is_file)? {
            Place::Review(split, sentiment) if is_file => {
                let file_name = components.last().copied().unwrap_or_default();
                if is_hidden(file_name) {
                    continue;
                }
                let mut bytes = Vec::with_capacity(entry.size().min(MEMBER_RESERVE_LIMIT) as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| damaged(path, e))?;
                collector.add(split, sentiment, &member, file_name, bytes)?;
            }
            Place::Review(split, _) if entry_type.is_dir() => collector.saw_split(split),
            Place::Review(..) => {
                return Err(DataError::BadFileName {
                    path: path.to_path_buf(),
                    member,
                    problem: format!("is a {entry_type:?} entry, not a regular file"),
                })
            }
            Place::SplitContent(split) => collector.saw_split(split),
            Place::Elsewhere => {}
        }
    }
    // A tar archive ends with a block of zeros. The tar reader also stops,
    // without an error, where the data simply runs out: that would be a
    // silently shorter dataset, so we insist on the end marker.
    let mut decompressed = archive.into_inner();
    if decompressed.reached_end {
        return Err(DataError::Archive {
            path: path.to_path_buf(),
            problem: "the tar stream stops without its end-of-archive marker \
                      (the archive was cut short)"
                .to_string(),
        });
    }
    // Read the gzip stream to its very end: its trailer holds a CRC and the
    // length, which the decoder checks.
    io::copy(&mut decompressed, &mut io::sink()).map_err(|e| damaged(path, e))?;
    collector.finish()
}

/// A reader that remembers whether its source ran dry (a read returned 0 bytes).
struct EndWatch<R> {
    inner: R,
    reached_end: bool,
}

impl<R> EndWatch<R> {
    fn new(inner: R) -> EndWatch<R> {
        EndWatch {
            inner,
            reached_end: false,
        }
    }
}

impl<R: Read> Read for EndWatch<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        if n == 0 && !buffer.is_empty() {
            self.reached_end = true;
        }
        Ok(n)
    }
}

fn read_directory(path: &Path) -> Result<RawImdb, DataError> {
    // Accept the `aclImdb/` directory itself or a directory holding it.
    let root = if path.join("train").is_dir() || path.join("test").is_dir() {
        path.to_path_buf()
    } else if path.join("aclImdb").is_dir() {
        path.join("aclImdb")
    } else {
        return Err(DataError::MissingSplit {
            path: path.to_path_buf(),
            split: "train",
        });
    };
    let mut collector = Collector::new(path);
    for split in Split::ALL {
        let split_dir = root.join(split.dir_name());
        if !split_dir.is_dir() {
            continue; // reported by `finish` as a missing split
        }
        collector.saw_split(split);
        for label_dir in sorted_entries(&split_dir)? {
            let name = label_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !label_dir.is_dir() || is_hidden(&name) {
                continue; // labeledBow.feat, urls_pos.txt, ...
            }
            let member = format!("{}/{name}/", split.dir_name());
            let Some(sentiment) = label_of_directory(path, &member, &name)? else {
                continue; // unsup/
            };
            for review_path in sorted_entries(&label_dir)? {
                let file_name = review_path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let member = format!("{}/{name}/{file_name}", split.dir_name());
                if is_hidden(&file_name) {
                    continue;
                }
                if review_path.is_dir() {
                    return Err(DataError::BadFileName {
                        path: path.to_path_buf(),
                        member,
                        problem: format!(
                            "reviews must sit directly in {}/{name}/",
                            split.dir_name()
                        ),
                    });
                }
                let bytes = std::fs::read(&review_path)
                    .map_err(|e| DataError::io("reading", &review_path, e))?;
                collector.add(split, sentiment, &member, &file_name, bytes)?;
            }
        }
    }
    collector.finish()
}

/// The entries of a directory, sorted by name (for reproducible error messages).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut paths = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| DataError::io("listing", dir, e))?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_id_and_rating() {
        let source = Path::new("x.tar.gz");
        assert_eq!(parse_file_name(source, "m", "123_9.txt").unwrap(), (123, 9));
        for bad in [
            "123_9", "123.txt", "a_9.txt", "1_11.txt", "1_0.txt", "1_x.txt",
        ] {
            let error = parse_file_name(source, "train/pos/f", bad).unwrap_err();
            assert!(matches!(error, DataError::BadFileName { .. }), "{bad}");
            assert!(error.to_string().contains("train/pos/f"), "{error}");
        }
    }

    #[test]
    fn places_in_the_layout() {
        let source = Path::new("x");
        let place = |path: &str, is_file: bool| {
            let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
            place_of(source, &parts, path, is_file)
        };
        assert!(matches!(
            place("aclImdb/train/pos/1_9.txt", true).unwrap(),
            Place::Review(Split::Train, Sentiment::Positive)
        ));
        assert!(matches!(
            place("test/neg/1_2.txt", true).unwrap(),
            Place::Review(Split::Test, Sentiment::Negative)
        ));
        for skipped in [
            "aclImdb/train/unsup/1_0.txt",
            "aclImdb/train/labeledBow.feat",
            "aclImdb/test/urls_pos.txt",
            "aclImdb/train/",
            "aclImdb/train/pos/",
        ] {
            let is_file = !skipped.ends_with('/');
            assert!(
                matches!(place(skipped, is_file).unwrap(), Place::SplitContent(_)),
                "{skipped}"
            );
        }
        assert!(matches!(
            place("aclImdb/README", true).unwrap(),
            Place::Elsewhere
        ));
        assert!(matches!(
            place("aclImdb/", false).unwrap(),
            Place::Elsewhere
        ));
        assert!(matches!(
            place("aclImdb/train/maybe/1_5.txt", true).unwrap_err(),
            DataError::UnknownLabel { .. }
        ));
        assert!(matches!(
            place("aclImdb/train/pos/deep/1_5.txt", true).unwrap_err(),
            DataError::BadFileName { .. }
        ));
    }
}

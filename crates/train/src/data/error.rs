//! What can go wrong while finding, reading or preparing data: one error type.
//!
//! Every fallible function of [`data`](super) returns [`DataError`]. Its
//! message names the file (and, inside an archive, the member) and what is
//! wrong with it, so a program can show it to a user as it is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong while finding, reading or preparing data.
///
/// Each message names the path (and the member inside an archive) and says
/// what is wrong, so it can be shown to a user as it is.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// Reading or writing a file failed at the operating-system level.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What we were doing: "reading", "creating", ...
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The data is in none of the places searched and could not be downloaded.
    NotFound {
        /// What was looked for ("IMDB movie reviews").
        dataset: String,
        /// The places looked at, in order.
        searched: Vec<PathBuf>,
        /// What the user can do about it.
        help: String,
    },
    /// A download failed: no connection, an HTTP error, or a connection cut.
    Download {
        /// The address fetched.
        url: String,
        /// What went wrong.
        problem: String,
        /// Where to put the file by hand instead.
        help: String,
    },
    /// A downloaded file's MD5 differs from the expected one. Nothing was kept.
    Checksum {
        /// The address fetched.
        url: String,
        /// The MD5 the file should have (lowercase hex).
        expected: String,
        /// The MD5 of what was received.
        actual: String,
    },
    /// A compressed archive or its tar stream is damaged (e.g. a truncated gzip).
    Archive {
        /// The archive.
        path: PathBuf,
        /// What the decoder reported.
        problem: String,
    },
    /// A text file, or a member of an archive, is not valid UTF-8.
    NotUtf8 {
        /// The file or archive.
        path: PathBuf,
        /// The member inside the archive, if `path` is an archive.
        member: Option<String>,
        /// Byte offset of the first invalid byte.
        valid_up_to: usize,
    },
    /// A dataset split directory (`train/` or `test/`) is missing.
    MissingSplit {
        /// The archive or directory read.
        path: PathBuf,
        /// `"train"` or `"test"`.
        split: &'static str,
    },
    /// A split, or one label inside it, holds no examples.
    EmptySplit {
        /// The archive or directory read.
        path: PathBuf,
        /// The empty part, e.g. `"test"` or `"train/neg"`.
        split: String,
    },
    /// A review sits in a directory that is not a known label (`pos`, `neg`, `unsup`).
    UnknownLabel {
        /// The archive or directory read.
        path: PathBuf,
        /// The offending file, relative to the dataset root.
        member: String,
        /// The unknown directory name.
        directory: String,
    },
    /// A file name does not follow the dataset's naming scheme (IMDB: `<id>_<rating>.txt`).
    BadFileName {
        /// The archive or directory read.
        path: PathBuf,
        /// The offending file, relative to the dataset root.
        member: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A saved vocabulary is malformed.
    Vocabulary {
        /// Where the vocabulary came from (a file path or a description).
        origin: String,
        /// 1-based line number of the problem (0 if not about one line).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Text contains a character the character vocabulary does not know.
    UnknownChar {
        /// The character.
        character: char,
    },
    /// A setting or argument is out of range (a batch size of 0, ...).
    InvalidArgument(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io {
                path,
                action,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            DataError::NotFound {
                dataset,
                searched,
                help,
            } => {
                write!(f, "{dataset} not found; looked at:")?;
                for place in searched {
                    write!(f, "\n  {}", place.display())?;
                }
                write!(f, "\n{help}")
            }
            DataError::Download { url, problem, help } => {
                write!(f, "downloading {url} failed: {problem}\n{help}")
            }
            DataError::Checksum {
                url,
                expected,
                actual,
            } => write!(
                f,
                "downloading {url}: MD5 is {actual}, expected {expected}; \
                 the file was damaged or changed on the server, and was not kept"
            ),
            DataError::Vocabulary {
                origin,
                line,
                problem,
            } => {
                if *line > 0 {
                    write!(f, "vocabulary {origin}, line {line}: {problem}")
                } else {
                    write!(f, "vocabulary {origin}: {problem}")
                }
            }
            DataError::UnknownChar { character } => write!(
                f,
                "character {character:?} is not in the character vocabulary"
            ),
            DataError::InvalidArgument(message) => write!(f, "{message}"),
            _ => self.fmt_dataset_file(f),
        }
    }
}

impl DataError {
    /// The messages of a data file whose content or layout is wrong.
    fn fmt_dataset_file(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Archive { path, problem } => {
                write!(f, "{}: damaged archive: {problem}", path.display())
            }
            DataError::NotUtf8 {
                path,
                member,
                valid_up_to,
            } => {
                write!(f, "{}", path.display())?;
                if let Some(member) = member {
                    write!(f, ": {member}")?;
                }
                write!(
                    f,
                    ": not valid UTF-8 (first bad byte at offset {valid_up_to}); \
                     text is read as UTF-8 and never altered silently"
                )
            }
            DataError::MissingSplit { path, split } => write!(
                f,
                "{}: no `{split}/` directory; expected the aclImdb layout \
                 (train/pos, train/neg, test/pos, test/neg)",
                path.display()
            ),
            DataError::EmptySplit { path, split } => {
                write!(f, "{}: `{split}/` holds no examples", path.display())
            }
            DataError::UnknownLabel {
                path,
                member,
                directory,
            } => write!(
                f,
                "{}: {member} is in an unknown label directory `{directory}` \
                 (expected pos, neg or unsup)",
                path.display()
            ),
            DataError::BadFileName {
                path,
                member,
                problem,
            } => write!(f, "{}: {member}: {problem}", path.display()),
            other => unreachable!("{other:?} has its own message"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl DataError {
    /// Wraps an I/O error with the path and what was being done to it.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> DataError {
        DataError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

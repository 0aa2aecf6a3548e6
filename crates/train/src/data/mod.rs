//! Datasets: finding the files, reading them, turning text into numbers, and
//! cutting the numbers into batches.
//!
//! A model never sees text. Between a folder of movie reviews and the
//! `[batch, time]` tensor of token ids an LSTM reads lie five steps, one module
//! each:
//!
//! | step | module | what you learn there |
//! | --- | --- | --- |
//! | find or fetch the file | [`DataPaths`] (here), [`download`] | a search order, a cache, a download that is verified and written atomically |
//! | read the raw examples | [`imdb`], [`text`] | streaming through gzip and tar without unpacking; labels from a directory layout |
//! | text to words | [`tokenizer`] | a tokenizer simple enough to state in one sentence |
//! | words to ids | [`vocab`] | a vocabulary from training counts only, with padding and out-of-vocabulary ids |
//! | ids to batches | [`loader`] | seeded shuffling, length bucketing, padding, a validation split |
//!
//! The encoded IMDB dataset is cached in a small binary file (see `cache.rs`),
//! so only the first run pays for reading and tokenizing 50,000 reviews.
//!
//! # In one screen
//!
//! ```no_run
//! use train::data::loader::{split_validation, DEFAULT_VALIDATION_FRACTION};
//! use train::data::{DataLoader, DataPaths, Imdb, ImdbConfig, LoaderConfig};
//!
//! # fn main() -> Result<(), train::data::DataError> {
//! // Found, or downloaded, then read and encoded (or taken from the cache).
//! let imdb = Imdb::load(&DataPaths::from_env(None), &ImdbConfig::default())?;
//! let (train, validation) = split_validation(imdb.train, DEFAULT_VALIDATION_FRACTION, 42)?;
//! let train_loader = DataLoader::new(&train, LoaderConfig::new(32))?;
//! let validation_loader = DataLoader::new(&validation, LoaderConfig::evaluation(256))?;
//! for epoch in 0..2 {
//!     for batch in train_loader.batches(epoch) {
//!         // batch.token_ids: [32, time] ids, batch.lengths, batch.labels: [32]
//!         assert_eq!(batch.token_ids.shape()[0], batch.labels.shape()[0]);
//!     }
//!     let validation_batches = validation_loader.batches(epoch);
//!     println!("epoch {epoch}: {} validation batches", validation_batches.len());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where data comes from
//!
//! [`DataPaths::locate`] looks, in order, at
//! 1. an explicit path (an example's `--data PATH`): a file or a directory;
//! 2. the directory named by the environment variable `TAPEGRAD_DATA`;
//! 3. the cache directory, `$XDG_CACHE_HOME/tapegrad` or `~/.cache/tapegrad`;
//!
//! and if none has the file, downloads it into the cache (see [`download`]).
//! Offline, the error says which file to put where.
//!
//! # Errors
//!
//! Every fallible function returns [`DataError`], whose message names the file
//! (and, inside an archive, the member) and what is wrong with it. Bad data is
//! never skipped silently: a dataset is either complete or an error.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

mod cache;
pub mod download;
pub mod imdb;
pub mod loader;
pub mod text;
pub mod tokenizer;
pub mod vocab;

pub use download::RemoteFile;
pub use imdb::{Imdb, ImdbConfig, Review, Sentiment};
pub use loader::{Batch, DataLoader, LoaderConfig};
pub use text::CharCorpus;
pub use tokenizer::Side;
pub use vocab::Vocabulary;

/// The environment variable naming a directory that holds data files.
pub const DATA_DIR_ENV: &str = "TAPEGRAD_DATA";

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

/// What to do with the cache of encoded datasets (see [`imdb::Imdb::load`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// Reuse a valid cached copy; otherwise build it and write it (the default).
    #[default]
    ReadWrite,
    /// Ignore any cached copy, build from the source and write a fresh one.
    Refresh,
    /// Neither read nor write the cache.
    Off,
}

/// Where data files are looked for, and where downloads and caches go.
///
/// Build it with [`DataPaths::from_env`] in a program, or set the fields
/// directly in a test (pointing `cache_dir` at a temporary directory, so the
/// user's real cache is never touched).
#[derive(Clone, Debug)]
pub struct DataPaths {
    /// A file or directory the user named (`--data PATH`). When set, it is the
    /// only place looked at, and a missing path is an error.
    pub explicit: Option<PathBuf>,
    /// A directory holding data files (from `$TAPEGRAD_DATA`).
    pub data_dir: Option<PathBuf>,
    /// The cache directory: downloads and encoded datasets are kept here.
    /// `None` if there is no home directory to put it in.
    pub cache_dir: Option<PathBuf>,
    /// Whether a file found nowhere may be downloaded into `cache_dir`.
    pub allow_download: bool,
    /// Whether downloads draw a progress bar (on standard error).
    pub show_progress: bool,
    /// What to do with the encoded-dataset cache.
    pub cache_mode: CacheMode,
}

impl DataPaths {
    /// The usual search order: `explicit`, then `$TAPEGRAD_DATA`, then the
    /// user's cache directory, downloading if needed, with a progress bar.
    ///
    /// A `$TAPEGRAD_DATA` that names no directory (a typo, an unmounted disk)
    /// is reported on standard error, naming the variable and the path, and
    /// the search goes on in the cache: the data may still be found there,
    /// and if not, the "not found" error lists the path among those searched.
    pub fn from_env(explicit: Option<PathBuf>) -> DataPaths {
        let (data_dir, complaint) = data_dir_from_env(std::env::var_os(DATA_DIR_ENV));
        if let Some(complaint) = complaint {
            eprintln!("tapegrad: warning: {complaint}");
        }
        DataPaths {
            explicit,
            data_dir,
            cache_dir: default_cache_dir(),
            allow_download: true,
            show_progress: true,
            cache_mode: CacheMode::ReadWrite,
        }
    }

    /// Only `cache_dir` is searched (and downloaded into); no progress bar.
    /// Meant for tests, which pass a temporary directory.
    pub fn with_cache_dir(cache_dir: impl Into<PathBuf>) -> DataPaths {
        DataPaths {
            explicit: None,
            data_dir: None,
            cache_dir: Some(cache_dir.into()),
            allow_download: true,
            show_progress: false,
            cache_mode: CacheMode::ReadWrite,
        }
    }

    /// Finds `file`: the explicit path, else `data_dir`, else `cache_dir`
    /// (each under any of the file's names), else downloads it into `cache_dir`.
    ///
    /// Looking into the cache directory first removes what killed downloads
    /// and cache writes left there (their `.part` files: a write in progress
    /// holds a lock on its file, a killed one does not).
    pub fn locate(&self, file: &RemoteFile) -> Result<PathBuf, DataError> {
        if let Some(cache_dir) = &self.cache_dir {
            remove_stale_parts(cache_dir);
        }
        if let Some(explicit) = &self.explicit {
            // A directory that holds the file by one of its names stands for the file.
            if explicit.is_dir() {
                if let Some(inside) = file
                    .names()
                    .map(|name| explicit.join(name))
                    .find(|candidate| candidate.is_file())
                {
                    return Ok(inside);
                }
            }
            if explicit.exists() {
                return Ok(explicit.clone());
            }
            return Err(DataError::NotFound {
                dataset: file.dataset.clone(),
                searched: vec![explicit.clone()],
                help: "the path given does not exist".to_string(),
            });
        }
        let mut searched = Vec::new();
        for dir in [&self.data_dir, &self.cache_dir].into_iter().flatten() {
            for name in file.names() {
                let candidate = dir.join(name);
                if candidate.exists() {
                    return Ok(candidate);
                }
                searched.push(candidate);
            }
        }
        let help = self.where_to_put(file);
        match (&self.cache_dir, self.allow_download) {
            (Some(cache_dir), true) => {
                let destination = cache_dir.join(&file.file_name);
                download::download_file(file, &destination, self.show_progress).map_err(
                    |error| match error {
                        DataError::Download { url, problem, .. } => {
                            DataError::Download { url, problem, help }
                        }
                        other => other,
                    },
                )?;
                Ok(destination)
            }
            _ => Err(DataError::NotFound {
                dataset: file.dataset.clone(),
                searched,
                help,
            }),
        }
    }

    /// The advice printed when a file can be neither found nor downloaded.
    fn where_to_put(&self, file: &RemoteFile) -> String {
        let mut help = format!(
            "Download {} (from {}) and either put it in ",
            file.file_name, file.url
        );
        match &self.cache_dir {
            Some(dir) => help.push_str(&format!("{}, ", dir.display())),
            None => help.push_str("$XDG_CACHE_HOME/tapegrad, "),
        }
        help.push_str(&format!(
            "or in a directory named by ${DATA_DIR_ENV}, or pass --data PATH."
        ));
        help
    }
}

/// The data directory `$TAPEGRAD_DATA` names (`value`, as read from the
/// environment; unset or empty means none), and a complaint if it names no
/// directory.
fn data_dir_from_env(value: Option<std::ffi::OsString>) -> (Option<PathBuf>, Option<String>) {
    let Some(dir) = value.filter(|dir| !dir.is_empty()).map(PathBuf::from) else {
        return (None, None);
    };
    let complaint = match std::fs::metadata(&dir) {
        Ok(metadata) if metadata.is_dir() => None,
        Ok(_) => Some("is a file, not a directory".to_string()),
        Err(error) => Some(format!("cannot be used ({error})")),
    }
    .map(|problem| {
        format!(
            "{DATA_DIR_ENV}={} {problem}; looking for data in the cache directory instead",
            dir.display()
        )
    });
    (Some(dir), complaint)
}

/// The user's cache directory for tapegrad: `$XDG_CACHE_HOME/tapegrad`, or
/// `$HOME/.cache/tapegrad`; `None` if neither variable is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("tapegrad"));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".cache").join("tapegrad"))
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it, then
/// renamed over it. A reader sees the old file or the new one, never half of one.
///
/// The stages are [`nn::checkpoint::pause_point`]s for crash tests, as in
/// [`nn::checkpoint::write_atomically`]: `created`, `half written`,
/// `written`, `synced`, `renamed`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io("creating", parent, e))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stage = |what: &str| nn::checkpoint::pause_point(&format!("{name}: {what}"));
    let mut part = PartFile::create(path)?;
    stage("created");
    let (first, second) = bytes.split_at(bytes.len() / 2);
    part.write_all(first)?;
    stage("half written");
    part.write_all(second)?;
    stage("written");
    part.commit_with(|| stage("synced"))?;
    stage("renamed");
    Ok(())
}

/// `dir/name` -> `dir/name.<process id>.part`: unique per process, so two
/// programs filling the same cache never write into one temporary file.
pub(crate) fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.part", std::process::id()));
    path.with_file_name(name)
}

/// A `.part` file being filled, to be renamed over its destination when complete.
///
/// Dropped without [`PartFile::commit`], it deletes itself, so every early
/// return of a failed write cleans up without a line of code. A process that
/// is *killed* runs no `Drop`, and leaves its `.part` file (a 19.5 MB cache or
/// a half-downloaded archive) behind; [`remove_stale_parts`] removes those.
/// To tell them from a write still going on in another process, a `PartFile`
/// holds an exclusive lock on its file from creation until it is renamed: the
/// operating system drops the lock when the process dies, so a `.part` file
/// nobody holds a lock on is a dead write's.
pub(crate) struct PartFile {
    file: File,
    path: PathBuf,
    destination: PathBuf,
    committed: bool,
}

impl PartFile {
    /// Creates and locks `destination`'s `.part` file.
    pub(crate) fn create(destination: &Path) -> Result<PartFile, DataError> {
        let path = part_path(destination);
        // A cleaner in another process may see the new file before we lock it
        // and remove it (a window of microseconds). Once locked, it is ours;
        // if it is gone by then, make it again.
        for _ in 0..3 {
            let file = File::create(&path).map_err(|e| DataError::io("creating", &path, e))?;
            file.lock()
                .map_err(|e| DataError::io("locking", &path, e))?;
            if path.exists() {
                return Ok(PartFile {
                    file,
                    path,
                    destination: destination.to_path_buf(),
                    committed: false,
                });
            }
        }
        Err(DataError::io(
            "creating",
            &path,
            io::Error::other("the temporary file kept disappearing"),
        ))
    }

    /// Appends `bytes`.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        use std::io::Write;
        self.file
            .write_all(bytes)
            .map_err(|e| DataError::io("writing", &self.path, e))
    }

    /// Flushes the data to disk, then renames the part file to its real name.
    pub(crate) fn commit(self) -> Result<(), DataError> {
        self.commit_with(|| {})
    }

    /// [`PartFile::commit`], calling `synced` between the flush and the rename.
    fn commit_with(mut self, synced: impl FnOnce()) -> Result<(), DataError> {
        self.file
            .sync_all()
            .map_err(|e| DataError::io("writing", &self.path, e))?;
        synced();
        std::fs::rename(&self.path, &self.destination)
            .map_err(|e| DataError::io("renaming into place", &self.destination, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes from `dir` the `.part` files of writes whose process died (see
/// [`PartFile`]): files named `<name>.<pid>.part` that no process holds a lock
/// on, except this process's own. Returns the files removed. Problems
/// (no such directory, a file that vanished meanwhile) are not errors: this
/// is housekeeping.
pub(crate) fn remove_stale_parts(dir: &Path) -> Vec<PathBuf> {
    let own = format!(".{}.part", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".part") else {
            continue;
        };
        let has_pid = stem
            .rsplit_once('.')
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if !has_pid || name.ends_with(&own) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // Locked by a live writer: WouldBlock, and the file stays.
        if file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback address where nothing listens: a port the system just gave
    /// us and we released, so connecting to it is refused at once.
    fn closed_port_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}/none")
    }

    fn remote(name: &str) -> RemoteFile {
        RemoteFile {
            dataset: "test data".into(),
            url: closed_port_url(),
            file_name: name.into(),
            md5: None,
            other_names: vec!["other.txt".into()],
        }
    }

    #[test]
    fn explicit_path_wins_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.txt");
        std::fs::write(&file, "x").unwrap();
        let mut paths = DataPaths::with_cache_dir(dir.path().join("cache"));
        paths.explicit = Some(file.clone());
        assert_eq!(paths.locate(&remote("a.txt")).unwrap(), file);
        paths.explicit = Some(dir.path().join("missing.txt"));
        let error = paths.locate(&remote("a.txt")).unwrap_err();
        assert!(error.to_string().contains("missing.txt"), "{error}");
    }

    #[test]
    fn data_dir_comes_before_the_cache_and_other_names_count() {
        let dir = tempfile::tempdir().unwrap();
        let (data, cache) = (dir.path().join("data"), dir.path().join("cache"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("a.txt"), "cached").unwrap();
        std::fs::write(data.join("other.txt"), "data").unwrap();
        let mut paths = DataPaths::with_cache_dir(&cache);
        assert_eq!(paths.locate(&remote("a.txt")).unwrap(), cache.join("a.txt"));
        paths.data_dir = Some(data.clone());
        assert_eq!(
            paths.locate(&remote("a.txt")).unwrap(),
            data.join("other.txt")
        );
    }

    #[test]
    fn offline_with_no_data_says_where_to_put_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = DataPaths::with_cache_dir(dir.path());
        paths.allow_download = false;
        let message = paths.locate(&remote("a.txt")).unwrap_err().to_string();
        assert!(message.contains("Download a.txt"), "{message}");
        assert!(message.contains(&dir.path().display().to_string()));
        assert!(message.contains("TAPEGRAD_DATA"), "{message}");
        assert!(message.contains("--data"), "{message}");
    }

    #[test]
    fn a_failed_download_also_says_where_to_put_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let paths = DataPaths::with_cache_dir(dir.path());
        let error = paths.locate(&remote("a.txt")).unwrap_err();
        assert!(matches!(error, DataError::Download { .. }), "{error}");
        assert!(error.to_string().contains("TAPEGRAD_DATA"), "{error}");
        assert!(!dir.path().join("a.txt").exists());
    }

    #[test]
    fn a_data_dir_that_names_no_directory_is_reported_with_the_variable_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(data_dir_from_env(None), (None, None));
        assert_eq!(data_dir_from_env(Some("".into())), (None, None));
        let (found, complaint) = data_dir_from_env(Some(dir.path().into()));
        assert_eq!((found.as_deref(), complaint), (Some(dir.path()), None));

        let missing = dir.path().join("no-such-dir");
        let (found, complaint) = data_dir_from_env(Some(missing.clone().into()));
        assert_eq!(found, Some(missing.clone()));
        let complaint = complaint.unwrap();
        assert!(
            complaint.starts_with(&format!(
                "TAPEGRAD_DATA={} cannot be used (",
                missing.display()
            )),
            "{complaint}"
        );
        assert!(complaint.contains("looking for data in the cache directory instead"));

        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let complaint = data_dir_from_env(Some(file.into())).1.unwrap();
        assert!(
            complaint.contains("is a file, not a directory"),
            "{complaint}"
        );
    }

    /// A `.part` file whose writer died holds no lock and is removed; one a
    /// live writer holds (here: a lock taken by another open file, as another
    /// process would) stays, and so do files that only look similar.
    #[test]
    fn stale_part_files_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("imdb-0123.bin.999999.part");
        let live = dir.path().join("imdb-4567.bin.999998.part");
        let ours = part_path(&dir.path().join("mine.bin"));
        let others = ["notes.part", "x.bin.12a.part", "imdb.bin"];
        for path in [&stale, &live, &ours] {
            std::fs::write(path, b"half").unwrap();
        }
        for name in others {
            std::fs::write(dir.path().join(name), b"keep").unwrap();
        }
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        assert_eq!(remove_stale_parts(dir.path()), vec![stale.clone()]);
        assert!(!stale.exists() && live.exists() && ours.exists());
        for name in others {
            assert!(dir.path().join(name).exists(), "{name}");
        }
        drop(holder);
        assert_eq!(remove_stale_parts(dir.path()), vec![live.clone()]);
        assert!(remove_stale_parts(&dir.path().join("missing")).is_empty());
    }

    /// A write in progress holds its `.part` file's lock, so a cleaner (another
    /// process opening the cache) leaves it alone.
    #[test]
    fn a_part_file_being_written_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("data.bin");
        let mut part = PartFile::create(&destination).unwrap();
        part.write_all(b"abc").unwrap();
        let other = File::open(part_path(&destination)).unwrap();
        assert!(other.try_lock().is_err(), "the writer holds the lock");
        drop(other);
        part.commit().unwrap();
        assert_eq!(std::fs::read(&destination).unwrap(), b"abc");
        assert!(!part_path(&destination).exists());
    }

    #[test]
    fn atomic_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("f.bin");
        write_atomically(&path, b"abc").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.bin")]);
    }
}

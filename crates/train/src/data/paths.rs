//! Finding the data: an explicit path, a data directory, the cache, or a download.
//!
//! [`DataPaths::locate`] looks, in order, at
//! 1. an explicit path (an example's `--data PATH`): a file or a directory;
//! 2. the directory named by the environment variable [`DATA_DIR_ENV`] (`TAPEGRAD_DATA`);
//! 3. the cache directory, `$XDG_CACHE_HOME/tapegrad` or `~/.cache/tapegrad`;
//!
//! and if none has the file, downloads it into the cache (see
//! [`download`]). Offline, the error says which file to put where.

use std::path::PathBuf;

use tensor::durable::remove_stale_parts;

use super::download::{self, RemoteFile};
use super::DataError;

/// The environment variable naming a directory that holds data files.
pub const DATA_DIR_ENV: &str = "TAPEGRAD_DATA";

/// What to do with the cache of encoded datasets (see [`Imdb::load`](super::imdb::Imdb::load)).
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
}

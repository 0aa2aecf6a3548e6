//! A lock file that keeps two processes from writing into one directory.

use std::fmt;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// An exclusive lock on `<directory>/<name>`, held until dropped.
///
/// The lock is the operating system's (`flock` on Unix), taken on the file,
/// not the file's existence: a process that dies releases it, so a lock file
/// left behind by a killed run never blocks the next one.
#[derive(Debug)]
pub struct DirectoryLock {
    path: PathBuf,
    _file: File,
}

/// Why a [`DirectoryLock`] could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock on this file.
    Held(PathBuf),
    /// The lock file could not be opened or locked.
    Io {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held(path) => write!(f, "another process holds {}", path.display()),
            LockError::Io { path, source } => {
                write!(f, "cannot lock {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

impl DirectoryLock {
    /// Opens (creating if needed) `directory/name` and locks it, without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] if another process holds it, [`LockError::Io`] if
    /// the file cannot be opened or locked.
    pub fn acquire(directory: &Path, name: &str) -> Result<DirectoryLock, LockError> {
        let path = directory.join(name);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(DirectoryLock { path, _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("tapegrad-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirectoryLock::acquire(&dir, ".lock").unwrap();
        let error = DirectoryLock::acquire(&dir, ".lock").unwrap_err();
        assert!(
            matches!(&error, LockError::Held(p) if p == first.path()),
            "{error}"
        );
        drop(first);
        assert!(DirectoryLock::acquire(&dir, ".lock").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

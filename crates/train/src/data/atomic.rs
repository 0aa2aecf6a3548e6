//! Writing a file so that it is never half there: a `.part` file, then a rename.
//!
//! Downloads and dataset caches are written through a [`PartFile`]: filled
//! beside its destination under a temporary name, flushed, then renamed over
//! it. A reader sees the old file or the new one, never half of one; a write
//! that fails deletes its `.part` file, and one whose process was killed is
//! cleaned up by [`remove_stale_parts`] on a later run.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::DataError;

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

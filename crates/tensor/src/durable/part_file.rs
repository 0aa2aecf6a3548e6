//! Writing a file so that it is never half there: a part file, then a rename.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::pause::pause_point;

/// The end of every part file's name (see [`PartFile`]).
const PART_SUFFIX: &str = ".tapegrad.part";

/// `dir/name` -> `dir/.name.<process id>.tapegrad.part`: hidden, unique per
/// process (two programs filling one cache never share a part file), and
/// marked as ours, so that no file of a user's is ever taken for one.
fn part_path(destination: &Path) -> PathBuf {
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    destination.with_file_name(format!(".{name}.{}{PART_SUFFIX}", std::process::id()))
}

/// Whether `name` is a part file's name: `.<name>.<digits>.tapegrad.part`.
pub fn is_part_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(PART_SUFFIX) else {
        return false;
    };
    name.starts_with('.')
        && stem
            .rsplit_once('.')
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// A file being filled beside its destination, to be renamed over it when
/// complete: a reader sees the old file or the new one, never half of one.
///
/// Dropped without [`PartFile::commit`], it deletes itself, so every early
/// return of a failed write cleans up without a line of code. A process that
/// is *killed* runs no `Drop` and leaves its part file behind;
/// [`remove_stale_parts`] removes those. To tell them from a write still
/// going on in another process, a part file holds an exclusive lock from
/// creation until it is renamed: the operating system drops the lock when the
/// process dies, so a part file nobody holds a lock on is a dead write's.
#[derive(Debug)]
pub struct PartFile {
    file: File,
    path: PathBuf,
    destination: PathBuf,
    committed: bool,
}

impl PartFile {
    /// Creates and locks `destination`'s part file.
    ///
    /// # Errors
    /// If the file cannot be created or locked.
    pub fn create(destination: &Path) -> io::Result<PartFile> {
        let path = part_path(destination);
        // A cleaner in another process may see the new file before we lock it
        // and remove it (a window of microseconds). Once locked, it is ours;
        // if it is gone by then, make it again.
        for _ in 0..3 {
            let file = File::create(&path)?;
            file.lock()?;
            if path.exists() {
                return Ok(PartFile {
                    file,
                    path,
                    destination: destination.to_path_buf(),
                    committed: false,
                });
            }
        }
        Err(io::Error::other("the temporary file kept disappearing"))
    }

    /// The part file's own path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    /// If the write fails (a full disk, a file-size limit).
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Flushes the data to disk, then renames the part file to its real name.
    ///
    /// # Errors
    /// If the flush or the rename fails; the part file is removed then.
    pub fn commit(self) -> io::Result<()> {
        self.commit_with(|| {})
    }

    /// [`PartFile::commit`], calling `synced` between the flush and the rename.
    fn commit_with(mut self, synced: impl FnOnce()) -> io::Result<()> {
        self.file.sync_all()?;
        synced();
        fs::rename(&self.path, &self.destination)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` atomically, through a [`PartFile`]: a killed
/// process leaves `path` as it was or complete.
///
/// The stages, in order, are [`pause_point`]s for crash tests, named
/// `"<file name>: <stage>"`: `created` (an empty part file), `half written`,
/// `written`, `synced` (on disk, not yet renamed) and `renamed` (in place,
/// the directory entry not yet flushed).
///
/// # Errors
/// If the part file cannot be written or renamed (it is removed then). The
/// directory must exist.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stage = |what: &str| pause_point(&format!("{name}: {what}"));
    let mut part = PartFile::create(path)?;
    stage("created");
    let (first, second) = bytes.split_at(bytes.len() / 2);
    part.write_all(first)?;
    part.file.flush()?;
    stage("half written");
    part.write_all(second)?;
    stage("written");
    part.commit_with(|| stage("synced"))?;
    stage("renamed");
    // Make the rename itself durable (best effort: not every platform can open a directory).
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(directory) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Removes from `dir` the part files of writes whose process died (see
/// [`PartFile`]): part files that no process holds a lock on, except this
/// process's own. Returns the files removed. Problems (no such directory, a
/// file that vanished meanwhile) are not errors: this is housekeeping.
pub fn remove_stale_parts(dir: &Path) -> Vec<PathBuf> {
    let own = format!(".{}{PART_SUFFIX}", std::process::id());
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_part_file(&name) || name.ends_with(&own) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // Locked by a live writer: WouldBlock, and the file stays.
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary_directory(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tapegrad-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A part file whose writer died holds no lock and is removed; one a
    /// live writer holds (here: a lock taken by another open file, as another
    /// process would) stays, and so do files that only look similar.
    #[test]
    fn stale_part_files_are_removed_and_live_ones_kept() {
        let dir = temporary_directory("stale");
        let stale = dir.join(".imdb-0123.bin.999999.tapegrad.part");
        let live = dir.join(".imdb-4567.bin.999998.tapegrad.part");
        let ours = part_path(&dir.join("mine.bin"));
        let others = [
            "notes.part",
            ".tmp-notes.txt",
            "x.bin.12.part",
            ".x.bin.12a.tapegrad.part",
            "imdb.bin",
        ];
        for path in [&stale, &live, &ours] {
            fs::write(path, b"half").unwrap();
        }
        for name in others {
            fs::write(dir.join(name), b"keep").unwrap();
        }
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        assert_eq!(remove_stale_parts(&dir), vec![stale.clone()]);
        assert!(!stale.exists() && live.exists() && ours.exists());
        for name in others {
            assert!(dir.join(name).exists(), "{name}");
        }
        drop(holder);
        assert_eq!(remove_stale_parts(&dir), vec![live.clone()]);
        assert!(remove_stale_parts(&dir.join("missing")).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A write in progress holds its part file's lock, so a cleaner (another
    /// process opening the cache) leaves it alone; a dropped one is gone.
    #[test]
    fn a_part_file_being_written_is_locked_and_removed_if_not_committed() {
        let dir = temporary_directory("locked");
        let destination = dir.join("data.bin");
        let mut part = PartFile::create(&destination).unwrap();
        part.write_all(b"abc").unwrap();
        let other = File::open(part_path(&destination)).unwrap();
        assert!(other.try_lock().is_err(), "the writer holds the lock");
        drop(other);
        part.commit().unwrap();
        assert_eq!(fs::read(&destination).unwrap(), b"abc");
        assert!(!part_path(&destination).exists());
        drop(PartFile::create(&destination).unwrap());
        assert!(
            !part_path(&destination).exists(),
            "an uncommitted part file removes itself"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_atomic_write_leaves_only_the_file() {
        let dir = temporary_directory("atomic");
        let path = dir.join("f.bin");
        fs::write(&path, b"old").unwrap();
        write_atomically(&path, b"abc").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.bin")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}

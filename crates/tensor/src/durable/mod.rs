//! # Appendix: files that survive a crash
//!
//! A training run writes checkpoints, histories, charts, vocabularies and
//! dataset caches, and any of those writes can be cut short: the process is
//! killed, the machine loses power, the disk fills. The crates above write
//! every file through this module, so that a reader of a file sees either
//! its old version or its new one, never half of one:
//!
//! 1. [`pause`]: the crash-test hook. A test names a moment inside a write
//!    (`"best.safetensors: synced"`) and the program stops there to be
//!    killed, which no timer can hit reliably.
//! 2. [`part_file`]: a [`PartFile`] is filled beside its destination under
//!    a temporary name, flushed, and renamed over it; [`write_atomically`]
//!    does that for a buffer. A part file holds a lock while it is written,
//!    so [`remove_stale_parts`] can tell a dead write's leftovers from a
//!    write still going on in another process.
//! 3. [`lock`]: a [`DirectoryLock`] keeps two runs from writing into one
//!    directory.
//! 4. [`crc`]: [`Crc32`], the checksum a checkpoint stores of its content,
//!    so damage on disk is found when the file is read.
//! 5. [`limits`]: a file-size limit (`ulimit -f`) turned from a signal that
//!    kills the process into a write error that names the file.
//!
//! The tensors' numbers do not depend on any of this: it is the tensor
//! crate's second appendix because it is the one crate every other reaches.

pub mod crc;
pub mod limits;
pub mod lock;
pub mod part_file;
pub mod pause;

pub use crc::Crc32;
pub use limits::report_file_size_limit_as_error;
pub use lock::{DirectoryLock, LockError};
pub use part_file::{is_part_file, remove_stale_parts, write_atomically, PartFile};
pub use pause::{pause_point, PAUSE_AT_ENV};

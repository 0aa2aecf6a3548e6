//! Writing a checkpoint so that a crash never leaves half of one: a
//! temporary file, flushed, then renamed; and the hook crash tests stop at.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The prefix of the temporary files [`write_atomically`] writes beside its target.
pub const TEMPORARY_PREFIX: &str = ".tmp-";

/// The environment variable of the crash-test hook [`pause_point`].
pub const PAUSE_AT_ENV: &str = "TAPEGRAD_PAUSE_AT";

/// A named moment inside a write, where a crash test can stop the process.
///
/// Crash tests need to kill a program *inside* an atomic write (after the
/// temporary file is created, half-way through the bytes, before and after
/// the rename), which no timer can hit reliably. Each such moment calls
/// `pause_point("best.safetensors: synced")`, say, and the environment
/// variable [`PAUSE_AT_ENV`] picks one:
///
/// - unset (always, outside tests): nothing happens; the variable is read once
///   per process, so a call costs one atomic load;
/// - `TAPEGRAD_PAUSE_AT="<point>"` or `"<point>#<n>"`: on the first (or `n`-th)
///   time the process reaches `<point>`, it prints `tapegrad: paused at
///   <point>#<n>` on standard error and sleeps until it is killed;
/// - `TAPEGRAD_PAUSE_AT=list`: every point reached is printed
///   (`tapegrad: point <point>#<n>`) and the program runs on, so a test can
///   learn them all from one run.
///
/// The points are written `"<file name>: <stage>"`, with the stages of
/// [`write_atomically`] (`created`, `half written`, `written`, `synced`,
/// `renamed`). `train`'s dataset cache, which writes its own temporary files,
/// calls it with the same stages.
pub fn pause_point(point: &str) {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Mutex, OnceLock};
    static SPEC: OnceLock<Option<String>> = OnceLock::new();
    static SEEN: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    static ACTIVE: AtomicBool = AtomicBool::new(true);
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let Some(spec) = SPEC.get_or_init(|| std::env::var(PAUSE_AT_ENV).ok()) else {
        ACTIVE.store(false, Ordering::Relaxed);
        return;
    };
    let count = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let count = seen.entry(point.to_string()).or_insert(0);
        *count += 1;
        *count
    };
    let here = format!("{point}#{count}");
    if spec == "list" {
        eprintln!("tapegrad: point {here}");
    } else if *spec == here || (*spec == point && count == 1) {
        eprintln!("tapegrad: paused at {here}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it
/// (`.tmp-<name>-<pid>-<n>`), flushed, then renamed over `path`.
///
/// A process killed at any moment leaves `path` as it was or complete; what it
/// may leave besides is the temporary file, which the next run removes (see
/// `train::trainer::RunDirectory::open`). The stages, in order, are
/// [`pause_point`]s for crash tests: `created` (an empty temporary file),
/// `half written`, `written`, `synced` (on disk, not yet renamed) and
/// `renamed` (in place, the directory entry not yet flushed).
///
/// # Errors
/// If the temporary file cannot be written or renamed (it is removed then).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let directory = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let temporary = directory.join(format!(
        "{TEMPORARY_PREFIX}{file_name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let stage = |name: &str| pause_point(&format!("{file_name}: {name}"));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        stage("created");
        let (first, second) = bytes.split_at(bytes.len() / 2);
        file.write_all(first)?;
        file.flush()?;
        stage("half written");
        file.write_all(second)?;
        stage("written");
        file.sync_all()?;
        stage("synced");
        fs::rename(&temporary, path)?;
        stage("renamed");
        // Make the rename itself durable (best effort: not every platform can open a directory).
        if let Ok(dir) = fs::File::open(&directory) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

//! The crash-test hook: named moments inside a write where a test can stop
//! the process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

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
/// [`write_atomically`](super::write_atomically): `created`, `half written`,
/// `written`, `synced`, `renamed`.
pub fn pause_point(point: &str) {
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

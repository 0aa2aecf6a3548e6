//! Mutation testing for parsers: start from a valid file, damage it in many
//! small ways, and check what the parser makes of each result.
//!
//! This is how SQLite, PyTorch's serialization and the Rust fuzzing community
//! earn trust in a reader: a file on disk can be truncated by a full disk,
//! flipped by bad memory, or edited by a user, and the reader meets all of it.
//! Each mutated input must end in one of two ways:
//!
//! - `Ok` with exactly the original content (the damage did not matter: extra
//!   whitespace, say), or content that the parser's own format check allows;
//! - a clear `Err`;
//!
//! and never in a panic, a hang, or an allocation far larger than the input
//! (a length field edited to 2^60 must not make the reader reserve 2^60 bytes).
//!
//! The mutator is seeded (SplitMix64), so a failure is reproducible from its
//! seed and index; a failing input is also written to disk so it can be kept
//! as a regression file, which [`run`] replays before any new mutation. An
//! allocation too large for the machine aborts the process (there is no
//! panic to catch), so [`Counting`] names the input (seed and index) on
//! standard error before it lets such a request fail.
//!
//! This file is shared by the mutation tests of several crates (each includes
//! it with `#[path]`); it uses only `std`. Every test binary that includes it
//! must install [`Counting`] as its global allocator.

#![allow(dead_code)] // each including test uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SplitMix64: a tiny, good-enough generator whose whole state is one number.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Where a format keeps a length or count, so the mutator can edit it to an
/// extreme value rather than wait for a random flip to hit it.
#[derive(Clone, Copy, Debug)]
pub enum Field {
    /// A little-endian `u64` at this offset.
    LeU64(usize),
    /// A little-endian `u32` at this offset.
    LeU32(usize),
    /// ASCII decimal digits at `start..start + len` (a number in a JSON header).
    Decimal { start: usize, len: usize },
    /// ASCII octal digits at `start..start + len` (a tar header's size).
    Octal { start: usize, len: usize },
}

/// Every run of ASCII digits inside `bytes[range]`, as a [`Field::Decimal`].
pub fn decimal_fields(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut start = None;
    for i in range.clone() {
        let digit = bytes.get(i).is_some_and(u8::is_ascii_digit);
        match (digit, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                fields.push(Field::Decimal {
                    start: s,
                    len: i - s,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        fields.push(Field::Decimal {
            start: s,
            len: range.end - s,
        });
    }
    fields
}

/// A value a careless or hostile writer might put in a length field.
fn extreme(rng: &mut Rng, old: u64) -> u64 {
    match rng.below(12) {
        0 => 0,
        1 => 1,
        2 => old.wrapping_add(1),
        3 => old.wrapping_sub(1),
        4 => old.wrapping_mul(2),
        5 => (1 << 31) - 1,
        6 => 1 << 32,
        7 => (1 << 32) - 1,
        8 => 1 << 60,
        9 => 1 << 63,
        10 => u64::MAX,
        _ => rng.next_u64() >> rng.below(64),
    }
}

fn edit_field(rng: &mut Rng, out: &mut Vec<u8>, field: Field) -> String {
    match field {
        Field::LeU64(at) if at + 8 <= out.len() => {
            let old = u64::from_le_bytes(out[at..at + 8].try_into().unwrap());
            let new = extreme(rng, old);
            out[at..at + 8].copy_from_slice(&new.to_le_bytes());
            format!("u64 at {at}: {old} -> {new}")
        }
        Field::LeU32(at) if at + 4 <= out.len() => {
            let old = u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
            let new = extreme(rng, u64::from(old)) as u32;
            out[at..at + 4].copy_from_slice(&new.to_le_bytes());
            format!("u32 at {at}: {old} -> {new}")
        }
        Field::Decimal { start, len } if start + len <= out.len() => {
            let old = String::from_utf8_lossy(&out[start..start + len]).into_owned();
            let new = extreme(rng, old.parse().unwrap_or(0)).to_string();
            out.splice(start..start + len, new.bytes());
            format!("number at {start}: {old} -> {new}")
        }
        Field::Octal { start, len } if start + len <= out.len() => {
            // Same width, so the rest of the header stays in place.
            let new = extreme(rng, 0) & ((1u64 << (3 * (len as u32 - 1))) - 1);
            let text = format!("{new:0width$o}\0", width = len - 1);
            out[start..start + len].copy_from_slice(text.as_bytes());
            format!("octal at {start}: -> {new}")
        }
        _ => "field outside a truncated input: no change".to_string(),
    }
}

/// One random damage to `input`, and a description of it.
///
/// Truncation, a flipped bit, a replaced byte, a length field set to an
/// extreme value (one of `fields`, or any aligned word if none is given),
/// inserted bytes, a deleted range, and a range copied over another place.
pub fn mutate(rng: &mut Rng, input: &[u8], fields: &[Field]) -> (Vec<u8>, String) {
    let mut out = input.to_vec();
    let len = input.len().max(1);
    let what = match rng.below(8) {
        0 => {
            let at = rng.below(len);
            out.truncate(at);
            format!("truncated to {at} bytes")
        }
        1 => {
            let (at, bit) = (rng.below(len), rng.below(8));
            if let Some(byte) = out.get_mut(at) {
                *byte ^= 1 << bit;
            }
            format!("bit {bit} of byte {at} flipped")
        }
        2 => {
            let (at, value) = (rng.below(len), rng.next_u64() as u8);
            if let Some(byte) = out.get_mut(at) {
                *byte = value;
            }
            format!("byte {at} set to {value:#04x}")
        }
        3 | 4 => {
            let field = if fields.is_empty() {
                let at = rng.below(len) & !3;
                if rng.below(2) == 0 {
                    Field::LeU32(at)
                } else {
                    Field::LeU64(at & !7)
                }
            } else {
                fields[rng.below(fields.len())]
            };
            edit_field(rng, &mut out, field)
        }
        5 => {
            let at = rng.below(len + 1).min(out.len());
            let count = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.next_u64() as u8).collect();
            out.splice(at..at, bytes);
            format!("{count} random bytes inserted at {at}")
        }
        6 => {
            let at = rng.below(len).min(out.len());
            let count = (1 + rng.below(64)).min(out.len() - at);
            out.drain(at..at + count);
            format!("{count} bytes deleted at {at}")
        }
        _ => {
            let from = rng.below(len).min(out.len());
            let count = (1 + rng.below(64)).min(out.len() - from);
            let to = rng.below(len).min(out.len());
            let piece = out[from..from + count].to_vec();
            let end = (to + count).min(out.len());
            out.splice(to..end, piece);
            format!("{count} bytes from {from} copied over {to}")
        }
    };
    (out, what)
}

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// The input being checked on this thread, as `"<parser>, seed S input I (...)"`.
    static CURRENT: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Requests above this are refused (and so abort the process) after naming
/// the input being checked: no parse of a few kilobytes needs 16 GiB.
const HUGE: usize = 1 << 34;

/// Says on standard error which input asked for `bytes` bytes.
fn report_huge(bytes: usize) {
    use std::io::Write as _;
    let (ptr, len) = CURRENT.with(Cell::get);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"mutation test: ");
    if !ptr.is_null() {
        // SAFETY: `check_one` set this to a live `String`'s bytes for the
        // duration of the check, on this thread, and clears it afterwards.
        let _ = err.write_all(unsafe { std::slice::from_raw_parts(ptr, len) });
    }
    let _ = writeln!(
        err,
        ": the parser asked for {bytes} bytes at once; refused, so the process aborts"
    );
}

/// A global allocator that counts, per thread, the bytes live and their peak,
/// so [`peak_allocation`] can measure one parse while other tests run.
pub struct Counting;

fn grew(bytes: usize) {
    LIVE.with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        PEAK.with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    LIVE.with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded unchanged to the system allocator, except
// requests over `HUGE`, which fail (null) as an allocator may; the thread-local
// counters (const-initialized, without destructors) only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HUGE {
            report_huge(layout.size());
            return std::ptr::null_mut();
        }
        grew(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HUGE {
            report_huge(layout.size());
            return std::ptr::null_mut();
        }
        grew(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HUGE {
            report_huge(new_size);
            return std::ptr::null_mut();
        }
        grew(new_size);
        shrank(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

/// Runs `f` and returns its result and the most bytes it had allocated at
/// once on this thread (above what was live when it started).
pub fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let result = f();
    let peak = PEAK.with(Cell::get);
    (result, peak - start)
}

/// What a parser made of one input, as judged by a test's check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Parsed, with exactly the original content.
    Same,
    /// Parsed, with other content that the format cannot tell from the
    /// original (the check says why that is allowed, e.g. a text file with
    /// one word changed, which is another valid vocabulary).
    Changed,
    /// Refused with a clear error.
    Rejected,
}

/// The tally of one parser's mutation run.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs tried (regression files included).
    pub inputs: usize,
    /// Parsed with the original content.
    pub same: usize,
    /// Parsed with other, valid content.
    pub changed: usize,
    /// Refused with an error.
    pub rejected: usize,
    /// The most bytes one parse allocated at once.
    pub max_allocation: usize,
    /// The slowest parse.
    pub slowest: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} inputs: {} parsed unchanged, {} parsed as other valid content, {} rejected; \
             no panic; at most {} bytes allocated at once; slowest {:.2} ms",
            self.inputs,
            self.same,
            self.changed,
            self.rejected,
            self.max_allocation,
            self.slowest.as_secs_f64() * 1e3
        )
    }
}

/// How a parse may behave, and where failing inputs go.
pub struct Limits {
    /// The most bytes one parse may allocate at once: `per_byte * input + fixed`.
    pub per_byte: usize,
    /// See `per_byte`.
    pub fixed: usize,
    /// The longest one parse may take before it counts as a hang.
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            per_byte: 16,
            fixed: 1 << 20,
            time: Duration::from_secs(2),
        }
    }
}

/// Where a failing input is written: `target/mutation-failures/` of the
/// workspace holding `manifest_dir`.
fn failure_dir(manifest_dir: &Path) -> PathBuf {
    let root = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(manifest_dir);
    root.join("target").join("mutation-failures")
}

/// Checks one input: no panic, no `Err` from `check` (a broken property), no
/// allocation or time over `limits`. On failure, writes the input to disk and
/// panics with everything needed to reproduce it.
fn check_one(
    name: &str,
    label: &str,
    input: &[u8],
    limits: &Limits,
    manifest_dir: &Path,
    check: &dyn Fn(&[u8]) -> Result<Verdict, String>,
    report: &mut Report,
) {
    let started = Instant::now();
    let tagged = format!("{name}, {label}");
    CURRENT.with(|current| current.set((tagged.as_ptr(), tagged.len())));
    let (outcome, allocated) = peak_allocation(|| catch_unwind(AssertUnwindSafe(|| check(input))));
    CURRENT.with(|current| current.set((std::ptr::null(), 0)));
    let elapsed = started.elapsed();
    let limit = limits.per_byte * input.len() + limits.fixed;
    let problem = match &outcome {
        Err(_) => Some("the parser panicked (message above)".to_string()),
        Ok(Err(broken)) => Some(broken.clone()),
        Ok(Ok(_)) if allocated > limit => Some(format!(
            "the parse allocated {allocated} bytes at once for a {}-byte input (limit {limit})",
            input.len()
        )),
        Ok(Ok(_)) if elapsed > limits.time => Some(format!("the parse took {elapsed:?} (a hang?)")),
        Ok(Ok(_)) => None,
    };
    if let Some(problem) = problem {
        let file = failure_dir(manifest_dir)
            .join(format!("{name}-{}.bin", label.replace([' ', '/'], "_")));
        let _ = std::fs::write(&file, input);
        panic!(
            "{name}, {label}: {problem}\nthe input is in {} \
             (keep it under tests/regressions/{name}/ once fixed)",
            file.display()
        );
    }
    report.inputs += 1;
    report.max_allocation = report.max_allocation.max(allocated);
    report.slowest = report.slowest.max(elapsed);
    match outcome {
        Ok(Ok(Verdict::Same)) => report.same += 1,
        Ok(Ok(Verdict::Changed)) => report.changed += 1,
        _ => report.rejected += 1,
    }
}

/// Replays every kept regression input of parser `name`
/// (`tests/regressions/<name>/*` of the workspace), then checks `count`
/// mutations of `base` made with `seed`.
///
/// # Panics
/// On the first input that breaks a rule (see [`check_one`]).
#[allow(clippy::too_many_arguments)]
pub fn run(
    name: &str,
    manifest_dir: &Path,
    base: &[u8],
    fields: &[Field],
    count: usize,
    seed: u64,
    limits: &Limits,
    check: &dyn Fn(&[u8]) -> Result<Verdict, String>,
) -> Report {
    let mut report = Report::default();
    let _ = std::fs::create_dir_all(failure_dir(manifest_dir));
    let root = manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(manifest_dir);
    let kept = root.join("tests").join("regressions").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&kept)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for file in files {
        let input = std::fs::read(&file).unwrap();
        let label = format!("regression file {}", file.display());
        check_one(
            name,
            &label,
            &input,
            limits,
            manifest_dir,
            check,
            &mut report,
        );
    }
    // The unchanged input must parse as itself.
    assert_eq!(
        check(base),
        Ok(Verdict::Same),
        "{name}: the valid base input does not parse as itself"
    );
    let mut rng = Rng::new(seed);
    let mut label = String::new();
    for index in 0..count {
        let (input, what) = mutate(&mut rng, base, fields);
        label.clear();
        let _ = write!(label, "seed {seed} input {index} ({what})");
        check_one(
            name,
            &label,
            &input,
            limits,
            manifest_dir,
            check,
            &mut report,
        );
    }
    report
}

//! The checks: each exercise's function against the library, finite
//! differences and PyTorch, on cases from small to large, stopping at the
//! first that fails.
//!
//! A check takes the function to check and returns what it checked
//! (`Ok`) or the first failing case (`Err`). [`run`] also catches a
//! panic: `todo!()` means the exercise is not done yet; any other panic
//! (a shape mismatch in the reader's code, say) is reported as wrong, with
//! its message and without a backtrace.

pub mod autograd;
pub mod nn;
pub mod tensor;
pub mod train;

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Once;

use ::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What a check found: what it checked, or the first case that failed.
pub type CheckResult = Result<String, String>;

/// An exercise's state.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every case passed; what was checked.
    Passed(String),
    /// The function still says `todo!()`.
    NotYet,
    /// The first failing case, or the panic's message.
    Wrong(String),
}

thread_local! {
    /// Whether this thread is running a check (its panics are the check's to report).
    static INSIDE_A_CHECK: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once, a panic hook that stays silent on a thread running a
/// check and prints as before everywhere else (a failing test beside a
/// check keeps its message).
fn silence_panics_inside_checks() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !INSIDE_A_CHECK.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs a check, its panics caught and not printed (`todo!()` is
/// [`Outcome::NotYet`]; any other panic is [`Outcome::Wrong`], with its message).
pub fn run(check: impl FnOnce() -> CheckResult) -> Outcome {
    silence_panics_inside_checks();
    INSIDE_A_CHECK.with(|inside| inside.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(check));
    INSIDE_A_CHECK.with(|inside| inside.set(false));
    match result {
        Ok(Ok(checked)) => Outcome::Passed(checked),
        Ok(Err(case)) => Outcome::Wrong(case),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            if message.starts_with("not yet implemented") {
                Outcome::NotYet
            } else {
                Outcome::Wrong(format!("panicked: {message}"))
            }
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => (*text).to_string(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".to_string(),
    }
}

/// The seeded generator of every check's cases.
pub fn cases_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A tensor of normal values.
pub fn normal(shape: &[usize], rng: &mut StdRng) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, rng)
}

/// A random shape of `1..=max_axes` axes, each of size `1..=max_size`.
pub fn random_shape(rng: &mut StdRng, max_axes: usize, max_size: usize) -> Vec<usize> {
    let axes = rng.gen_range(1..=max_axes);
    (0..axes).map(|_| rng.gen_range(1..=max_size)).collect()
}

/// Compares `got` with `expected` element by element: an element passes
/// when `|got - expected| <= tolerance * (1 + |expected|)`. Returns the
/// largest difference, or names the first element that fails.
///
/// # Errors
/// The shapes differ, or an element is off; the message says which (`what`
/// names the quantity) with both values.
pub fn compare(
    what: &str,
    got: &Tensor<f64>,
    expected: &Tensor<f64>,
    tolerance: f64,
) -> Result<f64, String> {
    if got.shape() != expected.shape() {
        return Err(format!(
            "{what} has shape {:?}, expected {:?}",
            got.shape(),
            expected.shape()
        ));
    }
    let (got_values, expected_values) = (got.to_vec(), expected.to_vec());
    let mut worst: f64 = 0.0;
    for (j, (g, e)) in got_values.iter().zip(&expected_values).enumerate() {
        let difference = (g - e).abs();
        let close = difference <= tolerance * (1.0 + e.abs()); // false for NaN
        if !close {
            return Err(format!(
                "{what}: element {:?} is {g}, expected {e} (difference {difference:.3e})",
                unravel(j, expected.shape())
            ));
        }
        worst = worst.max(difference);
    }
    Ok(worst)
}

/// The index of the `j`-th element, in row-major order, of a tensor of `shape`.
pub fn unravel(mut j: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        index[axis] = j % shape[axis];
        j /= shape[axis];
    }
    index
}

/// How close a comparison came: "bit for bit", or the largest difference.
pub fn closeness(worst: f64) -> String {
    if worst == 0.0 {
        "bit for bit".to_string()
    } else {
        format!("largest difference {worst:.1e}")
    }
}

/// A file of the project's PyTorch fixtures (`tests/fixtures/`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

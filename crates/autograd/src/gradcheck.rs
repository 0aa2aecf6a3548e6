//! Checking gradients against finite differences.
//!
//! For a function `f` of some input tensors, the analytic gradient from
//! [`Tape::backward`] must match the central difference
//!
//! ```text
//! dL/dx_j  ≈  (L(x + ε e_j) - L(x - ε e_j)) / (2ε)        error O(ε²)
//! ```
//!
//! computed in `f64`, where rounding error (about `1e-16 / ε`) stays far below
//! the tolerances. A non-scalar output is turned into a scalar by a fixed random
//! projection `L = sum(f(x) * R)`, which checks the whole Jacobian, not one row.
//! Small inputs are checked element by element; large ones along random
//! directions `v` (`dL/dx · v` against the difference along `v`).
//!
//! `gradcheck` is public so a learner can check an op of their own:
//!
//! ```
//! use autograd::{gradcheck, GradcheckOptions};
//! use tensor::Tensor;
//!
//! let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3]);
//! let report = gradcheck(|_, v| v[0].tanh().mul(&v[0]), &[x], &GradcheckOptions::default()).unwrap();
//! assert!(report.worst.unwrap().abs_error < 1e-8);
//! ```

use std::fmt;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Tensor;

use crate::tape::Tape;
use crate::var::Var;

/// Step size and tolerances for [`gradcheck`].
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// The finite-difference step `ε`.
    pub epsilon: f64,
    /// Absolute tolerance: an element passes if `|analytic - numeric| <= atol + rtol * |numeric|`.
    pub atol: f64,
    /// Relative tolerance (see `atol`).
    pub rtol: f64,
    /// Inputs with at most this many elements are checked element by element;
    /// larger ones along `projections` random directions.
    pub max_elements: usize,
    /// How many random directions to check for a large input.
    pub projections: usize,
    /// Seed for the output projection and the random directions.
    pub seed: u64,
    /// Run `f` on training tapes seeded with this (dropout active, and the
    /// same masks at every evaluation), instead of evaluation tapes.
    pub training_seed: Option<u64>,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            epsilon: 1e-6,
            atol: 1e-6,
            rtol: 1e-5,
            max_elements: 256,
            projections: 16,
            seed: 0,
            training_seed: None,
        }
    }
}

/// One compared derivative.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementCheck {
    /// Which input (position in the `inputs` slice).
    pub input: usize,
    /// The element's index in that input, or `None` for a random-direction check.
    pub index: Option<Vec<usize>>,
    /// The input's value at that element (`None` for a direction).
    pub value: Option<f64>,
    /// The derivative from `backward`.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
    /// `|analytic - numeric|`.
    pub abs_error: f64,
    /// `|analytic - numeric| / max(|analytic|, |numeric|)` (0 when both are 0).
    pub rel_error: f64,
}

/// The outcome of a [`gradcheck`]: how many derivatives were compared and the worst one.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// Number of derivatives compared.
    pub checked: usize,
    /// The derivative that came closest to (or went furthest past) the tolerance.
    pub worst: Option<ElementCheck>,
    /// Whether every derivative was within tolerance.
    pub passed: bool,
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck {} ({} derivatives)",
            if self.passed { "passed" } else { "FAILED" },
            self.checked
        )?;
        if let Some(w) = &self.worst {
            let place = match &w.index {
                Some(index) => format!(
                    "element {index:?} (value {:.6e})",
                    w.value.unwrap_or(f64::NAN)
                ),
                None => "a random direction".to_string(),
            };
            write!(
                f,
                "; worst: input {} at {place}: analytic {:.9e}, numeric {:.9e}, abs error {:.3e}, rel error {:.3e}",
                w.input, w.analytic, w.numeric, w.abs_error, w.rel_error
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for GradcheckReport {}

/// Compares the gradients `backward` gives for `f` at `inputs` with central
/// finite differences. `f` receives a tape and one var per input, and returns
/// the output var (any shape).
///
/// Returns `Ok(report)` if every derivative is within tolerance, `Err(report)`
/// naming the worst element otherwise.
///
/// # Panics
/// If `f` panics, or the analytic backward fails (its error is in the message).
pub fn gradcheck(
    f: impl Fn(&Tape<f64>, &[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckReport> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let (training, training_seed) = match options.training_seed {
        Some(seed) => (true, seed),
        None => (false, 0),
    };
    let new_tape = |recording: bool| Tape::with_mode(recording, training, training_seed);

    // Analytic: one backward pass, seeded with a random projection R of the output.
    let tape = new_tape(true);
    let vars: Vec<Var<f64>> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let output = f(&tape, &vars);
    let projection = Tensor::<f64>::rand_normal(output.shape(), 0.0, 1.0, &mut rng);
    let grads = tape
        .backward_with(&output, projection.clone())
        .unwrap_or_else(|e| panic!("gradcheck: {e}"));
    let analytic: Vec<Vec<f64>> = vars
        .iter()
        .map(|v| {
            grads
                .get(v)
                .map_or_else(|| vec![0.0; v.value().numel()], Tensor::to_vec)
        })
        .collect();

    // Numeric: the projected output L(x) = sum(f(x) * R), evaluated without recording.
    let loss_at = |values: &[Tensor<f64>]| -> f64 {
        let tape = new_tape(false);
        let vars: Vec<Var<f64>> = values.iter().map(|x| tape.constant(x.clone())).collect();
        f(&tape, &vars).value().mul(&projection).sum().item()
    };
    let mut tally = Tally::new(options);
    for (input, gradient) in analytic.iter().enumerate() {
        let probe = Probe {
            inputs,
            input,
            gradient,
            epsilon: options.epsilon,
        };
        if inputs[input].numel() <= options.max_elements {
            probe.each_element(&loss_at, &mut tally);
        } else {
            for _ in 0..options.projections {
                probe.random_direction(&loss_at, &mut rng, &mut tally);
            }
        }
    }
    tally.finish()
}

/// The gradient of a scalar function by central differences: element `j` is
/// `(L(x + ε e_j) - L(x - ε e_j)) / 2ε`, two evaluations of `loss` per element.
/// Its error is `O(ε²)` (the `ε²` terms of the two Taylor series cancel),
/// against `O(ε)` for the one-sided `(L(x + ε e_j) - L(x)) / ε`.
///
/// ```
/// use autograd::gradcheck::numeric_gradient;
/// use tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0, -2.0], &[2]);
/// let slope = numeric_gradient(|x| x.square().sum().item(), &x, 1e-6); // d(x²)/dx = 2x
/// assert!((slope.to_vec()[0] - 2.0).abs() < 1e-8 && (slope.to_vec()[1] + 4.0).abs() < 1e-8);
/// ```
pub fn numeric_gradient(
    mut loss: impl FnMut(&Tensor<f64>) -> f64,
    x: &Tensor<f64>,
    epsilon: f64,
) -> Tensor<f64> {
    let base = x.contiguous().to_vec();
    let mut at = |j: usize, sign: f64| {
        let mut shifted = base.clone();
        shifted[j] = base[j] + sign * epsilon;
        loss(&Tensor::from_vec(shifted, x.shape()))
    };
    let slopes = (0..base.len())
        .map(|j| (at(j, 1.0) - at(j, -1.0)) / (2.0 * epsilon))
        .collect();
    Tensor::from_vec(slopes, x.shape())
}

/// One input's analytic gradient, compared with central differences of the
/// projected loss `loss_at` around the inputs' values.
struct Probe<'a> {
    inputs: &'a [Tensor<f64>],
    input: usize,
    gradient: &'a [f64],
    epsilon: f64,
}

impl Probe<'_> {
    /// `(L(x + ε d) - L(x - ε d)) / 2ε`, the input's values moved by `moved(±1)`.
    fn central_difference(
        &self,
        loss_at: &dyn Fn(&[Tensor<f64>]) -> f64,
        moved: impl Fn(f64) -> Vec<f64>,
    ) -> f64 {
        let shape = self.inputs[self.input].shape();
        let mut values = self.inputs.to_vec();
        values[self.input] = Tensor::from_vec(moved(1.0), shape);
        let plus = loss_at(&values);
        values[self.input] = Tensor::from_vec(moved(-1.0), shape);
        let minus = loss_at(&values);
        (plus - minus) / (2.0 * self.epsilon)
    }

    /// Every element `j`: `dL/dx_j` against the difference along `e_j`.
    fn each_element(&self, loss_at: &dyn Fn(&[Tensor<f64>]) -> f64, tally: &mut Tally) {
        let x = &self.inputs[self.input];
        let mut values = self.inputs.to_vec();
        let loss_of_this_input = |moved: &Tensor<f64>| {
            values[self.input] = moved.clone();
            loss_at(&values)
        };
        let numeric = numeric_gradient(loss_of_this_input, x, self.epsilon).to_vec();
        let base = x.contiguous().to_vec();
        for (j, numeric) in numeric.into_iter().enumerate() {
            let index = Some(unravel(j, x.shape()));
            tally.consider(element_check(
                self.input,
                index,
                Some(base[j]),
                self.gradient[j],
                numeric,
            ));
        }
    }

    /// One random unit direction `v`: `dL/dx · v` against the difference along `v`.
    fn random_direction(
        &self,
        loss_at: &dyn Fn(&[Tensor<f64>]) -> f64,
        rng: &mut StdRng,
        tally: &mut Tally,
    ) {
        let x = &self.inputs[self.input];
        let base = x.contiguous().to_vec();
        let direction = Tensor::<f64>::rand_normal(x.shape(), 0.0, 1.0, rng).to_vec();
        let norm = direction.iter().map(|d| d * d).sum::<f64>().sqrt();
        let numeric = self.central_difference(loss_at, |sign| {
            base.iter()
                .zip(&direction)
                .map(|(b, d)| b + sign * self.epsilon * d / norm)
                .collect()
        });
        let analytic = self
            .gradient
            .iter()
            .zip(&direction)
            .map(|(g, d)| g * d / norm)
            .sum();
        tally.consider(element_check(self.input, None, None, analytic, numeric));
    }
}

/// The report being built: every derivative compared against the tolerance,
/// and the one closest to (or furthest past) it.
struct Tally {
    atol: f64,
    rtol: f64,
    report: GradcheckReport,
    worst_ratio: f64,
}

impl Tally {
    fn new(options: &GradcheckOptions) -> Tally {
        Tally {
            atol: options.atol,
            rtol: options.rtol,
            report: GradcheckReport {
                checked: 0,
                worst: None,
                passed: true,
            },
            worst_ratio: -1.0,
        }
    }

    fn consider(&mut self, check: ElementCheck) {
        let allowed = self.atol + self.rtol * check.numeric.abs();
        let ratio = if check.abs_error.is_nan() {
            f64::INFINITY
        } else {
            check.abs_error / allowed
        };
        self.report.checked += 1;
        if ratio > 1.0 {
            self.report.passed = false;
        }
        if ratio > self.worst_ratio {
            self.worst_ratio = ratio;
            self.report.worst = Some(check);
        }
    }

    fn finish(self) -> Result<GradcheckReport, GradcheckReport> {
        if self.report.passed {
            Ok(self.report)
        } else {
            Err(self.report)
        }
    }
}

fn element_check(
    input: usize,
    index: Option<Vec<usize>>,
    value: Option<f64>,
    analytic: f64,
    numeric: f64,
) -> ElementCheck {
    let abs_error = (analytic - numeric).abs();
    let scale = analytic.abs().max(numeric.abs());
    let rel_error = if scale == 0.0 { 0.0 } else { abs_error / scale };
    ElementCheck {
        input,
        index,
        value,
        analytic,
        numeric,
        abs_error,
        rel_error,
    }
}

/// The multi-index of row-major position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        index[axis] = flat % shape[axis];
        flat /= shape[axis];
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_backward_rule_is_caught_and_named() {
        // y = x^2 recorded with the wrong rule dL/dx = g * x (missing the factor 2).
        let wrong_square = |tape: &Tape<f64>, v: &[Var<f64>]| {
            let x = v[0].value().clone();
            tape.record("wrong_square", x.square(), &[&v[0]], vec![x], |input| {
                smallvec::smallvec![crate::gradients::full(
                    input.grad_output.mul(&input.saved[0])
                )]
            })
        };
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]);
        let report = gradcheck(wrong_square, &[x], &GradcheckOptions::default()).unwrap_err();
        assert!(!report.passed);
        assert!(report.to_string().contains("FAILED"));
        let worst = report.worst.unwrap();
        assert!(worst.rel_error > 0.4, "{worst:?}");
    }

    #[test]
    fn large_inputs_are_checked_along_random_directions() {
        let x = Tensor::<f64>::rand_normal(&[40, 10], 0.0, 1.0, &mut StdRng::seed_from_u64(3));
        let options = GradcheckOptions {
            max_elements: 100,
            projections: 5,
            ..Default::default()
        };
        let report = gradcheck(|_, v| v[0].sigmoid(), &[x], &options).unwrap();
        assert_eq!(report.checked, 5);
        assert!(report.worst.unwrap().index.is_none());
    }
}

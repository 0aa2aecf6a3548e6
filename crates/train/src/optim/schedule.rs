//! Learning-rate schedules: the learning rate as a function of training progress.
//!
//! A large step early moves the weights quickly; a small step late lets
//! them settle into a minimum instead of bouncing around it. A schedule
//! multiplies the optimizer's base rate `lr₀` by a factor that depends on
//! how far training is, `p = step / total_steps` (0 at the first update):
//!
//! - [`LrShape::Constant`]: `lr = lr₀`;
//! - [`LrShape::Linear`]: `lr = lr₀ (1 - (1 - f) p)`, a straight line
//!   from `lr₀` down to `f lr₀` (PyTorch's `LinearLR`, Keras'
//!   `PolynomialDecay` with power 1);
//! - [`LrShape::Cosine`]: `lr = lr₀ (f + (1 - f) (1 + cos πp) / 2)`,
//!   flat at both ends and steep in the middle (PyTorch's
//!   `CosineAnnealingLR`, Keras' `CosineDecay` with `alpha = f`);
//! - [`LrShape::Step`]: `lr = lr₀ γ^⌊epoch / n⌋`, multiplied by `γ` every
//!   `n` epochs (PyTorch's `StepLR` stepped once per epoch).
//!
//! A **warm-up** of `W` updates comes first when asked: the factor climbs
//! in a straight line from `s` at the first update to 1 at update `W`
//! (PyTorch's `LinearLR(start_factor=s, total_iters=W)`), and the shape
//! then runs over the remaining updates (`SequentialLR` with a milestone
//! at `W`; the step shape keeps counting epochs from the start).
//!
//! [`ReduceOnPlateau`] lowers the rate when the monitored figure stops
//! improving; its factor is a function of the figures so far, so a resumed
//! run computes the same one.
//!
//! The [`Trainer`](crate::trainer::Trainer) sets the rate before every
//! update from the epoch, the step and the history alone, so a resumed run
//! follows the same curve as an uninterrupted one.

/// The shape of the learning rate over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LrShape {
    /// The base rate throughout
    #[default]
    Constant,
    /// A straight line from the base rate down to the final factor times it
    Linear,
    /// Half a cosine from the base rate down to the final factor times it
    Cosine,
    /// Multiplied by gamma every few epochs (step decay)
    Step,
}

crate::text_as_choice!(LrShape);

/// How the learning rate changes over a run, as a factor of the base rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    /// The curve.
    pub shape: LrShape,
    /// The factor at the end of the run, in `[0, 1]` (linear and cosine).
    pub final_factor: f64,
    /// Updates of linear warm-up before the curve (0: none).
    pub warmup_steps: usize,
    /// The warm-up's factor at the first update, in `(0, 1]`.
    pub warmup_start: f64,
    /// The step shape's period, in epochs.
    pub step_epochs: usize,
    /// The step shape's factor per period, in `(0, 1]`.
    pub gamma: f64,
}

impl Default for LrSchedule {
    fn default() -> Self {
        LrSchedule::new(LrShape::Constant, 0.0)
    }
}

impl LrSchedule {
    /// A schedule of `shape` ending at `final_factor` times the base rate,
    /// with no warm-up; the step shape halves the rate every epoch.
    pub fn new(shape: LrShape, final_factor: f64) -> Self {
        LrSchedule {
            shape,
            final_factor,
            warmup_steps: 0,
            warmup_start: 0.1,
            step_epochs: 1,
            gamma: 0.5,
        }
    }

    /// The factor for update `step` (from 0) of `total_steps`, in epoch
    /// `epoch` (from 0).
    ///
    /// ```
    /// use train::optim::{LrSchedule, LrShape};
    ///
    /// let linear = LrSchedule::new(LrShape::Linear, 0.0);
    /// assert_eq!(linear.factor(0, 100, 0), 1.0);
    /// assert_eq!(linear.factor(50, 100, 0), 0.5);
    /// let cosine = LrSchedule::new(LrShape::Cosine, 0.0);
    /// assert!((cosine.factor(50, 100, 0) - 0.5).abs() < 1e-12);
    /// let warmed = LrSchedule { warmup_steps: 10, warmup_start: 0.1, ..cosine };
    /// assert!((warmed.factor(5, 100, 0) - 0.55).abs() < 1e-12); // halfway up
    /// let step = LrSchedule { step_epochs: 2, gamma: 0.1, ..LrSchedule::new(LrShape::Step, 0.0) };
    /// assert!((step.factor(99, 100, 3) - 0.1).abs() < 1e-12); // epochs 2 and 3
    /// ```
    pub fn factor(self, step: usize, total_steps: usize, epoch: usize) -> f64 {
        let warmup = self.warmup_steps;
        if step < warmup {
            let s = self.warmup_start;
            return s + (1.0 - s) * step as f64 / warmup as f64;
        }
        let (step, total_steps) = (step - warmup, total_steps.saturating_sub(warmup));
        let progress = if total_steps == 0 {
            0.0
        } else {
            (step as f64 / total_steps as f64).min(1.0)
        };
        let f = self.final_factor;
        match self.shape {
            LrShape::Constant => 1.0,
            LrShape::Linear => 1.0 - (1.0 - f) * progress,
            LrShape::Cosine => {
                let half_cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                f + (1.0 - f) * half_cosine
            }
            LrShape::Step => {
                let periods = epoch / self.step_epochs.max(1);
                self.gamma.powi(periods.min(i32::MAX as usize) as i32)
            }
        }
    }

    /// Checks that the final factor is in `[0, 1]`, the warm-up's start and
    /// gamma in `(0, 1]`, and the step period at least one epoch.
    ///
    /// # Errors
    /// Names the schedule and the value out of range.
    pub fn validate(self) -> Result<(), String> {
        let f = self.final_factor;
        let linear_or_cosine = matches!(self.shape, LrShape::Linear | LrShape::Cosine);
        if linear_or_cosine && !(0.0..=1.0).contains(&f) {
            return Err(format!(
                "the {} schedule's final_factor must be in [0, 1], got {f}",
                self.shape
            ));
        }
        let in_unit = |x: f64| x > 0.0 && x <= 1.0;
        if self.warmup_steps > 0 && !in_unit(self.warmup_start) {
            return Err(format!(
                "the warm-up's start factor must be in (0, 1], got {}",
                self.warmup_start
            ));
        }
        if self.shape == LrShape::Step && !(in_unit(self.gamma) && self.step_epochs > 0) {
            return Err(format!(
                "the step schedule needs gamma in (0, 1] and a period of at least one epoch, \
                 got gamma {} every {} epochs",
                self.gamma, self.step_epochs
            ));
        }
        Ok(())
    }
}

/// Lowers the learning rate when the monitored figure has not improved for
/// `patience` epochs (PyTorch's `ReduceLROnPlateau`, relative threshold, no
/// cooldown; Keras' `ReduceLROnPlateau`): after each epoch, a figure better
/// than the best so far by more than `threshold` of it resets the count;
/// otherwise the count grows, and when it passes `patience` the rate is
/// multiplied by `factor` (not below `min_factor` times the base rate) and
/// the count starts again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceOnPlateau {
    /// The multiplier applied at each reduction, in `(0, 1)`.
    pub factor: f64,
    /// Epochs without improvement tolerated before a reduction.
    pub patience: usize,
    /// The relative margin an improvement needs (PyTorch's default 1e-4).
    pub threshold: f64,
    /// The lowest factor the rate may fall to.
    pub min_factor: f64,
}

impl ReduceOnPlateau {
    /// Reductions by `factor` after `patience` epochs without improvement,
    /// with PyTorch's threshold (1e-4) and no floor.
    pub fn new(factor: f64, patience: usize) -> Self {
        ReduceOnPlateau {
            factor,
            patience,
            threshold: 1e-4,
            min_factor: 0.0,
        }
    }

    /// The factor on the rate after the epochs whose monitored figures are
    /// `figures`, lower being better (`lower_is_better`, a loss) or higher
    /// (an accuracy).
    ///
    /// ```
    /// use train::optim::ReduceOnPlateau;
    ///
    /// let plateau = ReduceOnPlateau::new(0.5, 1);
    /// // Two epochs without a better loss pass a patience of 1: halved once.
    /// assert_eq!(plateau.factor(&[1.0, 0.8, 0.9, 0.85], true), 0.5);
    /// ```
    pub fn factor(&self, figures: &[f64], lower_is_better: bool) -> f64 {
        let (mut best, mut bad_epochs, mut factor) = (None::<f64>, 0, 1.0);
        for &figure in figures {
            let better = best.is_none_or(|best| match lower_is_better {
                true => figure < best * (1.0 - self.threshold),
                false => figure > best * (1.0 + self.threshold),
            });
            if better {
                (best, bad_epochs) = (Some(figure), 0);
            } else {
                bad_epochs += 1;
            }
            if bad_epochs > self.patience {
                factor = (factor * self.factor).max(self.min_factor);
                bad_epochs = 0;
            }
        }
        factor
    }

    /// Checks that `factor` is in `(0, 1)` and the threshold and the floor are
    /// finite numbers `>= 0`.
    ///
    /// # Errors
    /// Names the value out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(format!(
                "the plateau factor must be in (0, 1), got {}",
                self.factor
            ));
        }
        for (name, value) in [
            ("threshold", self.threshold),
            ("min_factor", self.min_factor),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!(
                    "the plateau {name} must be a finite number >= 0, got {value}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_one_everywhere() {
        for step in [0, 1, 99, 100, 1000] {
            assert_eq!(LrSchedule::default().factor(step, 100, 0), 1.0);
        }
    }

    #[test]
    fn linear_and_cosine_start_at_one_end_at_the_final_factor_and_only_fall() {
        for schedule in [
            LrSchedule::new(LrShape::Linear, 0.1),
            LrSchedule::new(LrShape::Cosine, 0.1),
        ] {
            assert_eq!(schedule.factor(0, 200, 0), 1.0);
            assert!((schedule.factor(200, 200, 0) - 0.1).abs() < 1e-12);
            // Past the end (a run given more steps than planned) it stays at the floor.
            assert!((schedule.factor(250, 200, 0) - 0.1).abs() < 1e-12);
            let factors: Vec<f64> = (0..=200).map(|s| schedule.factor(s, 200, 0)).collect();
            assert!(factors.windows(2).all(|w| w[1] <= w[0]), "{schedule:?}");
        }
    }

    #[test]
    fn cosine_is_flat_at_the_ends_and_linear_is_not() {
        let cosine = LrSchedule::new(LrShape::Cosine, 0.0);
        let linear = LrSchedule::new(LrShape::Linear, 0.0);
        // One step in: cosine has barely moved, linear by a full 1/total.
        assert!(1.0 - cosine.factor(1, 100, 0) < 1e-3);
        assert!((1.0 - linear.factor(1, 100, 0) - 0.01).abs() < 1e-12);
        assert!((linear.factor(25, 100, 0) - 0.75).abs() < 1e-12);
        assert!(
            (cosine.factor(25, 100, 0) - (0.5 + 0.5 * (0.25 * std::f64::consts::PI).cos())).abs()
                < 1e-12
        );
    }

    #[test]
    fn a_final_factor_out_of_range_is_named() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let error = LrSchedule::new(LrShape::Cosine, bad)
                .validate()
                .unwrap_err();
            assert!(
                error.contains("cosine") && error.contains("final_factor"),
                "{error}"
            );
        }
        assert!(LrSchedule::new(LrShape::Linear, 0.0).validate().is_ok());
    }

    #[test]
    fn a_warm_up_start_or_a_step_gamma_out_of_range_is_named() {
        let warm = |start| LrSchedule {
            warmup_steps: 3,
            warmup_start: start,
            ..LrSchedule::default()
        };
        assert!(warm(0.0).validate().unwrap_err().contains("warm-up"));
        assert!(warm(0.5).validate().is_ok());
        let step = |gamma, every| LrSchedule {
            gamma,
            step_epochs: every,
            ..LrSchedule::new(LrShape::Step, 0.0)
        };
        assert!(step(1.5, 1).validate().unwrap_err().contains("gamma 1.5"));
        assert!(step(0.5, 0)
            .validate()
            .unwrap_err()
            .contains("every 0 epochs"));
        assert!(step(0.5, 2).validate().is_ok());
        let plateau = ReduceOnPlateau::new(1.0, 2);
        assert!(plateau.validate().unwrap_err().contains("plateau factor"));
    }

    /// Accuracies climb, then stall: with patience 1 the rate is cut after
    /// the second epoch without a better one, and again two epochs later.
    #[test]
    fn reduce_on_plateau_counts_epochs_without_improvement() {
        let plateau = ReduceOnPlateau::new(0.1, 1);
        let accuracies = [0.5, 0.6, 0.6, 0.59, 0.6, 0.58];
        let factors: Vec<f64> = (1..=accuracies.len())
            .map(|n| plateau.factor(&accuracies[..n], false))
            .collect();
        let expected = [1.0, 1.0, 1.0, 0.1, 0.1, 0.1 * 0.1];
        for (got, want) in factors.iter().zip(expected) {
            assert!((got - want).abs() < 1e-15, "{factors:?}");
        }
    }
}

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
//!   `CosineAnnealingLR`, Keras' `CosineDecay` with `alpha = f`).
//!
//! The [`Trainer`](crate::trainer::Trainer) sets the rate before every
//! update from the epoch and step alone, so a resumed run follows the same
//! curve as an uninterrupted one.

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
}

crate::text_as_choice!(LrShape);

/// How the learning rate changes over a run, as a factor of the base rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LrSchedule {
    /// The curve.
    pub shape: LrShape,
    /// The factor at the end of the run, in `[0, 1]` (unused by `Constant`).
    pub final_factor: f64,
}

impl LrSchedule {
    /// A schedule of `shape` ending at `final_factor` times the base rate.
    pub fn new(shape: LrShape, final_factor: f64) -> Self {
        LrSchedule {
            shape,
            final_factor,
        }
    }

    /// The factor for update `step` (from 0) of `total_steps`.
    ///
    /// ```
    /// use train::optim::{LrSchedule, LrShape};
    ///
    /// let linear = LrSchedule::new(LrShape::Linear, 0.0);
    /// assert_eq!(linear.factor(0, 100), 1.0);
    /// assert_eq!(linear.factor(50, 100), 0.5);
    /// let cosine = LrSchedule::new(LrShape::Cosine, 0.0);
    /// assert!((cosine.factor(50, 100) - 0.5).abs() < 1e-12);
    /// ```
    pub fn factor(self, step: usize, total_steps: usize) -> f64 {
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
        }
    }

    /// Checks that the final factor is in `[0, 1]`.
    ///
    /// # Errors
    /// Names the schedule and the value out of range.
    pub fn validate(self) -> Result<(), String> {
        let f = self.final_factor;
        if self.shape == LrShape::Constant || (0.0..=1.0).contains(&f) {
            Ok(())
        } else {
            Err(format!(
                "the {} schedule's final_factor must be in [0, 1], got {f}",
                self.shape
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_one_everywhere() {
        for step in [0, 1, 99, 100, 1000] {
            assert_eq!(LrSchedule::default().factor(step, 100), 1.0);
        }
    }

    #[test]
    fn linear_and_cosine_start_at_one_end_at_the_final_factor_and_only_fall() {
        for schedule in [
            LrSchedule::new(LrShape::Linear, 0.1),
            LrSchedule::new(LrShape::Cosine, 0.1),
        ] {
            assert_eq!(schedule.factor(0, 200), 1.0);
            assert!((schedule.factor(200, 200) - 0.1).abs() < 1e-12);
            // Past the end (a run given more steps than planned) it stays at the floor.
            assert!((schedule.factor(250, 200) - 0.1).abs() < 1e-12);
            let factors: Vec<f64> = (0..=200).map(|s| schedule.factor(s, 200)).collect();
            assert!(factors.windows(2).all(|w| w[1] <= w[0]), "{schedule:?}");
        }
    }

    #[test]
    fn cosine_is_flat_at_the_ends_and_linear_is_not() {
        let cosine = LrSchedule::new(LrShape::Cosine, 0.0);
        let linear = LrSchedule::new(LrShape::Linear, 0.0);
        // One step in: cosine has barely moved, linear by a full 1/total.
        assert!(1.0 - cosine.factor(1, 100) < 1e-3);
        assert!((1.0 - linear.factor(1, 100) - 0.01).abs() < 1e-12);
        assert!((linear.factor(25, 100) - 0.75).abs() < 1e-12);
        assert!(
            (cosine.factor(25, 100) - (0.5 + 0.5 * (0.25 * std::f64::consts::PI).cos())).abs()
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
}

//! RMSprop.

use tensor::Element;

use super::{check_hyperparameter, OptimError, Optimizer, OptimizerState};

/// RMSprop (Hinton's lecture 6e), as in PyTorch:
///
/// ```text
/// s ← ρ s + (1 - ρ) ∇²
/// θ ← θ - lr ∇ / (sqrt(s) + ε)
/// ```
///
/// Defaults: `ρ = 0.99, ε = 1e-8` (PyTorch); Keras uses `ρ = 0.9, ε = 1e-7`.
#[derive(Clone, Debug)]
pub struct RmsProp<T: Element = f32> {
    /// Step size.
    pub learning_rate: f64,
    /// Decay `ρ` of the running mean square.
    pub rho: f64,
    /// Added to the denominator for stability.
    pub epsilon: f64,
    state: OptimizerState<T>,
}

impl<T: Element> RmsProp<T> {
    /// RMSprop with the given learning rate and PyTorch's defaults.
    pub fn new(learning_rate: f64) -> Self {
        RmsProp {
            learning_rate,
            rho: 0.99,
            epsilon: 1e-8,
            state: OptimizerState::new(),
        }
    }
}

impl<T: Element> Optimizer<T> for RmsProp<T> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn buffers(&self) -> &'static [&'static str] {
        &["square_avg"]
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    fn validate(&self) -> Result<(), OptimError> {
        check_hyperparameter::<T>("learning_rate", self.learning_rate, 0.0)?;
        check_hyperparameter::<T>("epsilon", self.epsilon, 0.0)?;
        if !(0.0..1.0).contains(&self.rho) {
            return Err(OptimError::Hyperparameter(format!(
                "rho must be in [0, 1), got {}",
                self.rho
            )));
        }
        Ok(())
    }

    fn state(&self) -> &OptimizerState<T> {
        &self.state
    }

    fn state_mut(&mut self) -> &mut OptimizerState<T> {
        &mut self.state
    }

    fn update(&self, _step: u64, theta: &mut [T], grad: &[T], buffers: &mut [&mut [T]]) {
        let (lr, rho, eps) = (
            T::from_f64(self.learning_rate),
            T::from_f64(self.rho),
            T::from_f64(self.epsilon),
        );
        let square_avg = &mut *buffers[0];
        for ((t, &g), s) in theta.iter_mut().zip(grad).zip(square_avg.iter_mut()) {
            *s = rho * *s + (T::ONE - rho) * g * g;
            *t -= lr * g / (s.sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::ParamState;

    /// Step 1: s = 0.01 ∇², so the step is lr ∇ / (0.1 |∇|) = 10 lr sign(∇).
    #[test]
    fn the_first_step_is_ten_learning_rates() {
        let mut theta = [0.0f64];
        let mut state = ParamState {
            step: 1,
            shape: vec![1],
            buffers: vec![vec![0.0]],
        };
        RmsProp::new(0.01).update_param(&mut theta, &[3.0], &mut state);
        assert!((theta[0] + 0.1).abs() < 1e-6);
    }
}

//! Adagrad.

use tensor::Element;

use super::{check_hyperparameter, OptimError, Optimizer, OptimizerState};

/// Adagrad (Duchi et al., 2011), as in PyTorch, at step `t = 1, 2, ...`:
///
/// ```text
/// d = ∇ + λ θ                        (weight decay λ)
/// s ← s + d²                         (the sum of every squared gradient so far)
/// θ ← θ - lr_t d / (sqrt(s) + ε)     with lr_t = lr / (1 + (t - 1) decay)
/// ```
///
/// A parameter that has had large gradients takes small steps from then on;
/// a rare feature (an embedding row seldom seen) keeps large ones. Defaults
/// are PyTorch's: `lr = 0.01, ε = 1e-10`, no learning-rate decay, the sum
/// starting at 0 (Keras starts it at 0.1 and uses `ε = 1e-7`).
#[derive(Clone, Debug)]
pub struct Adagrad<T: Element = f32> {
    /// Step size.
    pub learning_rate: f64,
    /// The learning rate's decay per step (`lr_decay`).
    pub lr_decay: f64,
    /// L2 weight decay `λ`.
    pub weight_decay: f64,
    /// Added to the denominator for stability.
    pub epsilon: f64,
    state: OptimizerState<T>,
}

impl<T: Element> Adagrad<T> {
    /// Adagrad with the given learning rate and PyTorch's defaults.
    pub fn new(learning_rate: f64) -> Self {
        Adagrad {
            learning_rate,
            lr_decay: 0.0,
            weight_decay: 0.0,
            epsilon: 1e-10,
            state: OptimizerState::new(),
        }
    }
}

impl<T: Element> Optimizer<T> for Adagrad<T> {
    fn name(&self) -> &'static str {
        "adagrad"
    }

    fn buffers(&self) -> &'static [&'static str] {
        &["sum"]
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    fn validate(&self) -> Result<(), OptimError> {
        check_hyperparameter::<T>("learning_rate", self.learning_rate, 0.0)?;
        check_hyperparameter::<T>("lr_decay", self.lr_decay, 0.0)?;
        check_hyperparameter::<T>("weight_decay", self.weight_decay, 0.0)?;
        check_hyperparameter::<T>("epsilon", self.epsilon, 0.0)
    }

    fn state(&self) -> &OptimizerState<T> {
        &self.state
    }

    fn state_mut(&mut self) -> &mut OptimizerState<T> {
        &mut self.state
    }

    fn update(&self, step: u64, theta: &mut [T], grad: &[T], buffers: &mut [&mut [T]]) {
        let decayed = self.learning_rate / (1.0 + step.saturating_sub(1) as f64 * self.lr_decay);
        let (lr, decay, epsilon) = (
            T::from_f64(decayed),
            T::from_f64(self.weight_decay),
            T::from_f64(self.epsilon),
        );
        let [sum] = buffers else {
            unreachable!("Adagrad keeps one buffer")
        };
        for ((t, &g), s) in theta.iter_mut().zip(grad).zip(sum.iter_mut()) {
            let d = g + decay * *t;
            *s += d * d;
            *t -= lr * d / (s.sqrt() + epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::ParamState;

    /// θ = 0, ∇ = 3 then 4, lr = 1: s = 9, θ = -3/3 = -1; then s = 25,
    /// θ = -1 - 4/5 = -1.8 (ε is negligible).
    #[test]
    fn each_step_divides_by_the_root_of_the_summed_squares() {
        let adagrad = Adagrad::<f64>::new(1.0);
        let mut state = ParamState {
            step: 0,
            shape: vec![1],
            buffers: vec![vec![0.0]],
        };
        let mut theta = [0.0f64];
        for (g, expected) in [(3.0, -1.0), (4.0, -1.8)] {
            state.step += 1;
            adagrad.update_param(&mut theta, &[g], &mut state);
            assert!((theta[0] - expected).abs() < 1e-9, "{}", theta[0]);
        }
    }
}

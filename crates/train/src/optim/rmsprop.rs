//! RMSprop.

use std::collections::HashMap;

use tensor::{Element, Tensor};

use super::{gradient_values, Optimizer};

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
    mean_square: HashMap<String, Vec<T>>,
}

impl<T: Element> RmsProp<T> {
    /// RMSprop with the given learning rate and PyTorch's defaults.
    pub fn new(learning_rate: f64) -> Self {
        RmsProp {
            learning_rate,
            rho: 0.99,
            epsilon: 1e-8,
            mean_square: HashMap::new(),
        }
    }
}

impl<T: Element> Optimizer<T> for RmsProp<T> {
    fn update(&mut self, name: &str, param: &mut Tensor<T>, grad: &Tensor<T>) {
        let grad = gradient_values(name, param, grad);
        let theta = param.data_mut();
        let s = self
            .mean_square
            .entry(name.to_string())
            .or_insert_with(|| vec![T::ZERO; theta.len()]);
        let (lr, rho, eps) = (
            T::from_f64(self.learning_rate),
            T::from_f64(self.rho),
            T::from_f64(self.epsilon),
        );
        for ((t, &g), s) in theta.iter_mut().zip(&grad).zip(s.iter_mut()) {
            *s = rho * *s + (T::ONE - rho) * g * g;
            *t -= lr * g / (s.sqrt() + eps);
        }
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Step 1: s = 0.01 ∇², so the step is lr ∇ / (0.1 |∇|) = 10 lr sign(∇).
    #[test]
    fn the_first_step_is_ten_learning_rates() {
        let mut theta = Tensor::<f64>::zeros(&[1]);
        RmsProp::new(0.01).update("w", &mut theta, &Tensor::full(&[1], 3.0));
        assert!((theta.item() + 0.1).abs() < 1e-6);
    }
}

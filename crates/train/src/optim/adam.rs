//! Adam and AdamW.

use std::collections::HashMap;

use tensor::{Element, Tensor};

use super::{gradient_values, Optimizer};

/// Adam (Kingma & Ba, 2015), per element, at step `t = 1, 2, ...`:
///
/// ```text
/// m ← β1 m + (1 - β1) ∇          v ← β2 v + (1 - β2) ∇²
/// m̂ = m / (1 - β1^t)              v̂ = v / (1 - β2^t)
/// θ ← θ - lr m̂ / (sqrt(v̂) + ε)
/// ```
///
/// Weight decay `λ` is added to the gradient (`∇ + λθ`, PyTorch's `Adam`), or with
/// `decoupled_weight_decay` applied to the weights directly (`θ ← θ - lr λ θ`, AdamW).
/// Defaults match PyTorch and Keras: `lr = 1e-3, β1 = 0.9, β2 = 0.999, ε = 1e-8` (Keras uses `ε = 1e-7`).
#[derive(Clone, Debug)]
pub struct Adam<T: Element = f32> {
    /// Step size.
    pub learning_rate: f64,
    /// Decay of the first-moment average.
    pub beta1: f64,
    /// Decay of the second-moment average.
    pub beta2: f64,
    /// Added to the denominator for stability.
    pub epsilon: f64,
    /// Weight decay `λ`.
    pub weight_decay: f64,
    /// AdamW: decay the weights directly instead of adding `λθ` to the gradient.
    pub decoupled_weight_decay: bool,
    state: HashMap<String, AdamState<T>>,
}

#[derive(Clone, Debug)]
struct AdamState<T> {
    step: i32,
    mean: Vec<T>,
    mean_square: Vec<T>,
}

impl<T: Element> Adam<T> {
    /// Adam with the given learning rate and the usual defaults.
    pub fn new(learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            state: HashMap::new(),
        }
    }

    /// AdamW: Adam with decoupled weight decay `λ`.
    pub fn adamw(learning_rate: f64, weight_decay: f64) -> Self {
        Adam {
            weight_decay,
            decoupled_weight_decay: true,
            ..Self::new(learning_rate)
        }
    }
}

impl<T: Element> Optimizer<T> for Adam<T> {
    fn update(&mut self, name: &str, param: &mut Tensor<T>, grad: &Tensor<T>) {
        let grad = gradient_values(name, param, grad);
        let theta = param.data_mut();
        let state = self
            .state
            .entry(name.to_string())
            .or_insert_with(|| AdamState {
                step: 0,
                mean: vec![T::ZERO; theta.len()],
                mean_square: vec![T::ZERO; theta.len()],
            });
        state.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let correction1 = 1.0 - b1.powi(state.step);
        let correction2 = 1.0 - b2.powi(state.step);
        // lr * m̂ / (sqrt(v̂) + ε) = step_size * m / (sqrt(v) + ε sqrt(c2)), with step_size = lr sqrt(c2) / c1.
        let step_size = T::from_f64(self.learning_rate * correction2.sqrt() / correction1);
        let epsilon = T::from_f64(self.epsilon * correction2.sqrt());
        let (b1, b2) = (T::from_f64(b1), T::from_f64(b2));
        let decay = T::from_f64(self.weight_decay);
        let decoupled = T::from_f64(if self.decoupled_weight_decay {
            self.learning_rate * self.weight_decay
        } else {
            0.0
        });
        let coupled = if self.decoupled_weight_decay {
            T::ZERO
        } else {
            decay
        };
        for (((t, &g), m), v) in theta
            .iter_mut()
            .zip(&grad)
            .zip(state.mean.iter_mut())
            .zip(state.mean_square.iter_mut())
        {
            let g = g + coupled * *t;
            *m = b1 * *m + (T::ONE - b1) * g;
            *v = b2 * *v + (T::ONE - b2) * g * g;
            *t -= decoupled * *t;
            *t -= step_size * *m / (v.sqrt() + epsilon);
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

    /// At step 1, m̂ = ∇ and v̂ = ∇², so the step is lr * ∇ / (|∇| + ε) ≈ lr * sign(∇):
    /// θ = 1 - 0.001 for any positive gradient.
    #[test]
    fn the_first_step_moves_by_the_learning_rate() {
        for g in [1e-3, 0.5, 100.0] {
            let mut theta = Tensor::<f64>::ones(&[1]);
            Adam::new(1e-3).update("w", &mut theta, &Tensor::full(&[1], g));
            assert!(
                (theta.item() - 0.999).abs() < 1e-8,
                "gradient {g}: {}",
                theta.item()
            );
        }
    }

    #[test]
    fn adam_minimizes_a_quadratic() {
        // L = sum (θ - 3)^2, ∇ = 2(θ - 3).
        let mut theta = Tensor::<f64>::zeros(&[3]);
        let mut adam = Adam::new(0.1);
        for _ in 0..500 {
            let grad = theta.map(|t| 2.0 * (t - 3.0));
            adam.update("w", &mut theta, &grad);
        }
        assert!(
            theta.to_vec().iter().all(|t| (t - 3.0).abs() < 1e-3),
            "{theta:?}"
        );
    }
}

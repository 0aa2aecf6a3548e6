//! Adam and AdamW.

use tensor::Element;

use super::{check_hyperparameter, OptimError, Optimizer, OptimizerState};

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
/// With `amsgrad` (Reddi et al., 2018) the denominator uses the largest `v`
/// seen so far, `v_max ← max(v_max, v)`, so a parameter's step never grows
/// back after its gradients shrink (PyTorch's `amsgrad=True`).
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
    /// AMSGrad: divide by the running maximum of `v`.
    pub amsgrad: bool,
    state: OptimizerState<T>,
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
            amsgrad: false,
            state: OptimizerState::new(),
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
    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }

    fn buffers(&self) -> &'static [&'static str] {
        if self.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
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
        check_hyperparameter::<T>("weight_decay", self.weight_decay, 0.0)?;
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(OptimError::Hyperparameter(format!(
                    "{name} must be in [0, 1), got {beta}"
                )));
            }
        }
        Ok(())
    }

    fn state(&self) -> &OptimizerState<T> {
        &self.state
    }

    fn state_mut(&mut self) -> &mut OptimizerState<T> {
        &mut self.state
    }

    fn update(&self, step: u64, theta: &mut [T], grad: &[T], buffers: &mut [&mut [T]]) {
        let step = step.min(i32::MAX as u64) as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let correction1 = 1.0 - b1.powi(step);
        let correction2 = 1.0 - b2.powi(step);
        // lr * m̂ / (sqrt(v̂) + ε) = step_size * m / (sqrt(v) + ε sqrt(c2)), with step_size = lr sqrt(c2) / c1.
        let step_size = T::from_f64(self.learning_rate * correction2.sqrt() / correction1);
        let epsilon = T::from_f64(self.epsilon * correction2.sqrt());
        let (b1, b2) = (T::from_f64(b1), T::from_f64(b2));
        let (coupled, decoupled) = if self.decoupled_weight_decay {
            (T::ZERO, T::from_f64(self.learning_rate * self.weight_decay))
        } else {
            (T::from_f64(self.weight_decay), T::ZERO)
        };
        let (mean, mean_square, mut largest) = match buffers {
            [mean, mean_square] => (mean, mean_square, None),
            [mean, mean_square, largest] => (mean, mean_square, Some(largest)),
            _ => unreachable!("Adam keeps two buffers, three with AMSGrad"),
        };
        for (i, ((t, &g), m)) in theta.iter_mut().zip(grad).zip(mean.iter_mut()).enumerate() {
            let v = &mut mean_square[i];
            let g = g + coupled * *t;
            *m = b1 * *m + (T::ONE - b1) * g;
            *v = b2 * *v + (T::ONE - b2) * g * g;
            let denominator = match largest.as_deref_mut() {
                Some(largest) => {
                    largest[i] = if *v > largest[i] { *v } else { largest[i] };
                    largest[i]
                }
                None => *v,
            };
            *t -= decoupled * *t;
            *t -= step_size * *m / (denominator.sqrt() + epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::ParamState;

    fn fresh() -> ParamState<f64> {
        ParamState {
            step: 0,
            shape: vec![1],
            buffers: vec![vec![0.0], vec![0.0]],
        }
    }

    /// At step 1, m̂ = ∇ and v̂ = ∇², so the step is lr * ∇ / (|∇| + ε) ≈ lr * sign(∇):
    /// θ = 1 - 0.001 for any positive gradient.
    #[test]
    fn the_first_step_moves_by_the_learning_rate() {
        for g in [1e-3, 0.5, 100.0] {
            let (mut theta, mut state) = ([1.0], fresh());
            state.step = 1;
            Adam::new(1e-3).update_param(&mut theta, &[g], &mut state);
            assert!(
                (theta[0] - 0.999).abs() < 1e-8,
                "gradient {g}: {}",
                theta[0]
            );
        }
    }

    #[test]
    fn adam_minimizes_a_quadratic() {
        // L = (θ - 3)^2, ∇ = 2(θ - 3).
        let (mut theta, mut state) = ([0.0], fresh());
        let adam = Adam::new(0.1);
        for _ in 0..500 {
            let grad = [2.0 * (theta[0] - 3.0)];
            state.step += 1;
            adam.update_param(&mut theta, &grad, &mut state);
        }
        assert!((theta[0] - 3.0).abs() < 1e-3, "{}", theta[0]);
    }

    /// Gradients 1, 0, 0: `v` decays after the first step, and plain Adam
    /// divides by the smaller `v`; AMSGrad keeps the first, larger one, so
    /// its later steps are smaller.
    #[test]
    fn amsgrad_divides_by_the_largest_second_moment() {
        let run = |amsgrad: bool| {
            let adam = Adam {
                amsgrad,
                ..Adam::new(0.1)
            };
            let mut state = ParamState {
                step: 0,
                shape: vec![1],
                buffers: vec![vec![0.0]; if amsgrad { 3 } else { 2 }],
            };
            let mut theta = [0.0];
            for g in [1.0, 0.0, 0.0] {
                state.step += 1;
                adam.update_param(&mut theta, &[g], &mut state);
            }
            theta[0]
        };
        let (plain, ams) = (run(false), run(true));
        assert!(ams > plain, "{ams} vs {plain}");
        assert_eq!(
            Adam::<f64> {
                amsgrad: true,
                ..Adam::new(0.1)
            }
            .buffers()
            .len(),
            3
        );
    }
}

//! Stochastic gradient descent, with optional momentum and weight decay.

use tensor::Element;

use super::{check_hyperparameter, OptimError, Optimizer, OptimizerState};

/// SGD (PyTorch's formulation):
///
/// ```text
/// d = ∇ + λ θ               (weight decay λ)
/// v ← μ v + d               (momentum μ; v = d at the first step)
/// θ ← θ - lr v              (θ ← θ - lr d when μ = 0)
/// θ ← θ - lr (d + μ v)      (Nesterov momentum: the step looks ahead along v)
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Element = f32> {
    /// Step size.
    pub learning_rate: f64,
    /// Momentum `μ` (0 = plain SGD).
    pub momentum: f64,
    /// L2 weight decay `λ`.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    state: OptimizerState<T>,
}

impl<T: Element> Sgd<T> {
    /// Plain SGD with the given learning rate.
    pub fn new(learning_rate: f64) -> Self {
        Sgd {
            learning_rate,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            state: OptimizerState::new(),
        }
    }

    /// Sets the momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets Nesterov momentum `μ` (PyTorch's `SGD(nesterov=True)`).
    pub fn with_nesterov(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self.nesterov = true;
        self
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn buffers(&self) -> &'static [&'static str] {
        if self.momentum == 0.0 {
            &[]
        } else {
            &["momentum_buffer"]
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
        check_hyperparameter::<T>("momentum", self.momentum, 0.0)?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(OptimError::Hyperparameter(
                "nesterov needs a momentum above 0, got 0".to_string(),
            ));
        }
        check_hyperparameter::<T>("weight_decay", self.weight_decay, 0.0)
    }

    fn state(&self) -> &OptimizerState<T> {
        &self.state
    }

    fn state_mut(&mut self) -> &mut OptimizerState<T> {
        &mut self.state
    }

    fn update(&self, step: u64, theta: &mut [T], grad: &[T], buffers: &mut [&mut [T]]) {
        let (lr, mu, decay) = (
            T::from_f64(self.learning_rate),
            T::from_f64(self.momentum),
            T::from_f64(self.weight_decay),
        );
        match buffers.first_mut() {
            Some(velocity) => {
                let first = step == 1;
                let nesterov = self.nesterov;
                for ((t, &g), v) in theta.iter_mut().zip(grad).zip(velocity.iter_mut()) {
                    let d = g + decay * *t;
                    *v = if first { d } else { mu * *v + d };
                    *t -= lr * if nesterov { d + mu * *v } else { *v };
                }
            }
            None => {
                for (t, &g) in theta.iter_mut().zip(grad) {
                    *t -= lr * (g + decay * *t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::ParamState;

    fn state(buffers: usize) -> ParamState<f64> {
        ParamState {
            step: 0,
            shape: vec![1],
            buffers: vec![vec![0.0]; buffers],
        }
    }

    /// θ = 1, ∇ = 0.5, lr = 0.1: plain SGD gives 1 - 0.05 = 0.95. With μ = 0.9, the
    /// second step's velocity is 0.9 * 0.5 + 0.5 = 0.95, so θ = 0.95 - 0.095 = 0.855.
    #[test]
    fn momentum_accumulates_velocity() {
        let sgd = Sgd::new(0.1).with_momentum(0.9);
        let (mut theta, mut s) = ([1.0], state(1));
        for expected in [0.95, 0.855] {
            s.step += 1;
            sgd.update_param(&mut theta, &[0.5], &mut s);
            assert!((theta[0] - expected).abs() < 1e-12, "{}", theta[0]);
        }
        let (mut theta, mut s) = ([1.0], state(0));
        s.step = 1;
        Sgd::new(0.1).update_param(&mut theta, &[0.5], &mut s);
        assert!((theta[0] - 0.95).abs() < 1e-12);
    }

    /// θ = 1, ∇ = 0.5, lr = 0.1, μ = 0.9, Nesterov: v = 0.5, θ = 1 - 0.1 (0.5
    /// + 0.45) = 0.905; then v = 0.95, θ = 0.905 - 0.1 (0.5 + 0.855) = 0.7695.
    #[test]
    fn nesterov_looks_ahead_along_the_velocity() {
        let sgd = Sgd::new(0.1).with_nesterov(0.9);
        let (mut theta, mut s) = ([1.0], state(1));
        for expected in [0.905, 0.7695] {
            s.step += 1;
            sgd.update_param(&mut theta, &[0.5], &mut s);
            assert!((theta[0] - expected).abs() < 1e-12, "{}", theta[0]);
        }
        let error = Sgd::<f64>::new(0.1)
            .with_nesterov(0.0)
            .validate()
            .unwrap_err();
        assert!(
            error.to_string().contains("nesterov needs a momentum"),
            "{error}"
        );
    }
}

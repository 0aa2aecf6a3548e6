//! Stochastic gradient descent, with optional momentum and weight decay.

use std::collections::HashMap;

use tensor::{Element, Tensor};

use super::{gradient_values, Optimizer};

/// SGD (PyTorch's formulation):
///
/// ```text
/// d = ∇ + λ θ               (weight decay λ)
/// v ← μ v + d               (momentum μ; v = d at the first step)
/// θ ← θ - lr v              (θ ← θ - lr d when μ = 0)
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Element = f32> {
    /// Step size.
    pub learning_rate: f64,
    /// Momentum `μ` (0 = plain SGD).
    pub momentum: f64,
    /// L2 weight decay `λ`.
    pub weight_decay: f64,
    velocity: HashMap<String, Vec<T>>,
}

impl<T: Element> Sgd<T> {
    /// Plain SGD with the given learning rate.
    pub fn new(learning_rate: f64) -> Self {
        Sgd {
            learning_rate,
            momentum: 0.0,
            weight_decay: 0.0,
            velocity: HashMap::new(),
        }
    }

    /// Sets the momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn update(&mut self, name: &str, param: &mut Tensor<T>, grad: &Tensor<T>) {
        let grad = gradient_values(name, param, grad);
        let (lr, mu, decay) = (
            T::from_f64(self.learning_rate),
            T::from_f64(self.momentum),
            T::from_f64(self.weight_decay),
        );
        let theta = param.data_mut();
        let velocity =
            (self.momentum != 0.0).then(|| self.velocity.entry(name.to_string()).or_default());
        match velocity {
            Some(v) => {
                let first = v.is_empty();
                v.resize(theta.len(), T::ZERO);
                for ((t, &g), v) in theta.iter_mut().zip(&grad).zip(v.iter_mut()) {
                    let d = g + decay * *t;
                    *v = if first { d } else { mu * *v + d };
                    *t -= lr * *v;
                }
            }
            None => {
                for (t, &g) in theta.iter_mut().zip(&grad) {
                    *t -= lr * (g + decay * *t);
                }
            }
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

    /// θ = 1, ∇ = 0.5, lr = 0.1: plain SGD gives 1 - 0.05 = 0.95. With μ = 0.9, the
    /// second step's velocity is 0.9 * 0.5 + 0.5 = 0.95, so θ = 0.95 - 0.095 = 0.855.
    #[test]
    fn momentum_accumulates_velocity() {
        let mut theta = Tensor::<f64>::ones(&[1]);
        let grad = Tensor::full(&[1], 0.5);
        let mut sgd = Sgd::new(0.1).with_momentum(0.9);
        sgd.update("w", &mut theta, &grad);
        assert!((theta.item() - 0.95).abs() < 1e-12);
        sgd.update("w", &mut theta, &grad);
        assert!((theta.item() - 0.855).abs() < 1e-12);
    }
}

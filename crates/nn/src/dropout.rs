//! `Dropout`: randomly zero activations while training.
//!
//! Inverted dropout: in training, each element is kept with probability
//! `1 - p` and scaled by `1 / (1 - p)`, so its expected value is unchanged and
//! evaluation needs no rescaling; in evaluation the layer is the identity.
//!
//! The layer owns a generator seeded at construction, so a run is
//! reproducible and no global RNG is involved.

use autograd::Var;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tensor::Element;

use crate::module::Module;
use crate::param::Param;

/// Zeroes each element with probability `p` while training.
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f64,
    training: bool,
    rng: StdRng,
}

impl Dropout {
    /// A dropout layer, in training mode, with its own generator seeded by `seed`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    pub fn new(p: f64, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "Dropout: probability {p} is not in [0, 1)"
        );
        Dropout {
            p,
            training: true,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// `x * mask / (1 - p)` with a fresh Bernoulli mask while training, `x` otherwise.
    pub fn forward<T: Element>(&mut self, x: &Var<T>) -> Var<T> {
        if !self.training || self.p == 0.0 {
            return x.clone();
        }
        x.dropout(self.p, &mut self.rng)
    }
}

impl<T: Element> Module<T> for Dropout {
    fn named_params(&self) -> Vec<(String, &Param<T>)> {
        Vec::new()
    }

    fn named_params_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        Vec::new()
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::Tape;
    use tensor::Tensor;

    #[test]
    fn dropout_scales_kept_values_and_is_the_identity_in_eval() {
        let mut layer = Dropout::new(0.5, 0);
        let tape = Tape::<f64>::new();
        let x = tape.constant(Tensor::ones(&[1000]));
        let y = layer.forward(&x).value().to_vec();
        assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = y.iter().filter(|&&v| v == 2.0).count();
        assert!((400..600).contains(&kept), "{kept}");
        Module::<f64>::eval(&mut layer);
        assert_eq!(layer.forward(&x).value().to_vec(), vec![1.0; 1000]);
    }
}

//! Random tensors, always from an explicit, seedable generator.
//!
//! There is no global RNG: pass `&mut rng` (e.g. `StdRng::seed_from_u64(0)`) so
//! the same seed always gives the same tensor and tests never interfere.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::element::Element;
use crate::shape;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// Independent draws from the uniform distribution on `[low, high)`.
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut impl Rng) -> Self {
        let data = (0..shape::numel(shape))
            .map(|_| T::from_f64(rng.gen_range(low..high)))
            .collect();
        Tensor::from_vec(data, shape)
    }

    /// Independent draws from the normal distribution `N(mean, std^2)`.
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, rng: &mut impl Rng) -> Self {
        let data = (0..shape::numel(shape))
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                T::from_f64(mean + std * z)
            })
            .collect();
        Tensor::from_vec(data, shape)
    }

    /// A mask of ones with probability `p_one`, zeros otherwise.
    pub fn bernoulli(shape: &[usize], p_one: f64, rng: &mut impl Rng) -> Self {
        let data = (0..shape::numel(shape))
            .map(|_| {
                if rng.gen::<f64>() < p_one {
                    T::ONE
                } else {
                    T::ZERO
                }
            })
            .collect();
        Tensor::from_vec(data, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_same_seed_gives_the_same_tensor() {
        let a = Tensor::<f32>::rand_normal(&[10], 0.0, 1.0, &mut StdRng::seed_from_u64(7));
        let b = Tensor::<f32>::rand_normal(&[10], 0.0, 1.0, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    #[test]
    fn uniform_draws_stay_in_range_and_have_the_right_mean() {
        let t = Tensor::<f64>::rand_uniform(&[10_000], -2.0, 4.0, &mut StdRng::seed_from_u64(1));
        assert!(t.to_vec().iter().all(|&x| (-2.0..4.0).contains(&x)));
        assert!((t.mean().item() - 1.0).abs() < 0.1);
        let mask = Tensor::<f64>::bernoulli(&[10_000], 0.3, &mut StdRng::seed_from_u64(2));
        assert!((mask.mean().item() - 0.3).abs() < 0.02);
    }
}

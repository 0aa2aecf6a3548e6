//! Random tensors, always from an explicit, seedable generator.
//!
//! There is no global RNG: pass `&mut rng` (e.g. `StdRng::seed_from_u64(0)`) so
//! the same seed always gives the same tensor and tests never interfere.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::scalar::Scalar;
use crate::tensor::{allocation_len, Tensor};

impl<T: Scalar> Tensor<T> {
    /// Independent draws from the uniform distribution on `[low, high)`.
    ///
    /// # Panics
    /// If `low` or `high` is not finite, `low >= high`, or the shape's sizes
    /// overflow; the message names the op and the values.
    pub fn rand_uniform(shape: &[usize], low: f64, high: f64, rng: &mut impl Rng) -> Self {
        assert!(
            low.is_finite() && high.is_finite() && low < high,
            "rand_uniform: the range low = {low}, high = {high} is not a finite range with low < high"
        );
        let data = (0..allocation_len::<T>(shape, "rand_uniform"))
            .map(|_| T::from_f64(rng.gen_range(low..high)))
            .collect();
        Tensor::from_vec(data, shape)
    }

    /// Independent draws from the normal distribution `N(mean, std^2)`.
    ///
    /// # Panics
    /// If `mean` is not finite, `std` is negative or not finite, or the shape's
    /// sizes overflow.
    pub fn rand_normal(shape: &[usize], mean: f64, std: f64, rng: &mut impl Rng) -> Self {
        assert!(
            mean.is_finite(),
            "rand_normal: mean = {mean} is not a finite number"
        );
        assert!(
            std.is_finite() && std >= 0.0,
            "rand_normal: std = {std} is not a finite number >= 0"
        );
        let data = (0..allocation_len::<T>(shape, "rand_normal"))
            .map(|_| {
                let z: f64 = StandardNormal.sample(rng);
                T::from_f64(mean + std * z)
            })
            .collect();
        Tensor::from_vec(data, shape)
    }

    /// A mask of ones with probability `p_one`, zeros otherwise.
    ///
    /// # Panics
    /// If `p_one` is not in `[0, 1]` (NaN included), or the shape's sizes overflow.
    pub fn bernoulli(shape: &[usize], p_one: f64, rng: &mut impl Rng) -> Self {
        assert!(
            (0.0..=1.0).contains(&p_one),
            "bernoulli: p_one = {p_one} is not a probability in [0, 1]"
        );
        let data = (0..allocation_len::<T>(shape, "bernoulli"))
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
    #[should_panic(expected = "rand_uniform: the range low = NaN, high = 1 is not a finite range")]
    fn a_nan_bound_is_refused() {
        Tensor::<f32>::rand_uniform(&[2], f64::NAN, 1.0, &mut StdRng::seed_from_u64(0));
    }

    #[test]
    #[should_panic(expected = "rand_normal: std = -1 is not a finite number >= 0")]
    fn a_negative_std_is_refused() {
        Tensor::<f32>::rand_normal(&[2], 0.0, -1.0, &mut StdRng::seed_from_u64(0));
    }

    #[test]
    #[should_panic(expected = "bernoulli: p_one = NaN is not a probability in [0, 1]")]
    fn a_nan_probability_is_refused() {
        Tensor::<f32>::bernoulli(&[2], f64::NAN, &mut StdRng::seed_from_u64(0));
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

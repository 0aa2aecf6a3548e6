//! Gradient clipping by global norm.

use tensor::{Element, Tensor};

/// Rescales all gradients together so their global L2 norm is at most `max_norm`
/// (PyTorch's `clip_grad_norm_`): if `‖g‖ = sqrt(Σ_i ‖g_i‖²) > max_norm`, every
/// `g_i ← g_i * max_norm / ‖g‖`. Returns the norm before clipping.
pub fn clip_grad_norm<T: Element>(gradients: &mut [Tensor<T>], max_norm: f64) -> f64 {
    let total: f64 = gradients
        .iter()
        .map(|g| {
            g.to_vec()
                .iter()
                .map(|x| x.to_f64() * x.to_f64())
                .sum::<f64>()
        })
        .sum();
    let norm = total.sqrt();
    if norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for g in gradients.iter_mut() {
            *g = g.scale(scale);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gradients [3] and [4] have norm 5; clipping to 1 scales both by 1/5.
    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut grads = vec![Tensor::<f64>::full(&[1], 3.0), Tensor::full(&[1], 4.0)];
        let norm = clip_grad_norm(&mut grads, 1.0);
        assert!((norm - 5.0).abs() < 1e-12);
        assert!((grads[0].item() - 0.6).abs() < 1e-6 && (grads[1].item() - 0.8).abs() < 1e-6);
    }
}

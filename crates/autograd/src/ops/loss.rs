//! Losses, fused where the naive composition is numerically unstable.
//!
//! `sigmoid` then `ln`, or `softmax` then `ln`, overflows or takes `ln(0)` for
//! large logits. The fused forms below compute the same function from the
//! logits directly, and their gradients come out in closed form:
//!
//! - binary cross-entropy with logits: `l = max(x, 0) - x t + ln(1 + e^-|x|)`,
//!   `dl/dx = sigmoid(x) - t`;
//! - cross-entropy with integer targets: `l = logsumexp(x) - x_target`,
//!   `dl/dx = softmax(x) - onehot(target)`.

use smallvec::smallvec;
use tensor::{Element, Indices, Tensor};

use crate::gradients::full;
use crate::var::Var;

/// How a loss turns per-element values into its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over elements (over non-ignored targets, for cross-entropy). PyTorch's default.
    #[default]
    Mean,
    /// The sum over elements.
    Sum,
    /// No reduction: one loss per element.
    PerElement,
}

impl<T: Element> Var<T> {
    fn reduce_loss(&self, reduction: Reduction, count: usize) -> Var<T> {
        match reduction {
            Reduction::Mean => self.sum().div_scalar(T::from_usize(count)),
            Reduction::Sum => self.sum(),
            Reduction::PerElement => self.clone(),
        }
    }

    /// Binary cross-entropy on logits `x` against targets `t` in `[0, 1]`, with
    /// optional per-element `weights` (a mask of valid positions, say) that
    /// broadcast to `x`'s shape.
    ///
    /// `l = w * (max(x, 0) - x t + ln(1 + e^-|x|))`; `dl/dx = w * (sigmoid(x) - t)`.
    /// `Mean` divides by the number of elements, as PyTorch does.
    ///
    /// # Panics
    /// If `targets` does not have `x`'s shape, a target is not in `[0, 1]` (a
    /// label of 5 or -3, or NaN: the loss would be a number, and wrong), or
    /// `weights` does not broadcast to `x`'s shape.
    pub fn binary_cross_entropy_with_logits(
        &self,
        targets: &Tensor<T>,
        weights: Option<&Tensor<T>>,
        reduction: Reduction,
    ) -> Var<T> {
        assert_eq!(
            targets.shape(),
            self.shape(),
            "binary_cross_entropy_with_logits: targets of shape {:?} do not match logits of shape {:?}",
            targets.shape(),
            self.shape()
        );
        let outside = |t: &T| !(T::ZERO <= *t && *t <= T::ONE);
        if let Some((position, t)) = targets
            .to_vec()
            .iter()
            .enumerate()
            .find(|(_, t)| outside(t))
        {
            panic!(
                "binary_cross_entropy_with_logits: target {t} (element {position}) is not in [0, 1]"
            );
        }
        let weights = weights
            .map_or_else(|| Tensor::ones(&[]), |w| w.clone())
            .broadcast_to(self.shape());
        let x = self.value().clone();
        let per_element = x.zip_with(targets, "binary_cross_entropy_with_logits", |x, t| {
            x.max(T::ZERO) - x * t + (-x.abs()).exp().ln_1p()
        });
        let value = per_element.mul(&weights);
        let saved = vec![x, targets.clone(), weights];
        let losses = self
            .tape()
            .record("bce_with_logits", value, &[self], saved, |input| {
                let ([x, t, w], g) = (input.saved_tensors(), &input.grad_output);
                let residual = x.zip_with(t, "bce_backward", |x, t| x.sigmoid() - t);
                smallvec![full(residual.mul(w).mul(g))]
            });
        losses.reduce_loss(reduction, self.value().numel())
    }

    /// Cross-entropy of logits `[N, C]` against integer targets `[N]`; a target
    /// equal to `ignore_index` contributes nothing (padding in a character model).
    ///
    /// `l_i = logsumexp(x_i) - x_i[t_i]`; `dl_i/dx_i = softmax(x_i) - onehot(t_i)`.
    /// `Mean` divides by the number of non-ignored targets (NaN if there are none, as in PyTorch).
    ///
    /// # Panics
    /// If the logits are not 2-D, the targets are not `[N]`, or a target is out of range.
    pub fn cross_entropy(
        &self,
        targets: &Indices,
        ignore_index: Option<usize>,
        reduction: Reduction,
    ) -> Var<T> {
        assert!(
            self.ndim() == 2 && targets.shape() == [self.dim(0)],
            "cross_entropy: logits of shape {:?} need targets of shape [{}], got {:?}",
            self.shape(),
            self.shape().first().copied().unwrap_or(0),
            targets.shape()
        );
        let classes = self.dim(1);
        let keep: Vec<bool> = targets
            .values()
            .iter()
            .map(|&t| Some(t) != ignore_index)
            .collect();
        for (&t, &k) in targets.values().iter().zip(&keep) {
            assert!(
                !k || t < classes,
                "cross_entropy: target {t} is out of range for {classes} classes"
            );
        }
        // Ignored rows read class 0 (any valid class) and are then zeroed.
        let safe_targets = Indices::new(
            targets
                .values()
                .iter()
                .zip(&keep)
                .map(|(&t, &k)| if k { t } else { 0 })
                .collect(),
            &[targets.numel(), 1],
        );
        let keep_mask = Tensor::from_vec(
            keep.iter()
                .map(|&k| if k { T::ONE } else { T::ZERO })
                .collect(),
            &[keep.len()],
        );
        let log_probs = self.value().log_softmax(1);
        let picked = log_probs.gather(1, &safe_targets).reshape(&[keep.len()]);
        let value = picked.neg().mul(&keep_mask);
        let saved = vec![log_probs, keep_mask];
        let losses = self
            .tape()
            .record("cross_entropy", value, &[self], saved, move |input| {
                let ([log_probs, keep_mask], g) = (input.saved_tensors(), &input.grad_output);
                let ones = Tensor::ones(&[keep_mask.numel(), 1]);
                let softmax_minus_onehot =
                    log_probs.exp().scatter_add(1, &safe_targets, &ones.neg());
                let row_scale = g.mul(keep_mask).unsqueeze(1);
                smallvec![full(softmax_minus_onehot.mul(&row_scale))]
            });
        let count = keep.iter().filter(|&&k| k).count();
        losses.reduce_loss(reduction, count)
    }

    /// Mean squared error `mean((x - target)^2)`, composed from primitives.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn mse(&self, target: &Tensor<T>) -> Var<T> {
        (self - target).square().mean()
    }
}

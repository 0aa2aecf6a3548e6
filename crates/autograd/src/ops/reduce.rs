//! Reductions and softmax.
//!
//! A reduction's gradient spreads `g` back over the reduced entries: a sum
//! copies it to each (a broadcast view, no copy), a mean divides it by the
//! count, a max sends it to the entries that were the max.

use smallvec::smallvec;
use tensor::Element;

use crate::gradients::full;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `y = sum_i x_i`. `dL/dx_i = g`.
    pub fn sum(&self) -> Var<T> {
        let shape = self.shape().to_vec();
        self.tape()
            .record("sum", self.value().sum(), &[self], vec![], move |input| {
                smallvec![full(input.grad_output.broadcast_to(&shape))]
            })
    }

    /// `y = sum over axis`. `dL/dx = g` broadcast back along `axis`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Var<T> {
        let shape = self.shape().to_vec();
        self.tape().record(
            "sum_axis",
            self.value().sum_axis(axis, keepdim),
            &[self],
            vec![],
            move |input| {
                let g = if keepdim {
                    input.grad_output
                } else {
                    input.grad_output.unsqueeze(axis)
                };
                smallvec![full(g.broadcast_to(&shape))]
            },
        )
    }

    /// `y = mean of all elements`. `dL/dx_i = g / n`.
    pub fn mean(&self) -> Var<T> {
        let n = T::from_usize(self.value().numel());
        self.sum().div_scalar(n)
    }

    /// `y = mean over axis`. `dL/dx = g / n` broadcast back along `axis`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Var<T> {
        let n = T::from_usize(self.dim(axis));
        self.sum_axis(axis, keepdim).div_scalar(n)
    }

    /// `y = max of all elements`. `dL/dx_i = g * [x_i = y] / (number of maxima)`.
    ///
    /// # Panics
    /// If the var is empty.
    pub fn max(&self) -> Var<T> {
        let flat = self.reshape(&[self.value().numel()]);
        flat.max_axis(0, false).reshape(&[])
    }

    /// `y = max over axis`. `dL/dx = g * [x = y] / (number of maxima in that row)`:
    /// ties share the gradient equally.
    ///
    /// # Panics
    /// If the axis is out of range or empty.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Var<T> {
        let x = self.value().clone();
        let y = x.max_axis(axis, true);
        let value = if keepdim { y.clone() } else { y.squeeze(axis) };
        self.tape()
            .record("max_axis", value, &[self], vec![x, y], move |input| {
                let (x, y) = (&input.saved[0], &input.saved[1]);
                let g = if keepdim {
                    input.grad_output
                } else {
                    input.grad_output.unsqueeze(axis)
                };
                let is_max = x.eq_mask(y);
                let count = is_max.sum_axis(axis, true);
                smallvec![full(is_max.mul(&g.div(&count)))]
            })
    }

    /// `y = softmax(x)` along `axis`. `dL/dx = y * (g - sum_axis(g * y))`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn softmax(&self, axis: usize) -> Var<T> {
        let y = self.value().softmax(axis);
        self.tape()
            .record("softmax", y.clone(), &[self], vec![y], move |input| {
                let ([y], g) = (input.saved_tensors(), &input.grad_output);
                let dot = g.mul(y).sum_axis(axis, true);
                smallvec![full(y.mul(&g.sub(&dot)))]
            })
    }

    /// `y = log_softmax(x)` along `axis`. `dL/dx = g - e^y * sum_axis(g)`.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn log_softmax(&self, axis: usize) -> Var<T> {
        let y = self.value().log_softmax(axis);
        self.tape()
            .record("log_softmax", y.clone(), &[self], vec![y], move |input| {
                let ([y], g) = (input.saved_tensors(), &input.grad_output);
                let total = g.sum_axis(axis, true);
                let grad = y.exp().mul(&total);
                smallvec![full(g.sub(&grad))]
            })
    }
}

//! Matrix multiplication.

use smallvec::smallvec;
use tensor::Element;

use crate::gradients::full;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `Y = A B` for `[.., m, k] @ [.., k, n]`, leading axes broadcast.
    /// `dL/dA = sum_to(shape A, G B^T)`, `dL/dB = sum_to(shape B, A^T G)`.
    ///
    /// The transposes are views: the matmul's packing reads them in place.
    ///
    /// # Panics
    /// As [`Tensor::matmul`](tensor::Tensor::matmul).
    pub fn matmul(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        self.tape().record("matmul", a.matmul(&b), &[self, other], vec![a, b], |input| {
            let (g, a, b) = (&input.grad_output, &input.saved[0], &input.saved[1]);
            smallvec![
                input.needs_grad(0).then(|| g.matmul(&b.t()).sum_to(a.shape())).and_then(full),
                input.needs_grad(1).then(|| a.t().matmul(g).sum_to(b.shape())).and_then(full),
            ]
        })
    }
}

//! Matrix multiplication.

use smallvec::smallvec;
use tensor::Element;

use crate::gradients::full;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `Y = A B` for `[.., m, k] @ [.., k, n]`, leading axes broadcast; a 1-D
    /// operand is read as a row (left) or column (right) vector, as in NumPy.
    /// `dL/dA = sum_to(shape A, G B^T)`, `dL/dB = sum_to(shape B, A^T G)`.
    ///
    /// The transposes are views: the matmul's packing reads them in place.
    ///
    /// # Panics
    /// As [`Tensor::matmul`](tensor::Tensor::matmul).
    pub fn matmul(&self, other: &Var<T>) -> Var<T> {
        // A vector operand is a one-row (left) or one-column (right) matrix whose
        // extra axis is dropped from the product.
        if self.ndim() == 1 || other.ndim() == 1 {
            let left = if self.ndim() == 1 {
                self.unsqueeze(0)
            } else {
                self.clone()
            };
            let right = if other.ndim() == 1 {
                other.unsqueeze(1)
            } else {
                other.clone()
            };
            let mut product = left.matmul(&right);
            if other.ndim() == 1 {
                product = product.squeeze(product.ndim() - 1);
            }
            if self.ndim() == 1 {
                let row_axis = if other.ndim() == 1 {
                    product.ndim() - 1
                } else {
                    product.ndim() - 2
                };
                product = product.squeeze(row_axis);
            }
            return product;
        }
        let (a, b) = (self.value().clone(), other.value().clone());
        self.tape().record(
            "matmul",
            a.matmul(&b),
            &[self, other],
            vec![a, b],
            |input| {
                let (g, a, b) = (&input.grad_output, &input.saved[0], &input.saved[1]);
                smallvec![
                    input
                        .needs_grad(0)
                        .then(|| g.matmul(&b.t()).sum_to(a.shape()))
                        .and_then(full),
                    input
                        .needs_grad(1)
                        .then(|| a.t().matmul(g).sum_to(b.shape()))
                        .and_then(full),
                ]
            },
        )
    }
}

//! Matrix multiplication.

use smallvec::smallvec;
use tensor::Element;

use crate::var::Var;

impl<T: Element> Var<T> {
    /// `Y = A B` for `[.., m, k] @ [.., k, n]`, leading axes broadcast; a 1-D
    /// operand is read as a row (left) or column (right) vector, as in NumPy.
    /// `dL/dA = G B^T`, `dL/dB = A^T G`, each summed over the batch axes its
    /// operand was broadcast along (`sum_to`).
    ///
    /// The transposes are views: the matmul's packing reads them in place.
    ///
    /// ```
    /// use autograd::Tape;
    /// use tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
    /// let w = tape.leaf(Tensor::from_vec(vec![3.0, 4.0, 5.0, 6.0], &[2, 2]));
    /// let y = x.matmul(&w);
    /// assert_eq!(y.value().to_vec(), vec![13.0, 16.0]);
    /// let grads = tape.backward(&y.sum()).unwrap(); // G = [[1, 1]]
    /// assert_eq!(grads[&x].to_vec(), vec![7.0, 11.0]);          // G W^T
    /// assert_eq!(grads[&w].to_vec(), vec![1.0, 1.0, 2.0, 2.0]); // X^T G
    /// ```
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
                let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
                smallvec![
                    input.grad_for(0, || g.matmul(&b.t()).sum_to(a.shape())),
                    input.grad_for(1, || a.t().matmul(g).sum_to(b.shape())),
                ]
            },
        )
    }
}

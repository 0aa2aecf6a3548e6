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

impl<T: Element> Var<T> {
    /// `Y = X W + b` for `X: [m, k]`, `W: [k, n]`, `b: [n]` in one op
    /// (PyTorch's `addmm`): the bias is added into the product's own buffer,
    /// so no second `[m, n]` tensor is made. It equals `x.matmul(w) + b`
    /// (tested), and is what a layer's input projection uses.
    /// `dL/dX = G W^T`, `dL/dW = X^T G`, `dL/db = sum over rows of G`.
    ///
    /// # Panics
    /// If `X` or `W` is not 2-D, their inner sizes differ, or `b` is not `[n]`.
    pub fn matmul_add(&self, weight: &Var<T>, bias: &Var<T>) -> Var<T> {
        assert!(
            self.ndim() == 2 && weight.ndim() == 2 && bias.shape() == [weight.dim(1)],
            "matmul_add: needs X [m, k], W [k, n], b [n]; got {:?}, {:?}, {:?}",
            self.shape(),
            weight.shape(),
            bias.shape()
        );
        let (x, w) = (self.value().clone(), weight.value().clone());
        let mut y = x.matmul(&w);
        let b = bias.value().contiguous();
        let b = b.as_slice().expect("contiguous");
        for row in y.data_mut().chunks_mut(b.len().max(1)) {
            for (value, &shift) in row.iter_mut().zip(b) {
                *value += shift;
            }
        }
        self.tape().record(
            "matmul_add",
            y,
            &[self, weight, bias],
            vec![x, w],
            |input| {
                let (g, x, w) = (&input.grad_output, &input.saved[0], &input.saved[1]);
                smallvec![
                    input.needs_grad(0).then(|| g.matmul(&w.t())).and_then(full),
                    input.needs_grad(1).then(|| x.t().matmul(g)).and_then(full),
                    input
                        .needs_grad(2)
                        .then(|| g.sum_axis(0, false))
                        .and_then(full),
                ]
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tensor::Tensor;

    /// The fused op and the graph it replaces, `x.matmul(w) + b`, give the
    /// same values and the same gradients for every input, bit for bit.
    #[test]
    fn matmul_add_equals_matmul_then_add() {
        let rng = &mut StdRng::seed_from_u64(0);
        let (x, w, b) = (
            Tensor::<f32>::rand_normal(&[37, 19], 0.0, 1.0, rng),
            Tensor::<f32>::rand_normal(&[23, 19], 0.0, 1.0, rng),
            Tensor::<f32>::rand_normal(&[23], 0.0, 1.0, rng),
        );
        let g = Tensor::<f32>::rand_normal(&[37, 23], 0.0, 1.0, rng);
        let run = |fused: bool| {
            let tape = Tape::new();
            let (xv, wv, bv) = (
                tape.leaf(x.clone()),
                tape.leaf(w.clone()),
                tape.leaf(b.clone()),
            );
            let y = if fused {
                xv.matmul_add(&wv.t(), &bv)
            } else {
                xv.matmul(&wv.t()) + &bv
            };
            let grads = tape.backward_with(&y, g.clone()).unwrap();
            [
                y.value().clone(),
                grads[&xv].clone(),
                grads[&wv].clone(),
                grads[&bv].clone(),
            ]
        };
        assert_eq!(run(true), run(false));
    }
}

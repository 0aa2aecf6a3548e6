//! `Y = X W + b` in one op.

use smallvec::smallvec;
use tensor::{Element, Tensor};

use crate::gradients::GradientPiece;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `Y = X W + b` in one op (PyTorch's `addmm`), for `X: [m, k]`,
    /// `W: [k, n]` and `b` either a bias `[n]` added to every row or a whole
    /// `[m, n]` matrix: the addend goes into the product's own buffer, so no
    /// second `[m, n]` tensor is made. It equals `x.matmul(w) + b`, bit for
    /// bit (tested).
    /// `dL/dX = G W^T`, `dL/dW = X^T G`, `dL/db = G` (summed over rows for a bias `[n]`).
    ///
    /// # Panics
    /// If `X` or `W` is not 2-D, their inner sizes differ, or `b` is neither `[n]` nor `[m, n]`.
    pub fn matmul_add(&self, weight: &Var<T>, addend: &Var<T>) -> Var<T> {
        let per_row = check_matmul_add("matmul_add", self, weight, addend);
        let product = self.value().matmul(weight.value());
        self.record_matmul_add(weight, addend, product, per_row, |g, w| g.matmul(&w.t()))
    }

    /// Records `Y = product + b` for [`Var::matmul_add`] and
    /// [`Var::matmul_add_packed`], which differ only in how they multiply:
    /// `product` is `X W`, `times_w_t(G, W)` computes `G W^T` in backward,
    /// and `weight_gradient(X, G)` gives `W`'s piece of `X^T G`.
    pub(crate) fn record_matmul_add_with(
        &self,
        weight: &Var<T>,
        addend: &Var<T>,
        mut product: Tensor<T>,
        per_row: bool,
        times_w_t: impl FnOnce(&Tensor<T>, &Tensor<T>) -> Tensor<T> + 'static,
        weight_gradient: impl FnOnce(&Tensor<T>, &Tensor<T>) -> Option<GradientPiece<T>> + 'static,
    ) -> Var<T> {
        let b = addend.value().contiguous();
        tensor::fast::simd::wide(AddInto {
            out: product.data_mut(),
            addend: b.as_slice().expect("contiguous"),
        });
        let (x, w) = (self.value().clone(), weight.value().clone());
        self.tape().record(
            "matmul_add",
            product,
            &[self, weight, addend],
            vec![x, w],
            move |input| {
                let ([x, w], g) = (input.saved_tensors(), &input.grad_output);
                let addend = if per_row {
                    g.sum_axis(0, false)
                } else {
                    g.clone()
                };
                smallvec![
                    input.grad_for(0, || times_w_t(g, w)),
                    input.needs_grad(1).then(|| weight_gradient(x, g)).flatten(),
                    input.grad_for(2, || addend),
                ]
            },
        )
    }

    /// [`Var::record_matmul_add_with`] with `dL/dW = X^T G` as it is.
    fn record_matmul_add(
        &self,
        weight: &Var<T>,
        addend: &Var<T>,
        product: Tensor<T>,
        per_row: bool,
        times_w_t: impl FnOnce(&Tensor<T>, &Tensor<T>) -> Tensor<T> + 'static,
    ) -> Var<T> {
        self.record_matmul_add_with(weight, addend, product, per_row, times_w_t, |x, g| {
            Some(GradientPiece::Full(x.t().matmul(g)))
        })
    }
}

/// Checks `X: [m, k]`, `W: [k, n]` and `b: [n]` or `[m, n]` for `op`;
/// returns whether `b` is a bias added to every row.
pub(crate) fn check_matmul_add<T: Element>(
    op: &str,
    x: &Var<T>,
    weight: &Var<T>,
    addend: &Var<T>,
) -> bool {
    let per_row = weight.ndim() == 2 && addend.shape() == [weight.dim(1)];
    assert!(
        x.ndim() == 2
            && weight.ndim() == 2
            && x.dim(1) == weight.dim(0)
            && (per_row || addend.shape() == [x.dim(0), weight.dim(1)]),
        "{op}: needs X [m, k], W [k, n] and b [n] or [m, n]; got {:?}, {:?}, {:?}",
        x.shape(),
        weight.shape(),
        addend.shape()
    );
    per_row
}

/// `out += addend`, the addend repeated over the rows if it is shorter (a bias).
struct AddInto<'a, T> {
    out: &'a mut [T],
    addend: &'a [T],
}

impl<T: Element> tensor::fast::simd::WideLoop for AddInto<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for row in self.out.chunks_mut(self.addend.len().max(1)) {
            for (value, &shift) in row.iter_mut().zip(self.addend) {
                *value += shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tensor::Tensor;

    /// The fused op and the graph it replaces, `x.matmul(w) + b`, give the
    /// same values and the same gradients for every input, bit for bit, for a
    /// bias `[n]` and for a whole `[m, n]` addend.
    #[test]
    fn matmul_add_equals_matmul_then_add() {
        let rng = &mut StdRng::seed_from_u64(0);
        let (x, w) = (
            Tensor::<f32>::rand_normal(&[37, 19], 0.0, 1.0, rng),
            Tensor::<f32>::rand_normal(&[23, 19], 0.0, 1.0, rng),
        );
        for b_shape in [vec![23], vec![37, 23]] {
            let b = Tensor::<f32>::rand_normal(&b_shape, 0.0, 1.0, rng);
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
            assert_eq!(run(true), run(false), "addend {b_shape:?}");
        }
    }
}

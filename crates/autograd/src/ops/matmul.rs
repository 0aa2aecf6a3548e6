//! Matrix multiplication.

use std::cell::OnceCell;
use std::rc::Rc;

use smallvec::smallvec;
use tensor::fast::matmul::PackedMatrix;
use tensor::{Element, Tensor};

use crate::gradients::{full, GradientPiece};
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `Y = A B` for `[.., m, k] @ [.., k, n]`, leading axes broadcast; a 1-D
    /// operand is read as a row (left) or column (right) vector, as in NumPy.
    /// `dL/dA = sum_to(shape A, G B^T)`, `dL/dB = sum_to(shape B, A^T G)`
    /// (for 2-D operands as a [`GradientPiece::Product`], computed together
    /// with the other products reaching `B`).
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
                let grad_b = if a.ndim() == 2 && b.ndim() == 2 {
                    // Multiplied out later, with any other products reaching B (see `gradients`).
                    Some(GradientPiece::Product {
                        a: a.t(),
                        b: g.clone(),
                    })
                } else {
                    full(a.t().matmul(g).sum_to(b.shape()))
                };
                smallvec![
                    input.grad_for(0, || g.matmul(&b.t()).sum_to(a.shape())),
                    input.needs_grad(1).then_some(grad_b).flatten(),
                ]
            },
        )
    }
}

impl<T: Element> Var<T> {
    /// `Y = X W + b` in one op (PyTorch's `addmm`), for `X: [m, k]`,
    /// `W: [k, n]` and `b` either a bias `[n]` added to every row or a whole
    /// `[m, n]` matrix: the addend goes into the product's own buffer, so no
    /// second `[m, n]` tensor is made. It equals `x.matmul(w) + b` (tested).
    /// A layer's input projection adds its bias this way, and an RNN step its
    /// projected input to `h W_hh^T`.
    /// `dL/dX = G W^T`, `dL/dW = X^T G` (a [`GradientPiece::Product`]),
    /// `dL/db = G` summed over rows for a bias `[n]`.
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
    /// `product` is `X W`, and `times_w_t(G, W)` computes `G W^T` in backward.
    fn record_matmul_add(
        &self,
        weight: &Var<T>,
        addend: &Var<T>,
        mut product: Tensor<T>,
        per_row: bool,
        times_w_t: impl FnOnce(&Tensor<T>, &Tensor<T>) -> Tensor<T> + 'static,
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
                    input.needs_grad(1).then(|| GradientPiece::Product {
                        a: x.t(),
                        b: g.clone(),
                    }),
                    input.grad_for(2, || addend),
                ]
            },
        )
    }
}

/// Checks `X: [m, k]`, `W: [k, n]` and `b: [n]` or `[m, n]` for `op`;
/// returns whether `b` is a bias added to every row.
fn check_matmul_add<T: Element>(op: &str, x: &Var<T>, weight: &Var<T>, addend: &Var<T>) -> bool {
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

/// A weight `W: [k, n]` packed once for the many products `X_t W + b_t` of
/// a time loop ([`Var::matmul_add_packed`]): the forward products read `W`
/// packed, the backward products `G W^T` read `W^T` packed (made at the
/// first backward product). See `tensor`'s [`PackedMatrix`]: the numbers are
/// those of [`Var::matmul_add`], bit for bit, without packing `W` at every step.
/// The two packed copies (each the size of `W`) live as long as the ops
/// that use them; [`Tape::memory_bytes`](crate::Tape::memory_bytes) counts
/// `W` itself, not them.
#[derive(Clone)]
pub struct PackedWeight<T: Element> {
    weight: Var<T>,
    packs: Rc<WeightPacks<T>>,
}

struct WeightPacks<T: Element> {
    forward: PackedMatrix<T>,
    backward: OnceCell<PackedMatrix<T>>,
}

impl<T: Element> PackedWeight<T> {
    /// The weight var the products' gradients flow to.
    pub fn weight(&self) -> &Var<T> {
        &self.weight
    }
}

impl<T: Element> std::fmt::Debug for PackedWeight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedWeight({:?})", self.weight.shape())
    }
}

impl<T: Element> Var<T> {
    /// This `[k, n]` weight packed for many [`Var::matmul_add_packed`] products.
    ///
    /// # Panics
    /// If the var is not 2-D.
    pub fn packed(&self) -> PackedWeight<T> {
        PackedWeight {
            weight: self.clone(),
            packs: Rc::new(WeightPacks {
                forward: PackedMatrix::new(self.value()),
                backward: OnceCell::new(),
            }),
        }
    }

    /// [`Var::matmul_add`] with a weight packed once ([`Var::packed`]): the
    /// same values and gradients, bit for bit (tested).
    /// `dL/dX = G W^T` (with `W^T` packed), `dL/dW = X^T G`, `dL/db = G`
    /// (summed over rows for a bias `[n]`).
    ///
    /// # Panics
    /// If `X` is not `[m, k]` or `b` is neither `[n]` nor `[m, n]`.
    pub fn matmul_add_packed(&self, weight: &PackedWeight<T>, addend: &Var<T>) -> Var<T> {
        let per_row = check_matmul_add("matmul_add_packed", self, &weight.weight, addend);
        let product = self.value().matmul_packed(&weight.packs.forward);
        let packs = Rc::clone(&weight.packs);
        self.record_matmul_add(&weight.weight, addend, product, per_row, move |g, w| {
            g.matmul_packed(packs.backward.get_or_init(|| PackedMatrix::new(&w.t())))
        })
    }
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

    /// The packed weight, used for several products on one tape as a time
    /// loop does, gives what `matmul_add` gives, bit for bit: values and
    /// gradients (the weight's summed over the steps).
    #[test]
    fn matmul_add_packed_equals_matmul_add() {
        let rng = &mut StdRng::seed_from_u64(1);
        let w = Tensor::<f32>::rand_normal(&[48, 200], 0.0, 1.0, rng);
        let b = Tensor::<f32>::rand_normal(&[200], 0.0, 1.0, rng);
        let xs: Vec<Tensor<f32>> = (0..3)
            .map(|_| Tensor::<f32>::rand_normal(&[13, 48], 0.0, 1.0, rng))
            .collect();
        let run = |packed: bool| {
            let tape = Tape::new();
            let (wv, bv) = (tape.leaf(w.clone()), tape.leaf(b.clone()));
            let w_packed = wv.packed();
            let mut h = tape.leaf(xs[0].clone());
            let mut values = Vec::new();
            for x in &xs[1..] {
                let y = if packed {
                    h.matmul_add_packed(&w_packed, &bv)
                } else {
                    h.matmul_add(&wv, &bv)
                };
                values.push(y.value().clone());
                // The next step's input depends on this step's output.
                h = &y.narrow(1, 0, 48).tanh() + &tape.leaf(x.clone());
            }
            let grads = tape.backward(&h.square().sum()).unwrap();
            (values, grads[&wv].clone(), grads[&bv].clone())
        };
        assert_eq!(run(true), run(false));
    }
}

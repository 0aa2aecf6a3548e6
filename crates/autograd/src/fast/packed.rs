//! A weight packed once for the many products of a time loop, and its
//! gradient multiplied out once.
//!
//! A recurrent layer multiplies the same `W: [H, G*H]` at every step:
//! `y_t = h_t W + x_t`. Two costs repeat needlessly when each step is a plain
//! [`Var::matmul_add`]:
//!
//! - **forward**: the GEMM packs `W` into its kernel's layout at every step.
//!   Packed once ([`Var::packed`], `tensor`'s [`PackedMatrix`]), each step's
//!   product reads the packed copy: the same numbers, bit for bit. The
//!   backward products `g_t W^T` likewise read `W^T` packed once.
//! - **backward**: `dL/dW = sum_t h_t^T g_t`, one `[H x B] @ [B x G*H]`
//!   product per step, too thin to run fast, plus a full-size addition per
//!   step. Here each step only *keeps* its two factors; when every step's
//!   backward has run, the op that packed `W` multiplies them out as **one**
//!   product over the stacked factors, `[h_1 .. h_T]^T [g_1 .. g_T]`. That
//!   op was recorded before the first step, so the reverse sweep reaches it
//!   after the last one. The sum is the same, added in another order: equal
//!   within rounding to the per-step sum (tested).

use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use smallvec::smallvec;
use tensor::fast::matmul::PackedMatrix;
use tensor::{Element, Tensor};

use super::matmul_add::check_matmul_add;
use crate::gradients::GradientPiece;
use crate::var::Var;

/// A weight `W: [k, n]` packed once for the many products `X_t W + b_t` of
/// a time loop ([`Var::matmul_add_packed`]); see the [module docs](self).
/// The two packed copies (each the size of `W`) live as long as the ops
/// that use them.
#[derive(Clone)]
pub struct PackedWeight<T: Element> {
    /// The weight the gradients flow to.
    weight: Var<T>,
    /// The "pack" op's output: the steps' parent, whose backward multiplies
    /// out their deferred products.
    packed: Var<T>,
    packs: Rc<WeightPacks<T>>,
}

struct WeightPacks<T: Element> {
    forward: PackedMatrix<T>,
    backward: OnceCell<PackedMatrix<T>>,
    /// `(X_t^T, G_t)` of each step whose backward has run, in the order they ran.
    deferred: RefCell<Vec<(Tensor<T>, Tensor<T>)>>,
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
    /// It records one op, `pack` (`y = W`), whose backward adds the steps'
    /// deferred weight gradients, multiplied out as one product:
    /// `dL/dW = G + [x_1 .. x_T]^T [g_1 .. g_T]`.
    ///
    /// # Panics
    /// If the var is not 2-D.
    pub fn packed(&self) -> PackedWeight<T> {
        let packs = Rc::new(WeightPacks {
            forward: PackedMatrix::new(self.value()),
            backward: OnceCell::new(),
            deferred: RefCell::new(Vec::new()),
        });
        let deferred = Rc::clone(&packs);
        let packed = self.tape().record(
            "pack",
            self.value().clone(),
            &[self],
            Vec::new(),
            move |input| {
                let steps = deferred.deferred.take();
                smallvec![input.grad_for(0, || { &input.grad_output + &stacked_product(&steps) })]
            },
        );
        PackedWeight {
            weight: self.clone(),
            packed,
            packs,
        }
    }

    /// `Y = X W + b` with a weight packed once ([`Var::packed`]): the same
    /// values and input gradients as [`Var::matmul_add`], bit for bit, and
    /// the same weight gradient within rounding (tested).
    /// `dL/dX = G W^T` (with `W^T` packed), `dL/dW = X^T G` (kept, and
    /// multiplied out with the other steps' by the `pack` op), `dL/db = G`
    /// (summed over rows for a bias `[n]`).
    ///
    /// # Panics
    /// If `X` is not `[m, k]` or `b` is neither `[n]` nor `[m, n]`.
    pub fn matmul_add_packed(&self, weight: &PackedWeight<T>, addend: &Var<T>) -> Var<T> {
        let per_row = check_matmul_add("matmul_add_packed", self, &weight.packed, addend);
        let product = self.value().matmul_packed(&weight.packs.forward);
        let (for_input, for_weight) = (Rc::clone(&weight.packs), Rc::clone(&weight.packs));
        self.record_matmul_add_with(
            &weight.packed,
            addend,
            product,
            per_row,
            move |g, w| {
                g.matmul_packed(for_input.backward.get_or_init(|| PackedMatrix::new(&w.t())))
            },
            move |x, g| {
                let mut deferred = for_weight.deferred.borrow_mut();
                deferred.push((x.t(), g.clone()));
                // The first step to run backward opens the `pack` op's
                // gradient (a zero): it is then reached, after every step.
                (deferred.len() == 1)
                    .then(|| GradientPiece::Full(Tensor::zeros(&[x.dim(1), g.dim(1)])))
            },
        )
    }
}

/// `sum_t a_t b_t` as one product `[a_1 .. a_T] @ [b_1; ..; b_T]` over the
/// factors stacked along their shared axis.
fn stacked_product<T: Element>(steps: &[(Tensor<T>, Tensor<T>)]) -> Tensor<T> {
    if let [(a, b)] = steps {
        return a.matmul(b);
    }
    // Stack each a's columns (rows of a^T, contiguous when a is a transposed view).
    let a_t: Vec<Tensor<T>> = steps.iter().map(|(a, _)| a.t()).collect();
    let b: Vec<Tensor<T>> = steps.iter().map(|(_, b)| b.clone()).collect();
    Tensor::concat(&a_t, 0).t().matmul(&Tensor::concat(&b, 0))
}

#[cfg(test)]
mod tests {
    use crate::Tape;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tensor::Tensor;

    /// The packed weight, used for several products on one tape as a time
    /// loop does, gives what `matmul_add` gives: the values and the
    /// gradients of the inputs and the bias bit for bit, the weight's (one
    /// product over the stacked steps instead of a sum of per-step products)
    /// within a few units of rounding.
    #[test]
    fn matmul_add_packed_equals_matmul_add() {
        let rng = &mut StdRng::seed_from_u64(1);
        let w = Tensor::<f64>::rand_normal(&[48, 200], 0.0, 1.0, rng);
        let b = Tensor::<f64>::rand_normal(&[200], 0.0, 1.0, rng);
        let xs: Vec<Tensor<f64>> = (0..4)
            .map(|_| Tensor::<f64>::rand_normal(&[13, 48], 0.0, 1.0, rng))
            .collect();
        let run = |packed: bool| {
            let tape = Tape::new();
            let (wv, bv) = (tape.leaf(w.clone()), tape.leaf(b.clone()));
            let w_packed = wv.packed();
            let first = tape.leaf(xs[0].clone());
            let mut h = first.clone();
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
            (
                values,
                grads[&first].clone(),
                grads[&bv].clone(),
                grads[&wv].clone(),
            )
        };
        let (packed, plain) = (run(true), run(false));
        assert_eq!(packed.0, plain.0, "values");
        assert_eq!(packed.1, plain.1, "input gradient");
        assert_eq!(packed.2, plain.2, "bias gradient");
        let scale = plain.3.abs().max().item();
        let worst = (&packed.3 - &plain.3).abs().max().item();
        assert!(
            worst <= 1e-13 * scale,
            "weight gradient: {worst:e} of {scale:e}"
        );
    }
}

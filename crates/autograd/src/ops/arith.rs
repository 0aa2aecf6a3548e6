//! Arithmetic: the four operations with broadcasting, `neg`, `maximum`,
//! `minimum`, `where_` and dropout.

use smallvec::smallvec;
use tensor::{Element, Tensor};

use crate::gradients::full;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// `y = a + b` (broadcasting).
    /// `dL/da = sum_to(shape a, g)`, `dL/db = sum_to(shape b, g)`.
    pub fn add(&self, other: &Var<T>) -> Var<T> {
        let (shape_a, shape_b) = (self.shape().to_vec(), other.shape().to_vec());
        self.tape().record(
            "add",
            self.value().add(other.value()),
            &[self, other],
            vec![],
            move |input| {
                let g = &input.grad_output;
                smallvec![full(g.sum_to(&shape_a)), full(g.sum_to(&shape_b))]
            },
        )
    }

    /// `y = a - b` (broadcasting), built from two primitives as micrograd
    /// builds it: `a + (-b)`. Negation is exact, so this is `a - b` to the
    /// last bit, and its backward needs no rule of its own:
    /// `dL/da = sum_to(shape a, g)`, `dL/db = -sum_to(shape b, g)`.
    pub fn sub(&self, other: &Var<T>) -> Var<T> {
        self.add(&other.neg())
    }

    /// `y = a * b` (broadcasting).
    /// `dL/da = sum_to(shape a, g * b)`, `dL/db = sum_to(shape b, g * a)`.
    pub fn mul(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        self.tape()
            .record("mul", a.mul(&b), &[self, other], vec![a, b], |input| {
                let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
                smallvec![
                    input.grad_for(0, || g.mul(b).sum_to(a.shape())),
                    input.grad_for(1, || g.mul(a).sum_to(b.shape())),
                ]
            })
    }

    /// `y = a / b` (broadcasting).
    /// `dL/da = sum_to(shape a, g / b)`, `dL/db = -sum_to(shape b, g * a / b^2)`.
    pub fn div(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        self.tape()
            .record("div", a.div(&b), &[self, other], vec![a, b], |input| {
                let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
                let g_over_b = g.div(b);
                smallvec![
                    input.grad_for(0, || g_over_b.sum_to(a.shape())),
                    input.grad_for(1, || g_over_b.mul(a).div(b).neg().sum_to(b.shape())),
                ]
            })
    }

    /// `y = -x`. `dL/dx = -g`.
    pub fn neg(&self) -> Var<T> {
        self.tape()
            .record("neg", self.value().neg(), &[self], vec![], |input| {
                smallvec![full(input.grad_output.neg())]
            })
    }

    /// `y = x + c`. `dL/dx = g`.
    pub fn add_scalar(&self, c: T) -> Var<T> {
        self.tape()
            .record("add_scalar", self.value() + c, &[self], vec![], |input| {
                smallvec![full(input.grad_output)]
            })
    }

    /// `y = x - c`, built as `x + (-c)` (exact). `dL/dx = g`.
    pub fn sub_scalar(&self, c: T) -> Var<T> {
        self.add_scalar(-c)
    }

    /// `y = c * x`. `dL/dx = c * g`.
    pub fn mul_scalar(&self, c: T) -> Var<T> {
        self.tape().record(
            "mul_scalar",
            self.value() * c,
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.scale(c))],
        )
    }

    /// `y = x / c`. `dL/dx = g / c`.
    pub fn div_scalar(&self, c: T) -> Var<T> {
        self.tape().record(
            "div_scalar",
            self.value() / c,
            &[self],
            vec![],
            move |input| smallvec![full(&input.grad_output / c)],
        )
    }

    /// `y = max(a, b)` (broadcasting).
    /// `dL/da = sum_to(g * [a > b])`, `dL/db = sum_to(g * [b > a])`; ties split `g` in half.
    pub fn maximum(&self, other: &Var<T>) -> Var<T> {
        self.extremum(other, "maximum", |a, b| a > b)
    }

    /// `y = min(a, b)` (broadcasting).
    /// `dL/da = sum_to(g * [a < b])`, `dL/db = sum_to(g * [b < a])`; ties split `g` in half.
    pub fn minimum(&self, other: &Var<T>) -> Var<T> {
        self.extremum(other, "minimum", |a, b| a < b)
    }

    fn extremum(&self, other: &Var<T>, op: &'static str, wins: fn(T, T) -> bool) -> Var<T> {
        let (a, b) = (self.value().clone(), other.value().clone());
        let value = a.zip_with(&b, op, move |x, y| if wins(y, x) { y } else { x });
        self.tape()
            .record(op, value, &[self, other], vec![a, b], move |input| {
                let ([a, b], g) = (input.saved_tensors(), &input.grad_output);
                let half = T::from_f64(0.5);
                // Share of the gradient that goes to `a`: 1 if a wins, 1/2 on a tie, 0 if b wins.
                let share_a = a.zip_with(b, op, move |x, y| {
                    if wins(x, y) {
                        T::ONE
                    } else if x == y {
                        half
                    } else {
                        T::ZERO
                    }
                });
                let grad_a = g.mul(&share_a);
                let grad_b = g.sub(&grad_a);
                smallvec![
                    full(grad_a.sum_to(a.shape())),
                    full(grad_b.sum_to(b.shape()))
                ]
            })
    }

    /// `y = mask ? a : b` elementwise, for a constant `mask` (non-zero = true); all broadcast.
    /// `dL/da = sum_to(g * mask)`, `dL/db = sum_to(g * (1 - mask))`.
    pub fn where_(mask: &Tensor<T>, on_true: &Var<T>, on_false: &Var<T>) -> Var<T> {
        let value = Tensor::where_(mask, on_true.value(), on_false.value());
        let (shape_a, shape_b) = (on_true.shape().to_vec(), on_false.shape().to_vec());
        let zeros = Tensor::scalar(T::ZERO);
        on_true.tape().record(
            "where",
            value,
            &[on_true, on_false],
            vec![mask.clone()],
            move |input| {
                let ([mask], g) = (input.saved_tensors(), &input.grad_output);
                smallvec![
                    full(Tensor::where_(mask, g, &zeros).sum_to(&shape_a)),
                    full(Tensor::where_(mask, &zeros, g).sum_to(&shape_b)),
                ]
            },
        )
    }

    /// Inverted dropout with a given mask: `y = x * mask`, where `mask` holds
    /// `0` (dropped) or `1/(1-p)` (kept). `dL/dx = g * mask`.
    pub fn dropout_with_mask(&self, mask: &Tensor<T>) -> Var<T> {
        self.mul(&self.constant_like(mask.clone()))
    }

    /// Inverted dropout on a training tape ([`Tape::training`](crate::Tape::training)):
    /// zeroes each element with probability `p` and scales the rest by
    /// `1/(1-p)`, so the expected value is unchanged; the mask comes from the
    /// tape's generator. On any other tape, and for `p = 0`, the identity.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    pub fn dropout(&self, p: f64) -> Var<T> {
        assert!(
            (0.0..1.0).contains(&p),
            "dropout: probability {p} is not in [0, 1)"
        );
        if p == 0.0 || !self.tape().is_training() {
            return self.clone();
        }
        let mask = dropout_mask(self.tape(), self.shape(), p);
        self.dropout_with_mask(&mask)
    }
}

/// A mask of `0` (probability `p`) and `1/(1-p)`, drawn from the tape's generator.
pub fn dropout_mask<T: Element>(tape: &crate::Tape<T>, shape: &[usize], p: f64) -> Tensor<T> {
    let keep = 1.0 - p;
    tape.with_rng(|rng| Tensor::<T>::bernoulli(shape, keep, rng))
        .scale(T::from_f64(1.0 / keep))
}

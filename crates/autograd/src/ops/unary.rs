//! Elementwise functions of one input.
//!
//! Each rule is `dL/dx = g * f'(x)`, computed in one fused pass over `g` and
//! the saved tensor (the input `x`, or the output `y` when `f'` is cheaper in
//! terms of `y`, as for `exp`, `tanh` and `sigmoid`).

use smallvec::smallvec;
use tensor::{Element, Tensor};

use crate::gradients::full;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// Records `y = f(x)` whose rule is `dL/dx = local(g, saved)` elementwise.
    fn unary(
        &self,
        op: &'static str,
        value: Tensor<T>,
        saved: Tensor<T>,
        local: fn(T, T) -> T,
    ) -> Var<T> {
        self.tape()
            .record(op, value, &[self], vec![saved], move |input| {
                let ([saved], g) = (input.saved_tensors(), &input.grad_output);
                smallvec![full(g.zip_with(saved, op, local))]
            })
    }

    /// `y = e^x`. `dL/dx = g * y`.
    pub fn exp(&self) -> Var<T> {
        let y = self.value().exp();
        self.unary("exp", y.clone(), y, |g, y| g * y)
    }

    /// `y = ln x`. `dL/dx = g / x`.
    pub fn ln(&self) -> Var<T> {
        self.unary("ln", self.value().ln(), self.value().clone(), |g, x| g / x)
    }

    /// `y = ln(1 + x)`. `dL/dx = g / (1 + x)`.
    pub fn log1p(&self) -> Var<T> {
        self.unary(
            "log1p",
            self.value().log1p(),
            self.value().clone(),
            |g, x| g / (T::ONE + x),
        )
    }

    /// `y = tanh x`. `dL/dx = g * (1 - y^2)`.
    ///
    /// ```
    /// use autograd::Tape;
    /// use tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec(vec![0.0, 1.0], &[2]));
    /// let grads = tape.backward(&x.tanh().sum()).unwrap();
    /// let slope = grads[&x].to_vec();
    /// assert_eq!(slope[0], 1.0);
    /// assert!((slope[1] - (1.0 - 1.0f64.tanh().powi(2))).abs() < 1e-15);
    /// ```
    pub fn tanh(&self) -> Var<T> {
        let y = self.value().tanh();
        self.unary("tanh", y.clone(), y, |g, y| g * (T::ONE - y * y))
    }

    /// `y = 1 / (1 + e^-x)`. `dL/dx = g * y * (1 - y)`.
    pub fn sigmoid(&self) -> Var<T> {
        let y = self.value().sigmoid();
        self.unary("sigmoid", y.clone(), y, |g, y| g * y * (T::ONE - y))
    }

    /// `y = max(x, 0)`. `dL/dx = g * [y > 0]`.
    pub fn relu(&self) -> Var<T> {
        let y = self.value().relu();
        self.unary(
            "relu",
            y.clone(),
            y,
            |g, y| if y > T::ZERO { g } else { T::ZERO },
        )
    }

    /// `y = sqrt x`. `dL/dx = g / (2 y)`.
    pub fn sqrt(&self) -> Var<T> {
        let y = self.value().sqrt();
        self.unary("sqrt", y.clone(), y, |g, y| g / (y + y))
    }

    /// `y = x^2`. `dL/dx = 2 x g`.
    pub fn square(&self) -> Var<T> {
        self.unary(
            "square",
            self.value().square(),
            self.value().clone(),
            |g, x| g * (x + x),
        )
    }

    /// `y = |x|`. `dL/dx = g * sign(x)` (0 at 0).
    pub fn abs(&self) -> Var<T> {
        self.unary("abs", self.value().abs(), self.value().clone(), |g, x| {
            if x > T::ZERO {
                g
            } else if x < T::ZERO {
                -g
            } else {
                T::ZERO
            }
        })
    }

    /// `y = x^p`. `dL/dx = g * p * x^(p-1)`.
    pub fn powf(&self, exponent: T) -> Var<T> {
        let x = self.value().clone();
        self.tape()
            .record("powf", x.powf(exponent), &[self], vec![x], move |input| {
                let (p, [x], g) = (exponent, input.saved_tensors(), &input.grad_output);
                smallvec![full(
                    g.zip_with(x, "powf", move |g, x| g * p * x.powf(p - T::ONE))
                )]
            })
    }

    /// `y = min(max(x, low), high)`. `dL/dx = g` where `low <= x <= high`, else 0.
    pub fn clamp(&self, low: T, high: T) -> Var<T> {
        let x = self.value().clone();
        self.tape().record(
            "clamp",
            x.clamp(low, high),
            &[self],
            vec![x],
            move |input| {
                let inside = move |g: T, x: T| if x >= low && x <= high { g } else { T::ZERO };
                let ([x], g) = (input.saved_tensors(), &input.grad_output);
                smallvec![full(g.zip_with(x, "clamp", inside))]
            },
        )
    }
}

//! `Var`: a value on a tape, with the ops that record themselves.
//!
//! A `Var` holds its value (a [`Tensor`]) and, if it needs a gradient, the id
//! of its node on the tape. Ops on vars compute the value with the `tensor`
//! crate and record a backward rule (see [`ops`](crate::ops)); the Rust
//! operators `+ - * /` work between vars, and with tensors and scalars.

use std::ops::{Add, Div, Mul, Neg, Sub};

use tensor::{Element, Tensor};

use crate::tape::Tape;

/// A value recorded on a [`Tape`]. Cheap to clone (an `Rc` and an `Arc`).
///
/// ```
/// use autograd::Tape;
/// use tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let a = tape.leaf(Tensor::from_vec(vec![1.0, 2.0], &[2]));     // needs a gradient
/// let b = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2])); // does not
/// let y = (&a * &b + 1.0).tanh(); // three ops recorded: mul, add_scalar, tanh
/// assert!(a.requires_grad() && !b.requires_grad() && y.requires_grad());
/// assert_eq!(y.value().to_vec(), vec![4.0f64.tanh(), 9.0f64.tanh()]);
/// ```
pub struct Var<T: Element = f32> {
    tape: Tape<T>,
    node: Option<usize>,
    value: Tensor<T>,
}

impl<T: Element> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var {
            tape: self.tape.clone(),
            node: self.node,
            value: self.value.clone(),
        }
    }
}

impl<T: Element> std::fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var(node {:?}, {:?})", self.node, self.value)
    }
}

impl<T: Element> Var<T> {
    pub(crate) fn new(tape: Tape<T>, node: Option<usize>, value: Tensor<T>) -> Self {
        Var { tape, node, value }
    }

    /// The value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value's shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The number of axes.
    pub fn ndim(&self) -> usize {
        self.value.ndim()
    }

    /// The size of one axis.
    ///
    /// # Panics
    /// If `axis` is out of range.
    pub fn dim(&self, axis: usize) -> usize {
        self.value.dim(axis)
    }

    /// The value of a one-element var.
    ///
    /// # Panics
    /// If the var has more than one element.
    pub fn item(&self) -> T {
        self.value.item()
    }

    /// The tape this var was recorded on.
    pub fn tape(&self) -> &Tape<T> {
        &self.tape
    }

    /// The node id on the tape, or `None` for a value that needs no gradient.
    pub fn node(&self) -> Option<usize> {
        self.node
    }

    /// Whether gradients flow through this var.
    pub fn requires_grad(&self) -> bool {
        self.node.is_some()
    }

    /// The same value, cut off from the graph: no gradient flows back through it.
    ///
    /// A stateful RNN detaches its final state before feeding it to the next batch.
    pub fn detach(&self) -> Var<T> {
        self.tape.constant(self.value.clone())
    }

    /// Asks `backward` to keep this intermediate var's gradient (leaves always keep theirs).
    ///
    /// Lets an example read `dL/dh_t` for every time step `t`, to watch gradients
    /// vanish along time.
    pub fn retain_grad(&self) {
        if let Some(id) = self.node {
            self.tape.state.borrow_mut().nodes[id].retain_grad = true;
        }
    }

    /// Calls `hook` with this var's gradient `dL/dvar` during `backward`,
    /// once it is complete (every use of the var has added its part) and
    /// before it flows on to the var's inputs; a hook that returns a tensor
    /// replaces the gradient (PyTorch's `register_hook`). Hooks of one var
    /// run in the order they were registered, each seeing the last one's
    /// result. To see, scale or clip a gradient in flight:
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// use autograd::Tape;
    /// use tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    /// let h = &x * 3.0;
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let log = seen.clone();
    /// h.register_hook(move |grad| {
    ///     log.borrow_mut().push(grad.to_vec()); // dL/dh, as it flows back
    ///     Some(grad.scale(0.5))                  // halve it on its way to x
    /// });
    /// let grads = tape.backward(&h.square().sum()).unwrap();
    /// assert_eq!(seen.borrow()[0], vec![6.0, 12.0]);  // dL/dh = 2h
    /// assert_eq!(grads[&x].to_vec(), vec![9.0, 18.0]); // 3 * dL/dh / 2
    /// ```
    ///
    /// # Panics
    /// If the var needs no gradient (a constant, or on a tape that does not
    /// record): no gradient will ever reach it. During `backward`, if a hook
    /// returns a tensor of another shape than the gradient.
    pub fn register_hook(&self, hook: impl FnMut(&Tensor<T>) -> Option<Tensor<T>> + 'static) {
        let Some(id) = self.node else {
            panic!(
                "register_hook: this var needs no gradient (a constant, or recorded on a \
                 tape that does not record), so no gradient will reach its hook"
            );
        };
        let mut state = self.tape.state.borrow_mut();
        state.hooks.entry(id).or_default().push(Box::new(hook));
    }

    /// A constant on the same tape.
    pub(crate) fn constant_like(&self, value: Tensor<T>) -> Var<T> {
        self.tape.constant(value)
    }
}

macro_rules! var_operator {
    ($trait:ident, $method:ident, $var_op:ident, $scalar_op:ident) => {
        impl<T: Element> $trait<&Var<T>> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, other: &Var<T>) -> Var<T> {
                self.$var_op(other)
            }
        }
        impl<T: Element> $trait<Var<T>> for Var<T> {
            type Output = Var<T>;
            fn $method(self, other: Var<T>) -> Var<T> {
                (&self).$var_op(&other)
            }
        }
        impl<T: Element> $trait<&Var<T>> for Var<T> {
            type Output = Var<T>;
            fn $method(self, other: &Var<T>) -> Var<T> {
                (&self).$var_op(other)
            }
        }
        impl<T: Element> $trait<Var<T>> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, other: Var<T>) -> Var<T> {
                self.$var_op(&other)
            }
        }
        impl<T: Element> $trait<&Tensor<T>> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, other: &Tensor<T>) -> Var<T> {
                self.$var_op(&self.constant_like(other.clone()))
            }
        }
        impl<T: Element> $trait<T> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, scalar: T) -> Var<T> {
                self.$scalar_op(scalar)
            }
        }
        impl<T: Element> $trait<T> for Var<T> {
            type Output = Var<T>;
            fn $method(self, scalar: T) -> Var<T> {
                (&self).$scalar_op(scalar)
            }
        }
    };
}

var_operator!(Add, add, add, add_scalar);
var_operator!(Sub, sub, sub, sub_scalar);
var_operator!(Mul, mul, mul, mul_scalar);
var_operator!(Div, div, div, div_scalar);

macro_rules! scalar_on_the_left {
    ($t:ty) => {
        impl Add<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn add(self, var: &Var<$t>) -> Var<$t> {
                var.add_scalar(self)
            }
        }
        impl Sub<&Var<$t>> for $t {
            type Output = Var<$t>;
            /// `c - x`, as in a GRU's `1 - z`.
            fn sub(self, var: &Var<$t>) -> Var<$t> {
                var.neg().add_scalar(self)
            }
        }
        impl Mul<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn mul(self, var: &Var<$t>) -> Var<$t> {
                var.mul_scalar(self)
            }
        }
    };
}

scalar_on_the_left!(f32);
scalar_on_the_left!(f64);

impl<T: Element> Neg for &Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(self)
    }
}

impl<T: Element> Neg for Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(&self)
    }
}

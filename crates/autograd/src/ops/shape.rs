//! Shape ops: views and joins. Their gradients move `g` back into the input's
//! layout; slices add only into the part they read.

use smallvec::smallvec;
use tensor::{Element, Tensor};

use crate::gradients::{full, GradientPiece};
use crate::tape::ParentGradients;
use crate::var::Var;

impl<T: Element> Var<T> {
    /// Same elements, new shape. `dL/dx = reshape(g, shape x)`.
    ///
    /// # Panics
    /// If the sizes differ.
    pub fn reshape(&self, shape: &[usize]) -> Var<T> {
        let input_shape = self.shape().to_vec();
        self.tape().record(
            "reshape",
            self.value().reshape(shape),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.reshape(&input_shape))],
        )
    }

    /// Reorders axes. `dL/dx = permute(g, inverse order)`.
    ///
    /// # Panics
    /// If `order` is not a permutation of the axes.
    pub fn permute(&self, order: &[usize]) -> Var<T> {
        let mut inverse = vec![0; order.len()];
        for (i, &a) in order.iter().enumerate() {
            if a < inverse.len() {
                inverse[a] = i;
            }
        }
        self.tape().record(
            "permute",
            self.value().permute(order),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.permute(&inverse))],
        )
    }

    /// Swaps two axes. `dL/dx = transpose(g)`.
    ///
    /// # Panics
    /// If an axis is out of range.
    pub fn transpose(&self, axis_a: usize, axis_b: usize) -> Var<T> {
        self.tape().record(
            "transpose",
            self.value().transpose(axis_a, axis_b),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.transpose(axis_a, axis_b))],
        )
    }

    /// The same values laid out row-major: a copy if the value is a strided
    /// view (a transposed weight, say), itself otherwise. `dL/dx = g`.
    ///
    /// A weight that a time loop multiplies at every step is worth copying
    /// once: the products then read it row by row.
    pub fn contiguous(&self) -> Var<T> {
        if self.value().is_contiguous() {
            return self.clone();
        }
        self.tape().record(
            "contiguous",
            self.value().contiguous(),
            &[self],
            vec![],
            |input| smallvec![full(input.grad_output)],
        )
    }

    /// Swaps the last two axes.
    ///
    /// # Panics
    /// If there are fewer than two axes.
    pub fn t(&self) -> Var<T> {
        assert!(
            self.ndim() >= 2,
            "t: needs at least 2 axes, got shape {:?}",
            self.shape()
        );
        self.transpose(self.ndim() - 2, self.ndim() - 1)
    }

    /// Entries `start..start + length` along `axis`.
    /// `dL/dx` is `g` in that slice and 0 elsewhere, added in place (no full-size temporary).
    ///
    /// # Panics
    /// If the range does not fit.
    pub fn narrow(&self, axis: usize, start: usize, length: usize) -> Var<T> {
        self.tape().record(
            "narrow",
            self.value().narrow(axis, start, length),
            &[self],
            vec![],
            move |input| {
                smallvec![Some(GradientPiece::Narrow {
                    axis,
                    start,
                    grad: input.grad_output
                })]
            },
        )
    }

    /// Entry `index` along `axis`, axis removed. `dL/dx` is `g` at that entry, 0 elsewhere.
    ///
    /// # Panics
    /// If the index is out of bounds.
    pub fn select(&self, axis: usize, index: usize) -> Var<T> {
        self.tape().record(
            "select",
            self.value().select(axis, index),
            &[self],
            vec![],
            move |input| {
                smallvec![Some(GradientPiece::Narrow {
                    axis,
                    start: index,
                    grad: input.grad_output.unsqueeze(axis)
                })]
            },
        )
    }

    /// Removes a size-1 axis. `dL/dx = unsqueeze(g)`.
    ///
    /// # Panics
    /// If the axis does not have size 1.
    pub fn squeeze(&self, axis: usize) -> Var<T> {
        self.tape().record(
            "squeeze",
            self.value().squeeze(axis),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.unsqueeze(axis))],
        )
    }

    /// Inserts a size-1 axis. `dL/dx = squeeze(g)`.
    ///
    /// # Panics
    /// If `axis > ndim`.
    pub fn unsqueeze(&self, axis: usize) -> Var<T> {
        self.tape().record(
            "unsqueeze",
            self.value().unsqueeze(axis),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.squeeze(axis))],
        )
    }

    /// Stretches to `shape`. `dL/dx = sum_to(shape x, g)`.
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    pub fn broadcast_to(&self, shape: &[usize]) -> Var<T> {
        let input_shape = self.shape().to_vec();
        self.tape().record(
            "broadcast_to",
            self.value().broadcast_to(shape),
            &[self],
            vec![],
            move |input| smallvec![full(input.grad_output.sum_to(&input_shape))],
        )
    }

    /// Joins vars along `axis`. `dL/dx_i` is the slice of `g` that `x_i` filled (a view).
    ///
    /// # Panics
    /// If the list is empty or shapes differ off `axis`.
    pub fn concat(vars: &[Var<T>], axis: usize) -> Var<T> {
        assert!(!vars.is_empty(), "concat: needs at least one var");
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value().clone()).collect();
        let sizes: Vec<usize> = vars.iter().map(|v| v.dim(axis)).collect();
        let parents: Vec<&Var<T>> = vars.iter().collect();
        vars[0].tape().record(
            "concat",
            Tensor::concat(&values, axis),
            &parents,
            vec![],
            move |input| {
                input
                    .grad_output
                    .split(&sizes, axis)
                    .into_iter()
                    .map(full)
                    .collect::<ParentGradients<T>>()
            },
        )
    }

    /// Stacks equally shaped vars along a new axis. `dL/dx_i = select(g, axis, i)`.
    ///
    /// # Panics
    /// If the list is empty or shapes differ.
    pub fn stack(vars: &[Var<T>], axis: usize) -> Var<T> {
        assert!(!vars.is_empty(), "stack: needs at least one var");
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value().clone()).collect();
        let parents: Vec<&Var<T>> = vars.iter().collect();
        vars[0].tape().record(
            "stack",
            Tensor::stack(&values, axis),
            &parents,
            vec![],
            move |input| {
                input
                    .grad_output
                    .unbind(axis)
                    .into_iter()
                    .map(full)
                    .collect::<ParentGradients<T>>()
            },
        )
    }

    /// Cuts `axis` into pieces of the given sizes. Each piece's gradient is added
    /// into its own slice of `dL/dx`, so all pieces together cost one pass over `x`.
    ///
    /// # Panics
    /// If the sizes do not add up to the axis length.
    pub fn split(&self, sizes: &[usize], axis: usize) -> Vec<Var<T>> {
        tensor::shape::check_split(self.shape(), sizes, axis);
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let piece = self.narrow(axis, start, n);
                start += n;
                piece
            })
            .collect()
    }

    /// Cuts `axis` into `chunks` equal pieces (an LSTM's four gates, say).
    ///
    /// # Panics
    /// If the axis length is not divisible by `chunks`.
    pub fn chunk(&self, chunks: usize, axis: usize) -> Vec<Var<T>> {
        self.split(
            &tensor::shape::chunk_sizes(self.shape(), chunks, axis),
            axis,
        )
    }

    /// Every entry along `axis`, each with the axis removed (time steps of a sequence, say).
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn unbind(&self, axis: usize) -> Vec<Var<T>> {
        (0..self.dim(axis)).map(|i| self.select(axis, i)).collect()
    }
}

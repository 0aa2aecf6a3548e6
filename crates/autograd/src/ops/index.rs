//! Integer indexing: embedding lookup and gather. Their rules scatter-add `g`
//! back to the rows that were read, so a row read twice gets both gradients.

use smallvec::smallvec;
use tensor::{Element, Indices, Tensor};

use crate::gradients::{full, GradientPiece};
use crate::var::Var;

impl<T: Element> Var<T> {
    /// Entries `ids` along `axis` (an embedding lookup for `axis = 0`).
    /// `dL/dx = index_add(zeros, axis, ids, g)`: the rule returns `g` and
    /// the ids ([`GradientPiece::Selected`]), and the reverse sweep adds them
    /// into `x`'s gradient, so the entries not read cost nothing.
    ///
    /// # Panics
    /// If an id is out of bounds.
    pub fn index_select(&self, axis: usize, ids: &[usize]) -> Var<T> {
        let ids_saved = ids.to_vec();
        self.tape().record(
            "index_select",
            self.value().index_select(axis, ids),
            &[self],
            vec![],
            move |input| {
                smallvec![Some(GradientPiece::Selected {
                    axis,
                    ids: ids_saved,
                    grad: input.grad_output,
                })]
            },
        )
    }

    /// PyTorch's `gather` along `axis`. `dL/dx = scatter_add(zeros, axis, index, g)`.
    ///
    /// # Panics
    /// As [`Tensor::gather`].
    pub fn gather(&self, axis: usize, index: &Indices) -> Var<T> {
        let shape = self.shape().to_vec();
        let index_saved = index.clone();
        self.tape().record(
            "gather",
            self.value().gather(axis, index),
            &[self],
            vec![],
            move |input| {
                smallvec![full(Tensor::zeros(&shape).scatter_add(
                    axis,
                    &index_saved,
                    &input.grad_output
                ))]
            },
        )
    }
}

//! `Embedding`: a learned vector per token id, `y[b, t] = W[ids[b, t]]`.
//!
//! The lookup is one `index_select` on the `[vocab, dim]` table; its backward
//! adds each position's gradient into the row it read, so a word seen twice
//! gets both contributions.
//!
//! Padding, the two ways:
//! - PyTorch's `padding_idx`: that row starts at zero and never receives a
//!   gradient, so it stays zero while training.
//! - Keras' `mask_zero`: id 0 means "no token"; [`Embedding::compute_mask`]
//!   returns the `[B, T]` mask of real tokens, which a recurrent layer takes to
//!   skip padded steps (see [`recurrent`](crate::recurrent)).

use autograd::{Param, Tape, Var};
use rand::Rng;
use tensor::{Element, Indices, Tensor};

use crate::init::{self, InitScheme};
use crate::module::{Module, Visitor, VisitorMut};

/// Options of an [`Embedding`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmbeddingOptions {
    /// A padding id whose row is zero and gets no gradient (PyTorch's `padding_idx`).
    pub padding_idx: Option<usize>,
    /// Treat id 0 as padding for [`Embedding::compute_mask`] (Keras' `mask_zero`).
    pub mask_zero: bool,
    /// Keras (`U(-0.05, 0.05)`, the default) or PyTorch (`N(0, 1)`).
    pub init: InitScheme,
}

/// A `[vocab, dim]` table of learned token vectors.
#[derive(Clone, Debug)]
pub struct Embedding<T: Element = f32> {
    weight: Param<T>,
    options: EmbeddingOptions,
}

impl<T: Element> Embedding<T> {
    /// A table with Keras' default initialization and no padding id.
    ///
    /// # Panics
    /// If `vocab_size` or `dim` is 0.
    pub fn new(vocab_size: usize, dim: usize, rng: &mut impl Rng) -> Self {
        Self::with_options(vocab_size, dim, EmbeddingOptions::default(), rng)
    }

    /// A table with the given options; the padding row, if any, starts at zero.
    ///
    /// # Panics
    /// If `vocab_size` or `dim` is 0, or `padding_idx` is not below `vocab_size`.
    pub fn with_options(
        vocab_size: usize,
        dim: usize,
        options: EmbeddingOptions,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(
            vocab_size > 0 && dim > 0,
            "Embedding: vocab_size = {vocab_size} and dim = {dim} must both be at least 1"
        );
        let shape = [vocab_size, dim];
        let mut weight: Tensor<T> = match options.init {
            InitScheme::Keras => init::uniform(&shape, 0.05, rng),
            InitScheme::PyTorch => Tensor::rand_normal(&shape, 0.0, 1.0, rng),
        };
        if let Some(pad) = options.padding_idx {
            assert!(
                pad < vocab_size,
                "Embedding: padding_idx {pad} is out of range for a vocabulary of {vocab_size}"
            );
            weight.data_mut()[pad * dim..(pad + 1) * dim].fill(T::ZERO);
        }
        Embedding {
            weight: Param::new(weight),
            options,
        }
    }

    /// The table `W`, `[vocab, dim]`.
    pub fn weight(&self) -> &Param<T> {
        &self.weight
    }

    /// The table, mutably (to load pretrained vectors, say).
    pub fn weight_mut(&mut self) -> &mut Param<T> {
        &mut self.weight
    }

    /// The number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The length of each vector.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The options the layer was made with.
    pub fn options(&self) -> &EmbeddingOptions {
        &self.options
    }

    /// The output shape for ids of shape `ids_shape`: `[.., dim]`.
    pub fn output_shape(&self, ids_shape: &[usize]) -> Vec<usize> {
        let mut shape = ids_shape.to_vec();
        shape.push(self.dim());
        shape
    }

    /// The vectors of `ids` (any shape), giving `ids.shape() ++ [dim]`.
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::Embedding;
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use tensor::Indices;
    ///
    /// let table = Embedding::<f32>::new(10, 4, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let vectors = table.forward(&tape, &Indices::new(vec![1, 2, 3, 9, 0, 0], &[2, 3]));
    /// assert_eq!(vectors.shape(), &[2, 3, 4]);
    /// ```
    ///
    /// # Panics
    /// If an id is not below `vocab_size`.
    pub fn forward(&self, tape: &Tape<T>, ids: &Indices) -> Var<T> {
        let vocab_size = self.vocab_size();
        if let Some((position, id)) = ids
            .values()
            .iter()
            .enumerate()
            .find(|(_, &id)| id >= vocab_size)
        {
            panic!(
                "Embedding: token id {id} (position {position} of ids {:?}) is out of range for a vocabulary of {vocab_size}",
                ids.shape()
            );
        }
        let rows = tape.param(&self.weight).index_select(0, ids.values());
        let rows = match self.options.padding_idx {
            // Same values, but padding positions pass no gradient to the table.
            Some(pad) if ids.values().contains(&pad) => {
                let keep = not_equal_mask::<T>(ids.values(), pad);
                let keep = Tensor::from_vec(keep, &[ids.numel(), 1]);
                Var::where_(&keep, &rows, &rows.detach())
            }
            _ => rows,
        };
        rows.reshape(&self.output_shape(ids.shape()))
    }

    /// The mask of real tokens (1.0) and padding (0.0), shaped like `ids`:
    /// `ids != 0` with `mask_zero` (Keras), else `ids != padding_idx`
    /// (PyTorch), else `None` (no padding defined).
    pub fn compute_mask(&self, ids: &Indices) -> Option<Tensor<T>> {
        let pad = if self.options.mask_zero {
            Some(0)
        } else {
            self.options.padding_idx
        }?;
        Some(Tensor::from_vec(
            not_equal_mask(ids.values(), pad),
            ids.shape(),
        ))
    }
}

fn not_equal_mask<T: Element>(ids: &[usize], pad: usize) -> Vec<T> {
    ids.iter()
        .map(|&id| if id == pad { T::ZERO } else { T::ONE })
        .collect()
}

impl<T: Element> Module<T> for Embedding<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.param("weight", &self.weight);
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.param("weight", &mut self.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn lookup_gives_rows_and_padding_gets_no_gradient() {
        let options = EmbeddingOptions {
            padding_idx: Some(0),
            ..Default::default()
        };
        let table = Embedding::<f64>::with_options(4, 2, options, &mut StdRng::seed_from_u64(0));
        assert_eq!(table.weight().value().select(0, 0).to_vec(), vec![0.0, 0.0]);
        let ids = Indices::new(vec![2, 0, 2, 3], &[2, 2]);
        let tape = Tape::new();
        let y = table.forward(&tape, &ids);
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(
            y.value().select(0, 0).select(0, 0),
            table.weight().value().select(0, 2)
        );
        let grads = tape.backward(&y.sum()).unwrap();
        // Row 2 is read twice, row 3 once, row 0 (padding) once but gets nothing.
        assert_eq!(
            table.weight().grad(&grads).unwrap().to_vec(),
            vec![0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 1.0, 1.0]
        );
    }

    #[test]
    fn mask_zero_marks_real_tokens() {
        let options = EmbeddingOptions {
            mask_zero: true,
            ..Default::default()
        };
        let table = Embedding::<f32>::with_options(5, 3, options, &mut StdRng::seed_from_u64(1));
        let mask = table
            .compute_mask(&Indices::new(vec![0, 0, 4, 1, 2, 0], &[2, 3]))
            .unwrap();
        assert_eq!(mask.to_vec(), vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(mask.shape(), &[2, 3]);
        assert!(Embedding::<f32>::new(5, 3, &mut StdRng::seed_from_u64(1))
            .compute_mask(&Indices::from_slice(&[1]))
            .is_none());
    }
}

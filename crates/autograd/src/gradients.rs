//! Gradients: what `backward` returns, and how pieces of a gradient add up.
//!
//! A value used by several ops receives one gradient from each: by the chain
//! rule they *add* (`dL/dx = sum over uses of dL/dy_use * dy_use/dx`). So the
//! reverse sweep accumulates into one buffer per node.
//!
//! Most backward rules return a gradient with the parent's full shape
//! ([`GradientPiece::Full`]). Slicing ops return only the slice they read
//! ([`GradientPiece::Narrow`]), which is added in place into the parent's
//! buffer. Cutting `T` time steps out of a `[B, T, 4H]` projection then costs
//! `O(B*T*4H)` in backward, not `T` full-size zero tensors.
//!
//! Gathering ops (an embedding lookup) likewise return only the entries they
//! read, with their ids ([`GradientPiece::Selected`]), added in place with
//! `index_add`. An embedding's gradient is *sparse*: a batch of 64 reviews
//! of 200 tokens reads at most 12,800 of a 20,002-word table's rows, and
//! every other row's gradient is zero. `Gradients` remembers which rows a
//! gradient made only of such pieces has ([`Gradients::rows_touched`]), so
//! code that adds or reads many such gradients can skip the zero rows.

use std::collections::HashMap;
use std::ops::Index;

use tensor::{Element, Tensor};

use crate::param::{Param, ParamId};
use crate::var::Var;

/// The gradient one backward rule sends to one parent.
#[derive(Clone, Debug)]
pub enum GradientPiece<T: Element> {
    /// A gradient with exactly the parent's shape.
    Full(Tensor<T>),
    /// A gradient for entries `start..start + grad.dim(axis)` along `axis` only;
    /// every other entry's gradient is zero.
    Narrow {
        /// The sliced axis.
        axis: usize,
        /// The first entry of the slice.
        start: usize,
        /// The slice's gradient (the parent's shape, but `axis` shortened).
        grad: Tensor<T>,
    },
    /// A gradient for the entries `ids` along `axis` only (an id may come
    /// more than once: its gradients add up); every other entry's gradient
    /// is zero.
    Selected {
        /// The axis the ids index.
        axis: usize,
        /// The entries read, in the order of `grad`'s slices along `axis`.
        ids: Vec<usize>,
        /// The gradient of each entry read (the parent's shape, but `axis`
        /// of length `ids.len()`).
        grad: Tensor<T>,
    },
}

/// Shorthand for a rule's full-shape gradient for one parent.
pub fn full<T: Element>(grad: Tensor<T>) -> Option<GradientPiece<T>> {
    Some(GradientPiece::Full(grad))
}

/// The gradients `backward` computed, indexed by the [`Var`]s they belong to,
/// and by [`Param`] for the parameters the pass used.
///
/// Leaves always keep their gradient; other vars only if
/// [`Var::retain_grad`] was called before `backward`. A var that does not
/// reach the loss has no gradient (`None`), never a silent zero tensor.
///
/// `Gradients` holds no reference to its tape: drop the tape, keep these.
pub struct Gradients<T: Element = f32> {
    pub(crate) grads: Vec<Option<Tensor<T>>>,
    /// The leaf node of each parameter the pass used.
    params: HashMap<ParamId, usize>,
    /// For each node whose gradient came only from [`GradientPiece::Selected`]
    /// pieces along axis 0: the rows they touched, sorted, each once. Every
    /// other row of that gradient is exactly zero.
    pub(crate) rows: HashMap<usize, Vec<usize>>,
}

impl<T: Element> Gradients<T> {
    /// An empty set for a tape of `len` nodes whose parameters are the leaves `params`.
    pub(crate) fn with_len(len: usize, params: HashMap<ParamId, usize>) -> Self {
        Gradients {
            grads: vec![None; len],
            params,
            rows: HashMap::new(),
        }
    }

    /// `dL/dparam`, if the parameter was used on the tape and reaches the loss.
    pub fn param(&self, param: &Param<T>) -> Option<&Tensor<T>> {
        self.by_id(param.id())
    }

    /// `dL/dparam` for the parameter with identity `id`.
    pub fn by_id(&self, id: ParamId) -> Option<&Tensor<T>> {
        self.params
            .get(&id)
            .and_then(|&node| self.grads[node].as_ref())
    }

    /// Mutable access to a parameter's gradient (to clip or rescale it).
    /// Its [rows touched](Gradients::rows_touched) are forgotten: the caller
    /// may write anywhere.
    pub fn by_id_mut(&mut self, id: ParamId) -> Option<&mut Tensor<T>> {
        let node = *self.params.get(&id)?;
        self.rows.remove(&node);
        self.grads[node].as_mut()
    }

    /// The rows of `dL/dparam` that can be nonzero, sorted, when the
    /// parameter was only read by row lookups (an embedding table read by
    /// `index_select` along axis 0); every other row of its gradient is
    /// exactly zero. `None` when the gradient may be dense (or is absent).
    pub fn rows_touched(&self, param: &Param<T>) -> Option<&[usize]> {
        self.rows_touched_by_id(param.id())
    }

    /// [`Gradients::rows_touched`] for the parameter with identity `id`.
    pub fn rows_touched_by_id(&self, id: ParamId) -> Option<&[usize]> {
        self.params
            .get(&id)
            .and_then(|node| self.rows.get(node))
            .map(Vec::as_slice)
    }

    /// The identities of the parameters that have a gradient, in a stable
    /// (sorted) order.
    pub fn param_ids(&self) -> Vec<ParamId> {
        let mut ids: Vec<ParamId> = self
            .params
            .iter()
            .filter(|(_, &node)| self.grads[node].is_some())
            .map(|(&id, _)| id)
            .collect();
        ids.sort();
        ids
    }

    /// Adds the parameter gradients of `other` (another pass, say over another
    /// part of the batch) into these: `g_p += other_p` for every parameter.
    /// A parameter only `other` has is taken as it is.
    ///
    /// # Panics
    /// If a parameter's two gradients differ in shape.
    pub fn add_params(&mut self, other: &Gradients<T>) {
        for id in other.param_ids() {
            let grad = other.by_id(id).expect("listed with a gradient");
            let node = self.add_param_with(id, grad, |total| *total += grad);
            self.merge_rows_touched(node, other.rows_touched_by_id(id));
        }
    }

    /// Adds `grad`, the gradient of parameter `id`, into these with `add`,
    /// or takes a copy when this set has none; returns the parameter's node.
    pub(crate) fn add_param_with(
        &mut self,
        id: ParamId,
        grad: &Tensor<T>,
        add: impl FnOnce(&mut Tensor<T>),
    ) -> usize {
        match self.params.get(&id).copied() {
            Some(node) if self.grads[node].is_some() => {
                add(self.grads[node].as_mut().expect("checked"));
                node
            }
            _ => {
                self.grads.push(Some(grad.clone()));
                let node = self.grads.len() - 1;
                self.params.insert(id, node);
                // A copy: its rows are the other's, merged in next.
                self.rows.insert(node, Vec::new());
                node
            }
        }
    }

    /// After a gradient that touches `added` (`None`: it may be dense) was
    /// added into node `node`'s: its rows touched are the union of the two,
    /// or unknown if either may be dense.
    pub(crate) fn merge_rows_touched(&mut self, node: usize, added: Option<&[usize]>) {
        if let (Some(own), Some(added)) = (self.rows.remove(&node), added) {
            self.rows.insert(node, union_sorted(&own, added));
        }
    }

    /// `dL/dvar`, if `var` reaches the loss (and is a leaf or retained).
    pub fn get(&self, var: &Var<T>) -> Option<&Tensor<T>> {
        var.node()
            .and_then(|id| self.grads.get(id))
            .and_then(Option::as_ref)
    }

    /// Removes and returns the gradient of `var`.
    pub fn take(&mut self, var: &Var<T>) -> Option<Tensor<T>> {
        let node = var.node()?;
        self.rows.remove(&node);
        self.grads.get_mut(node).and_then(Option::take)
    }

    /// The number of vars that have a gradient.
    pub fn len(&self) -> usize {
        self.grads.iter().flatten().count()
    }

    /// Whether no var has a gradient.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one piece into node `id`'s gradient (of shape `shape`).
    pub(crate) fn accumulate(
        &mut self,
        id: usize,
        shape: &[usize],
        piece: GradientPiece<T>,
        op: &str,
    ) {
        let slot = &mut self.grads[id];
        let rows_so_far = if slot.is_none() {
            Some(Vec::new())
        } else {
            self.rows.remove(&id)
        };
        match piece {
            GradientPiece::Full(grad) => {
                assert_eq!(
                    grad.shape(),
                    shape,
                    "backward of {op}: a gradient of shape {:?} was returned for an input of shape {shape:?}",
                    grad.shape()
                );
                match slot {
                    Some(total) => *total += &grad,
                    None => *slot = Some(grad),
                }
            }
            GradientPiece::Narrow { axis, start, grad } => {
                let total = slot.get_or_insert_with(|| Tensor::zeros(shape));
                total.narrow_add_assign(axis, start, &grad);
            }
            GradientPiece::Selected { axis, ids, grad } => {
                let total = slot.get_or_insert_with(|| Tensor::zeros(shape));
                total.index_add_assign(axis, &ids, &grad);
                if let (0, Some(so_far)) = (axis, rows_so_far) {
                    let mut read = ids;
                    read.sort_unstable();
                    read.dedup();
                    self.rows.insert(id, union_sorted(&so_far, &read));
                }
            }
        }
    }

    /// The gradient of node `id`, if any (for `backward` itself).
    pub(crate) fn slot(&mut self, id: usize) -> &mut Option<Tensor<T>> {
        &mut self.grads[id]
    }
}

/// The sorted union of two sorted lists without repeats.
fn union_sorted(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut union = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let next = a[i].min(b[j]);
        union.push(next);
        i += usize::from(a[i] == next);
        j += usize::from(b[j] == next);
    }
    union.extend_from_slice(&a[i..]);
    union.extend_from_slice(&b[j..]);
    union
}

impl<T: Element> std::fmt::Debug for Gradients<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shapes: Vec<(usize, &[usize])> = self
            .grads
            .iter()
            .enumerate()
            .filter_map(|(id, g)| g.as_ref().map(|g| (id, g.shape())))
            .collect();
        write!(f, "Gradients {{ node: shape }} {shapes:?}")
    }
}

impl<T: Element> Index<&Var<T>> for Gradients<T> {
    type Output = Tensor<T>;

    /// `grads[&w]`: the gradient of `w`.
    ///
    /// # Panics
    /// If `w` has no gradient (it does not reach the loss, or is a constant).
    fn index(&self, var: &Var<T>) -> &Tensor<T> {
        self.get(var).unwrap_or_else(|| {
            panic!(
                "no gradient for this var (shape {:?}): it is a constant, does not reach the loss, \
                 or is an intermediate value without retain_grad()",
                var.shape()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Param, Tape};
    use tensor::Tensor;

    fn table() -> Param<f64> {
        Param::new(Tensor::from_vec((0..12).map(f64::from).collect(), &[6, 2]))
    }

    /// A table read only by lookups knows its rows; every other row's
    /// gradient is zero, and the rows read twice got both gradients.
    #[test]
    fn lookups_record_the_rows_they_touched() {
        let table = table();
        let tape = Tape::new();
        let w = tape.param(&table);
        let loss = w.index_select(0, &[4, 1, 4]).sum() + w.index_select(0, &[2]).sum();
        let grads = tape.backward(&loss).unwrap();
        assert_eq!(grads.rows_touched(&table), Some(&[1, 2, 4][..]));
        let expected = [0., 0., 1., 1., 1., 1., 0., 0., 2., 2., 0., 0.];
        assert_eq!(grads.param(&table).unwrap().to_vec(), expected);
    }

    /// A table also used whole (or read along another axis) may be dense.
    #[test]
    fn a_table_used_whole_has_no_rows_recorded() {
        let table = table();
        let tape = Tape::new();
        let w = tape.param(&table);
        let loss = w.index_select(0, &[3]).sum() + w.sum();
        assert_eq!(tape.backward(&loss).unwrap().rows_touched(&table), None);
        let tape = Tape::new();
        let loss = tape.param(&table).index_select(1, &[0]).sum();
        assert_eq!(tape.backward(&loss).unwrap().rows_touched(&table), None);
    }
}

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
}

impl<T: Element> Gradients<T> {
    /// An empty set for a tape of `len` nodes whose parameters are the leaves `params`.
    pub(crate) fn with_len(len: usize, params: HashMap<ParamId, usize>) -> Self {
        Gradients {
            grads: vec![None; len],
            params,
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
    pub fn by_id_mut(&mut self, id: ParamId) -> Option<&mut Tensor<T>> {
        let node = *self.params.get(&id)?;
        self.grads[node].as_mut()
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
            match self.by_id_mut(id) {
                Some(total) => *total += grad,
                None => {
                    self.grads.push(Some(grad.clone()));
                    self.params.insert(id, self.grads.len() - 1);
                }
            }
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
        var.node()
            .and_then(|id| self.grads.get_mut(id))
            .and_then(Option::take)
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
        }
    }

    /// The gradient of node `id`, if any (for `backward` itself).
    pub(crate) fn slot(&mut self, id: usize) -> &mut Option<Tensor<T>> {
        &mut self.grads[id]
    }
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

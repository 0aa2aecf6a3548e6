//! The tape: a Wengert list of every op a forward pass ran.
//!
//! Each op appends one `Node`: which earlier nodes it read (its parents), the
//! tensors its backward rule will need (saved, like PyTorch's
//! `ctx.save_for_backward`), and the rule itself. Because a node can only read
//! nodes recorded before it, the list is already in execution order: walking it
//! backwards visits every node after all the nodes that consumed it. That is the
//! whole of reverse mode (see [`backward`](crate::backward)).
//!
//! Only values that need a gradient are recorded. A [`Tape::constant`], or any
//! op whose inputs are all constants, produces a [`Var`] with no node; a tape
//! made with [`Tape::no_grad`] records nothing at all.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

use smallvec::SmallVec;
use tensor::{Element, Tensor};

use crate::gradients::GradientPiece;
use crate::var::Var;

/// What a backward rule receives: the gradient of the loss with respect to the
/// op's output, and the tensors the op saved in its forward pass.
pub struct BackwardInput<T: Element> {
    /// `dL/dy` for the op's output `y`; same shape as `y`.
    pub grad_output: Tensor<T>,
    /// The tensors the forward pass saved, in the order it saved them.
    pub saved: Vec<Tensor<T>>,
    needs_grad: SmallVec<[bool; 3]>,
}

impl<T: Element> BackwardInput<T> {
    /// Whether parent `i` wants a gradient (a rule may skip the work if not).
    pub fn needs_grad(&self, i: usize) -> bool {
        self.needs_grad[i]
    }
}

/// One gradient piece per parent, in parent order (`None`: no gradient for that parent).
pub type ParentGradients<T> = SmallVec<[Option<GradientPiece<T>>; 3]>;

/// A backward rule: from the output's gradient to the parents' gradients.
pub type BackwardRule<T> = Box<dyn FnOnce(BackwardInput<T>) -> ParentGradients<T>>;

/// One recorded op.
pub(crate) struct Node<T: Element> {
    /// The op's name, for `to_dot` and error messages.
    pub(crate) op: &'static str,
    /// The output's shape (gradients of this node must have it).
    pub(crate) shape: SmallVec<[usize; 4]>,
    /// Ids of the nodes this op read; `None` for inputs that need no gradient.
    pub(crate) parents: SmallVec<[Option<usize>; 3]>,
    /// Tensors kept for the backward rule.
    pub(crate) saved: Vec<Tensor<T>>,
    /// The rule; `None` for leaves, and after it has run.
    pub(crate) rule: Option<BackwardRule<T>>,
    /// Whether `backward` keeps this node's gradient (always for leaves).
    pub(crate) retain_grad: bool,
}

/// A parameter's identity: its storage, offset, shape and strides.
type ParameterKey = (usize, usize, SmallVec<[usize; 4]>, SmallVec<[usize; 4]>);

pub(crate) struct TapeState<T: Element> {
    pub(crate) nodes: Vec<Node<T>>,
    pub(crate) recording: bool,
    /// Leaves made by [`Tape::parameter`], keyed by the tensor's identity.
    parameters: HashMap<ParameterKey, Var<T>>,
    /// Set once `backward` has consumed the rules.
    pub(crate) spent: bool,
}

/// A recording of the forward pass. Cheap to clone: clones share one list.
///
/// Not thread-safe (`Rc`): make one tape per thread, per training step.
pub struct Tape<T: Element = f32> {
    pub(crate) state: Rc<RefCell<TapeState<T>>>,
}

impl<T: Element> Clone for Tape<T> {
    fn clone(&self) -> Self {
        Tape {
            state: self.state.clone(),
        }
    }
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Tape<T> {
    fn with_recording(recording: bool) -> Self {
        Tape {
            state: Rc::new(RefCell::new(TapeState {
                nodes: Vec::new(),
                recording,
                parameters: HashMap::new(),
                spent: false,
            })),
        }
    }

    /// A new, empty tape that records ops for backpropagation.
    pub fn new() -> Self {
        Self::with_recording(true)
    }

    /// A tape for inference (PyTorch's `torch.no_grad()`): ops compute values
    /// but record nothing and keep no intermediate tensors.
    pub fn no_grad() -> Self {
        Self::with_recording(false)
    }

    /// Whether ops on this tape are recorded.
    pub fn is_recording(&self) -> bool {
        self.state.borrow().recording
    }

    /// The number of recorded nodes (leaves included).
    pub fn len(&self) -> usize {
        self.state.borrow().nodes.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the buffers the tape holds for backward rules (not yet consumed).
    ///
    /// This is the memory cost of backpropagation: for an RNN it grows with
    /// the number of time steps, which is why long sequences are truncated.
    /// A buffer saved by many nodes (a weight every time step reads) counts once.
    pub fn memory_bytes(&self) -> usize {
        let state = self.state.borrow();
        let mut seen = std::collections::HashSet::new();
        state
            .nodes
            .iter()
            .flat_map(|n| &n.saved)
            .filter(|t| seen.insert(t.storage().as_ptr()))
            .map(|t| t.storage_bytes())
            .sum()
    }

    fn push_node(&self, node: Node<T>) -> usize {
        let mut state = self.state.borrow_mut();
        state.nodes.push(node);
        state.nodes.len() - 1
    }

    /// A value that needs a gradient (a parameter, or an input under test).
    ///
    /// On a [`Tape::no_grad`] tape it is a constant.
    pub fn leaf(&self, value: Tensor<T>) -> Var<T> {
        if !self.is_recording() {
            return Var::new(self.clone(), None, value);
        }
        let id = self.push_node(Node {
            op: "leaf",
            shape: value.shape().into(),
            parents: SmallVec::new(),
            saved: Vec::new(),
            rule: None,
            retain_grad: true,
        });
        Var::new(self.clone(), Some(id), value)
    }

    /// A value that needs no gradient (data, labels, masks).
    pub fn constant(&self, value: Tensor<T>) -> Var<T> {
        Var::new(self.clone(), None, value)
    }

    /// The leaf for a parameter tensor, made on first use and reused after, so a
    /// weight used at every time step is one leaf whose gradient sums all steps.
    ///
    /// Identity is the tensor's storage and view: clones of one tensor are the
    /// same parameter; a transposed view of it is another.
    pub fn parameter(&self, value: &Tensor<T>) -> Var<T> {
        let key = (
            value.storage().as_ptr() as usize,
            value.offset(),
            value.shape().into(),
            value.strides().into(),
        );
        if let Some(var) = self.state.borrow().parameters.get(&key) {
            return var.clone();
        }
        let var = self.leaf(value.clone());
        self.state.borrow_mut().parameters.insert(key, var.clone());
        var
    }

    /// Records an op's output. This is the one function every op calls.
    ///
    /// `parents` are the op's inputs; `saved` the tensors `rule` will receive
    /// back; `rule` maps the output's gradient to one gradient per parent. If no
    /// parent needs a gradient (or the tape is not recording) nothing is
    /// recorded and `saved`/`rule` are dropped at once.
    pub fn record(
        &self,
        op: &'static str,
        value: Tensor<T>,
        parents: &[&Var<T>],
        saved: Vec<Tensor<T>>,
        rule: impl FnOnce(BackwardInput<T>) -> ParentGradients<T> + 'static,
    ) -> Var<T> {
        for parent in parents {
            assert!(
                parent.node().is_none() || Rc::ptr_eq(&parent.tape().state, &self.state),
                "{op}: an input was recorded on a different tape"
            );
        }
        let parent_ids: SmallVec<[Option<usize>; 3]> = parents.iter().map(|p| p.node()).collect();
        if !self.is_recording() || parent_ids.iter().all(Option::is_none) {
            return Var::new(self.clone(), None, value);
        }
        let id = self.push_node(Node {
            op,
            shape: value.shape().into(),
            parents: parent_ids,
            saved,
            rule: Some(Box::new(rule)),
            retain_grad: false,
        });
        Var::new(self.clone(), Some(id), value)
    }

    /// Takes node `id`'s rule and saved tensors out of the tape (for `backward`).
    pub(crate) fn take_rule(&self, id: usize) -> Option<(BackwardRule<T>, Vec<Tensor<T>>)> {
        let mut state = self.state.borrow_mut();
        let node = &mut state.nodes[id];
        let rule = node.rule.take()?;
        Some((rule, std::mem::take(&mut node.saved)))
    }

    /// Builds the input a rule receives.
    pub(crate) fn backward_input(
        grad_output: Tensor<T>,
        saved: Vec<Tensor<T>>,
        needs_grad: SmallVec<[bool; 3]>,
    ) -> BackwardInput<T> {
        BackwardInput {
            grad_output,
            saved,
            needs_grad,
        }
    }

    /// The recorded graph in Graphviz `dot` syntax: one box per node with its op
    /// and shape, leaves shaded, edges from inputs to outputs.
    ///
    /// Render with `dot -Tsvg graph.dot > graph.svg`; a 3-step RNN shows its
    /// unrolled structure: the same weight leaves feeding every step.
    pub fn to_dot(&self) -> String {
        let state = self.state.borrow();
        let mut out = String::from(
            "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (id, node) in state.nodes.iter().enumerate() {
            let style = if node.op == "leaf" {
                ", style=filled, fillcolor=lightblue"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  n{id} [label=\"{id}: {} {:?}\"{style}];",
                node.op,
                node.shape.as_slice()
            );
            for parent in node.parents.iter().flatten() {
                let _ = writeln!(out, "  n{parent} -> n{id};");
            }
        }
        out.push_str("}\n");
        out
    }
}

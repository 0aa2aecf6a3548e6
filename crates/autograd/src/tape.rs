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
//!
//! A tape also says what kind of forward pass it records. One made with
//! [`Tape::training`] is a *training* pass: dropout is active, and draws its
//! masks from the tape's own generator, seeded when the tape is made. So the
//! randomness of a step is explicit and repeatable (a resumed run, or a batch
//! cut into shards on several threads, draws the same masks), and a model is
//! never mutated by its forward pass.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use smallvec::SmallVec;
use tensor::{Element, Tensor};

use crate::gradients::GradientPiece;
use crate::param::{Param, ParamId};
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

    /// The saved tensors, to be named in one line: `let [a, b] = input.saved_tensors();`.
    ///
    /// # Panics
    /// If the forward pass saved other than `N` tensors.
    pub fn saved_tensors<const N: usize>(&self) -> [&Tensor<T>; N] {
        assert_eq!(
            self.saved.len(),
            N,
            "a backward rule expected {N} saved tensors, the forward pass saved {}",
            self.saved.len()
        );
        std::array::from_fn(|i| &self.saved[i])
    }

    /// The full gradient for parent `i`, computed by `grad` only if that parent
    /// wants one ([`needs_grad`](Self::needs_grad)); `None` otherwise.
    ///
    /// ```
    /// # use autograd::Tape;
    /// # use tensor::Tensor;
    /// let tape = Tape::new();
    /// let a = tape.leaf(Tensor::from_vec(vec![2.0f64], &[1]));
    /// let b = tape.constant(Tensor::from_vec(vec![3.0f64], &[1]));
    /// // y = a * b: dL/da = g * b; b is a constant, so its rule is never run.
    /// let y = tape.record("mul_by_constant", a.value() * b.value(), &[&a, &b], vec![b.value().clone()], |input| {
    ///     let [b] = input.saved_tensors();
    ///     let g = &input.grad_output;
    ///     smallvec::smallvec![input.grad_for(0, || g * b), input.grad_for(1, || unreachable!())]
    /// });
    /// let grads = tape.backward(&y.sum()).unwrap();
    /// assert_eq!(grads.get(&a).unwrap().to_vec(), vec![3.0]);
    /// ```
    pub fn grad_for(&self, i: usize, grad: impl FnOnce() -> Tensor<T>) -> Option<GradientPiece<T>> {
        self.needs_grad(i).then(grad).map(GradientPiece::Full)
    }
}

/// One gradient piece per parent, in parent order (`None`: no gradient for that parent).
pub type ParentGradients<T> = SmallVec<[Option<GradientPiece<T>>; 3]>;

/// A backward rule: from the output's gradient to the parents' gradients.
pub type BackwardRule<T> = Box<dyn FnOnce(BackwardInput<T>) -> ParentGradients<T>>;

/// A gradient hook ([`Var::register_hook`]): sees a var's complete gradient
/// during `backward`, and may return one to use in its place.
pub type GradientHook<T> = Box<dyn FnMut(&Tensor<T>) -> Option<Tensor<T>>>;

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

pub(crate) struct TapeState<T: Element> {
    pub(crate) nodes: Vec<Node<T>>,
    pub(crate) recording: bool,
    /// The leaf node of each parameter used so far (ids, never vars: no cycle).
    pub(crate) params: HashMap<ParamId, usize>,
    /// Values given by [`Tape::use_as_param`] in place of a parameter's own.
    substitutes: HashMap<ParamId, Tensor<T>>,
    /// Whether this is a training pass (dropout active).
    training: bool,
    /// The generator of a training pass's random masks.
    rng: StdRng,
    /// Set once `backward` has consumed the rules.
    pub(crate) spent: bool,
    /// The hooks of each node that has any, in the order they were registered.
    pub(crate) hooks: HashMap<usize, Vec<GradientHook<T>>>,
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
    pub(crate) fn with_mode(recording: bool, training: bool, seed: u64) -> Self {
        Tape {
            state: Rc::new(RefCell::new(TapeState {
                nodes: Vec::new(),
                recording,
                params: HashMap::new(),
                substitutes: HashMap::new(),
                training,
                rng: StdRng::seed_from_u64(seed),
                spent: false,
                hooks: HashMap::new(),
            })),
        }
    }

    /// A new, empty tape that records ops for backpropagation. The pass is
    /// not a training pass: dropout is off (see [`Tape::training`]).
    pub fn new() -> Self {
        Self::with_mode(true, false, 0)
    }

    /// A tape for one training step: it records, and dropout is active with
    /// masks drawn from a generator seeded by `seed` (PyTorch's
    /// `model.train()`, Keras' `training=True`). Give every step its own seed.
    pub fn training(seed: u64) -> Self {
        Self::with_mode(true, true, seed)
    }

    /// A tape for inference (PyTorch's `torch.no_grad()` with `model.eval()`):
    /// ops compute values but record nothing, keep no intermediate tensors,
    /// and dropout is off.
    pub fn no_grad() -> Self {
        Self::with_mode(false, false, 0)
    }

    /// Whether ops on this tape are recorded.
    pub fn is_recording(&self) -> bool {
        self.state.borrow().recording
    }

    /// Whether this is a training pass (made by [`Tape::training`]): layers
    /// such as dropout behave differently in training and in evaluation.
    pub fn is_training(&self) -> bool {
        self.state.borrow().training
    }

    /// Runs `draw` with the tape's generator (for dropout masks). The draws
    /// of a pass follow each other in the order the forward pass asks for
    /// them, so a pass with the same seed draws the same masks.
    pub fn with_rng<R>(&self, draw: impl FnOnce(&mut StdRng) -> R) -> R {
        draw(&mut self.state.borrow_mut().rng)
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

    /// The leaf of a [`Param`] on this tape, made on its first use and the same
    /// node after, so a weight used at every time step is one leaf whose
    /// gradient sums all steps. On a [`Tape::no_grad`] tape it is a constant.
    pub fn param(&self, param: &Param<T>) -> Var<T> {
        let (node, substitute) = {
            let state = self.state.borrow();
            (
                state.params.get(&param.id()).copied(),
                state.substitutes.get(&param.id()).cloned(),
            )
        };
        let value = substitute.unwrap_or_else(|| param.value().clone());
        if let Some(id) = node {
            return Var::new(self.clone(), Some(id), value);
        }
        let var = self.leaf(value);
        if let Some(id) = var.node() {
            self.state.borrow_mut().params.insert(param.id(), id);
        }
        var
    }

    /// Makes [`Tape::param`] return `var` for `param` from now on: on a
    /// recording tape `var` must be a leaf of this tape and becomes the
    /// parameter's leaf; on a `no_grad` tape its value is used. This is how a
    /// gradient check runs a layer with parameter values it perturbs.
    ///
    /// # Panics
    /// If `var` has another shape than the parameter, if the tape records and
    /// `var` is not one of its leaves, or if the parameter was already used
    /// on this tape.
    pub fn use_as_param(&self, param: &Param<T>, var: &Var<T>) {
        assert_eq!(
            var.shape(),
            param.shape(),
            "use_as_param: the var has shape {:?}, the parameter {:?}",
            var.shape(),
            param.shape()
        );
        let mut state = self.state.borrow_mut();
        assert!(
            !state.params.contains_key(&param.id()) && !state.substitutes.contains_key(&param.id()),
            "use_as_param: the parameter was already used on this tape"
        );
        if state.recording {
            let id = var
                .node()
                .filter(|&id| {
                    Rc::ptr_eq(&var.tape().state, &self.state) && state.nodes[id].op == "leaf"
                })
                .expect("use_as_param: the var is not a leaf of this tape");
            state.params.insert(param.id(), id);
        }
        state.substitutes.insert(param.id(), var.value().clone());
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

    /// Frees every saved tensor and rule left after `backward`; the graph's
    /// structure stays for [`Tape::to_dot`].
    pub(crate) fn release(&self) {
        let mut state = self.state.borrow_mut();
        for node in &mut state.nodes {
            node.saved = Vec::new();
            node.rule = None;
        }
        state.substitutes.clear();
        state.hooks.clear();
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

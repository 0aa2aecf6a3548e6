//! Reverse mode: one backward loop over the tape.
//!
//! For a loss `L` and every recorded value `v`, the *adjoint* `v̄ = dL/dv` obeys
//! the chain rule: `v̄ = sum over ops y = f(.., v, ..) of (dy/dv)^T ȳ`. Since
//! the tape is in execution order, walking it backwards from the loss meets each
//! node only after every op that consumed it, so its adjoint is complete by the
//! time its own rule runs. No topological sort, no recursion: a 2,000-step
//! unrolled RNN is 2,000 iterations of a loop, not 2,000 stack frames.

use std::fmt;

use smallvec::SmallVec;
use tensor::{Element, Tensor};

use crate::gradients::Gradients;
use crate::tape::Tape;
use crate::var::Var;

/// Why `backward` could not run.
#[derive(Clone, Debug, PartialEq)]
pub enum BackwardError {
    /// `backward` needs a one-element loss; use `backward_with` and a seed otherwise.
    NonScalarLoss {
        /// The loss's shape.
        shape: Vec<usize>,
    },
    /// The seed gradient does not have the output's shape.
    SeedShape {
        /// The output's shape.
        expected: Vec<usize>,
        /// The seed's shape.
        got: Vec<usize>,
    },
    /// The output depends on no leaf (or the tape does not record), so there is nothing to differentiate.
    NotRecorded,
    /// The output belongs to another tape.
    DifferentTape,
    /// This tape's backward rules were already used by an earlier `backward`.
    AlreadyBackpropagated,
}

impl fmt::Display for BackwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonScalarLoss { shape } => write!(
                f,
                "backward: the loss must have one element, but has shape {shape:?}; \
                 reduce it (sum, mean) or call backward_with(output, seed)"
            ),
            Self::SeedShape { expected, got } => {
                write!(f, "backward_with: seed of shape {got:?} does not match the output's shape {expected:?}")
            }
            Self::NotRecorded => write!(
                f,
                "backward: the output was not recorded: it depends on no leaf, or the tape is no_grad"
            ),
            Self::DifferentTape => write!(f, "backward: the output was recorded on a different tape"),
            Self::AlreadyBackpropagated => write!(
                f,
                "backward: this tape was already backpropagated and its saved tensors freed; \
                 record the forward pass again on a new tape"
            ),
        }
    }
}

impl std::error::Error for BackwardError {}

impl<T: Element> Tape<T> {
    /// Backpropagates from a one-element `loss`: returns `dL/dv` for every leaf
    /// `v` that reaches it (and every var marked with `retain_grad`).
    ///
    /// The tape's saved tensors are freed as the sweep passes them, and what
    /// is left (rules of nodes off the loss's path) when it ends, so a tape
    /// can be backpropagated once, and holds no tensor afterwards: the
    /// weights it read are no longer shared, and an optimizer updates them
    /// in place.
    ///
    /// ```
    /// use autograd::Tape;
    /// use tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.leaf(Tensor::from_vec(vec![3.0], &[1]));
    /// let y = &x * &x + &x; // x is used three times: its gradient's pieces add up
    /// let grads = tape.backward(&y.sum()).unwrap();
    /// assert_eq!(grads[&x].to_vec(), vec![7.0]); // d(x^2 + x)/dx = 2x + 1
    /// ```
    pub fn backward(&self, loss: &Var<T>) -> Result<Gradients<T>, BackwardError> {
        if loss.value().numel() != 1 {
            return Err(BackwardError::NonScalarLoss {
                shape: loss.shape().to_vec(),
            });
        }
        self.backward_with(loss, Tensor::ones(loss.shape()))
    }

    /// Backpropagates from any `output`, given the seed gradient `dL/doutput`.
    pub fn backward_with(
        &self,
        output: &Var<T>,
        seed: Tensor<T>,
    ) -> Result<Gradients<T>, BackwardError> {
        if seed.shape() != output.shape() {
            return Err(BackwardError::SeedShape {
                expected: output.shape().to_vec(),
                got: seed.shape().to_vec(),
            });
        }
        if !std::rc::Rc::ptr_eq(&output.tape().state, &self.state) {
            return Err(BackwardError::DifferentTape);
        }
        let Some(output_id) = output.node() else {
            return Err(BackwardError::NotRecorded);
        };
        let params = {
            let mut state = self.state.borrow_mut();
            if state.spent {
                return Err(BackwardError::AlreadyBackpropagated);
            }
            state.spent = true;
            state.params.clone()
        };
        let mut grads = Gradients::with_len(self.len(), params);
        *grads.slot(output_id) = Some(seed);
        for id in (0..=output_id).rev() {
            let (parents, retain, op) = {
                let state = self.state.borrow();
                let node = &state.nodes[id];
                (node.parents.clone(), node.retain_grad, node.op)
            };
            // Every consumer of this node came later and has run: its gradient
            // is complete. A node nobody downstream used has none: skip it.
            let Some(mut grad_output) = grads.slot(id).take() else {
                continue;
            };
            grad_output = self.run_hooks(id, grad_output, op);
            if retain {
                *grads.slot(id) = Some(grad_output.clone());
            }
            let Some((rule, saved)) = self.take_rule(id) else {
                continue; // a leaf: its gradient stays in `grads`
            };
            let needs_grad: SmallVec<[bool; 3]> = parents.iter().map(Option::is_some).collect();
            let pieces = rule(Tape::backward_input(grad_output, saved, needs_grad));
            assert_eq!(
                pieces.len(),
                parents.len(),
                "backward of {op}: returned {} gradients for {} inputs",
                pieces.len(),
                parents.len()
            );
            for (parent, piece) in parents.iter().zip(pieces) {
                if let (Some(parent_id), Some(piece)) = (parent, piece) {
                    let shape = self.state.borrow().nodes[*parent_id].shape.clone();
                    grads.accumulate(*parent_id, &shape, piece, op);
                }
            }
        }
        self.release();
        Ok(grads)
    }

    /// `grad` after node `id`'s hooks ([`Var::register_hook`]), in order.
    fn run_hooks(&self, id: usize, grad: Tensor<T>, op: &str) -> Tensor<T> {
        let hooks = {
            let mut state = self.state.borrow_mut();
            // Most tapes have no hooks: no lookup for them.
            if state.hooks.is_empty() {
                None
            } else {
                state.hooks.remove(&id)
            }
        };
        let Some(mut hooks) = hooks else {
            return grad;
        };
        let mut grad = grad;
        for hook in &mut hooks {
            if let Some(replacement) = hook(&grad) {
                assert_eq!(
                    replacement.shape(),
                    grad.shape(),
                    "a gradient hook on the output of {op} returned shape {:?} for a gradient of shape {:?}",
                    replacement.shape(),
                    grad.shape()
                );
                grad = replacement;
            }
        }
        grad
    }
}

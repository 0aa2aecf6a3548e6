//! What exercise 2.6 walks: a recording of a forward pass, as a tape holds it.
//!
//! Not an exercise: the checks build a [`Node`] list from a real
//! computation, and each node's `backward` is the library's rule for its op.

use std::rc::Rc;

use tensor::Tensor;

/// A backward rule: from the gradient of the op's output, one gradient per
/// parent, in parent order.
pub type Rule = Rc<dyn Fn(&Tensor<f64>) -> Vec<Tensor<f64>>>;

/// One recorded value: a leaf (an input), or the output of an op.
///
/// Nodes come in the order they were computed, so every node's parents
/// come before it: the list is already in topological order, as a tape is.
#[derive(Clone)]
pub struct Node {
    /// The op's name (`"leaf"`, `"mul"`, `"tanh"`, ...), for messages.
    pub op: &'static str,
    /// The value computed.
    pub value: Tensor<f64>,
    /// The positions in the list of the op's inputs (empty for a leaf). A
    /// node may appear twice (`x * x`).
    pub parents: Vec<usize>,
    /// The op's backward rule; `None` for a leaf.
    pub backward: Option<Rule>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{:?} of shape {:?}",
            self.op,
            self.parents,
            self.value.shape()
        )
    }
}

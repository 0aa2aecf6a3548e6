//! Modules: anything that owns parameters, and the names it gives them.
//!
//! A model is a tree: a `SentimentModel` holds an `Embedding`, an `Lstm` and a
//! `Linear`, and each of those holds [`Param`]s. PyTorch names every
//! parameter by its path in that tree (`embedding.weight`,
//! `lstm.weight_ih_l0`, `fc.bias`), and so do we: a [`Module`] shows its
//! parameters and its children to a [`Visitor`], each under its local name,
//! and the visitor builds the dotted path. Nobody writes a prefix by hand.
//!
//! For a struct whose fields are layers, [`module!`](crate::module!) writes
//! the two visit methods from the field names:
//!
//! ```
//! use nn::{Embedding, Linear, Lstm, Module};
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! struct Classifier {
//!     embedding: Embedding,
//!     lstm: Lstm,
//!     fc: Linear,
//! }
//! nn::module!(Classifier { embedding, lstm, fc });
//!
//! let rng = &mut StdRng::seed_from_u64(0);
//! let model = Classifier {
//!     embedding: Embedding::new(100, 8, rng),
//!     lstm: Lstm::new(8, 16, rng),
//!     fc: Linear::new(16, 1, rng),
//! };
//! let names: Vec<String> = model.named_params().into_iter().map(|(name, _)| name).collect();
//! assert_eq!(names[..3], ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0"]);
//! assert_eq!(names.last().unwrap(), "fc.bias");
//! ```
//!
//! A field may also be a `Param`, an `Option` of either, or a `Vec` of
//! modules (named `0`, `1`, ... like PyTorch's `nn.ModuleList`).
//!
//! The names matter for checkpoints only ([`Module::state_dict`]). An
//! optimizer keys its state by each parameter's identity, so two parameters
//! can never share state by a naming mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use autograd::{Param, Tape, Var};
use tensor::{Element, Tensor};

/// A layer or model: owns [`Param`]s, directly or through child modules.
///
/// Both methods list the same parameters in the same order (the order
/// PyTorch's `named_parameters()` gives for the same model).
pub trait Module<T: Element = f32> {
    /// Shows every parameter and child module to `visitor`, by local name.
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>);

    /// The same walk, with mutable access (to update or load parameters).
    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>);

    /// Every parameter with its full dotted name, in visit order.
    fn named_params(&self) -> Vec<(String, &Param<T>)> {
        let mut all = Vec::new();
        self.visit(&mut Visitor::new(&mut |name, param| {
            all.push((name.to_string(), param))
        }));
        all
    }

    /// The total number of scalars in all parameters.
    fn num_params(&self) -> usize {
        self.named_params().iter().map(|(_, p)| p.numel()).sum()
    }

    /// Makes `vars[i]` stand for the `i`-th parameter (in visit order) on
    /// `tape`: the forward pass then computes with the vars' values, and
    /// gradients flow to them. This is how a gradient check perturbs a
    /// layer's parameters (see [`Tape::use_as_param`]).
    ///
    /// # Panics
    /// If the number of vars or a shape differs from the parameters, or as
    /// [`Tape::use_as_param`].
    fn use_vars_as_params(&self, tape: &Tape<T>, vars: &[Var<T>]) {
        let params = self.named_params();
        assert_eq!(
            vars.len(),
            params.len(),
            "use_vars_as_params: {} vars for {} parameters",
            vars.len(),
            params.len()
        );
        for ((_, param), var) in params.into_iter().zip(vars) {
            tape.use_as_param(param, var);
        }
    }

    /// Every parameter's value by its dotted name, in visit order (PyTorch's
    /// `state_dict()`). The tensors share the parameters' buffers.
    ///
    /// # Panics
    /// If two parameters have the same name (a model that names two children
    /// alike): a checkpoint could not tell them apart.
    fn state_dict(&self) -> Vec<(String, Tensor<T>)> {
        let named = self.named_params();
        let mut seen = BTreeSet::new();
        for (name, _) in &named {
            assert!(
                seen.insert(name.as_str()),
                "state_dict: two parameters are named {name:?}; give the children distinct names"
            );
        }
        named
            .into_iter()
            .map(|(name, p)| (name, p.value().clone()))
            .collect()
    }

    /// Sets parameters from tensors named as [`Module::state_dict`] names them.
    ///
    /// Everything is checked before anything changes: on an error no
    /// parameter is touched. With `strict`, the tensors must be exactly the
    /// model's parameters; without it, parameters the tensors lack keep their
    /// values and tensors the model lacks are ignored (both are listed in the
    /// returned report). A tensor with the right name and another shape is
    /// always an error.
    ///
    /// # Errors
    /// A [`StateDictError`] listing every missing, unexpected or mis-shaped tensor.
    fn load_state_dict(
        &mut self,
        tensors: &BTreeMap<String, Tensor<T>>,
        strict: bool,
    ) -> Result<LoadReport, StateDictError> {
        let report = self.check_state_dict(tensors, strict)?;
        self.visit_mut(&mut VisitorMut::new(&mut |name, param| {
            if let Some(value) = tensors.get(name) {
                param.set(value.clone());
            }
        }));
        Ok(report)
    }

    /// What [`Module::load_state_dict`] would do with `tensors`, without
    /// changing anything.
    ///
    /// # Errors
    /// As [`Module::load_state_dict`].
    fn check_state_dict(
        &self,
        tensors: &BTreeMap<String, Tensor<T>>,
        strict: bool,
    ) -> Result<LoadReport, StateDictError> {
        let expected = self.state_dict();
        let mut report = LoadReport::default();
        let mut error = StateDictError::default();
        for (name, value) in &expected {
            match tensors.get(name) {
                None => report.missing.push(name.clone()),
                Some(t) if t.shape() != value.shape() => error.mismatched.push(ShapeMismatch {
                    name: name.clone(),
                    expected: value.shape().to_vec(),
                    found: t.shape().to_vec(),
                }),
                Some(_) => report.loaded += 1,
            }
        }
        let known: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        report.unexpected = tensors
            .keys()
            .filter(|name| !known.contains(name.as_str()))
            .cloned()
            .collect();
        if strict {
            error.missing = report.missing.clone();
            error.unexpected = report.unexpected.clone();
        }
        if error.is_empty() {
            Ok(report)
        } else {
            Err(error)
        }
    }
}

/// `prefix` (`"lstm."`) joined with a local name, then `suffix` (`"_l0"`);
/// an empty local name is the prefix's own (a field that is itself a parameter).
fn full_name(prefix: &str, name: &str, suffix: &str) -> String {
    if name.is_empty() {
        format!("{}{suffix}", prefix.strip_suffix('.').unwrap_or(prefix))
    } else {
        format!("{prefix}{name}{suffix}")
    }
}

/// Walks a module tree read-only, building each parameter's dotted name.
///
/// `'m` is the lifetime of the modules visited, so the callback may keep the
/// parameters it is shown (as [`Module::named_params`] does).
pub struct Visitor<'m, 'f, T: Element> {
    prefix: String,
    suffix: String,
    callback: &'f mut dyn FnMut(&str, &'m Param<T>),
}

impl<'m, 'f, T: Element> Visitor<'m, 'f, T> {
    /// A visitor that calls `callback(full_name, param)` for every parameter.
    pub fn new(callback: &'f mut dyn FnMut(&str, &'m Param<T>)) -> Self {
        Visitor {
            prefix: String::new(),
            suffix: String::new(),
            callback,
        }
    }

    /// Shows a parameter named `name` in the current module.
    pub fn param(&mut self, name: &str, param: &'m Param<T>) {
        (self.callback)(&full_name(&self.prefix, name, &self.suffix), param);
    }

    /// Visits `child` with `name.` added to every name in it.
    pub fn module<M: Module<T> + ?Sized>(&mut self, name: &str, child: &'m M) {
        let outer = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        child.visit(self);
        self.prefix.truncate(outer);
    }

    /// Visits `child` with `suffix` appended to every name in it: PyTorch's
    /// sequence layers name a cell's `weight_ih` of layer 0 `weight_ih_l0`.
    pub fn module_with_suffix<M: Module<T> + ?Sized>(&mut self, suffix: &str, child: &'m M) {
        let outer = self.suffix.len();
        self.suffix.push_str(suffix);
        child.visit(self);
        self.suffix.truncate(outer);
    }
}

/// Walks a module tree with mutable access, building each parameter's dotted name.
pub struct VisitorMut<'f, T: Element> {
    prefix: String,
    suffix: String,
    callback: &'f mut dyn FnMut(&str, &mut Param<T>),
}

impl<'f, T: Element> VisitorMut<'f, T> {
    /// A visitor that calls `callback(full_name, param)` for every parameter.
    pub fn new(callback: &'f mut dyn FnMut(&str, &mut Param<T>)) -> Self {
        VisitorMut {
            prefix: String::new(),
            suffix: String::new(),
            callback,
        }
    }

    /// Shows a parameter named `name` in the current module.
    pub fn param(&mut self, name: &str, param: &mut Param<T>) {
        (self.callback)(&full_name(&self.prefix, name, &self.suffix), param);
    }

    /// Visits `child` with `name.` added to every name in it.
    pub fn module<M: Module<T> + ?Sized>(&mut self, name: &str, child: &mut M) {
        let outer = self.prefix.len();
        self.prefix.push_str(name);
        self.prefix.push('.');
        child.visit_mut(self);
        self.prefix.truncate(outer);
    }

    /// Visits `child` with `suffix` appended to every name in it (see
    /// [`Visitor::module_with_suffix`]).
    pub fn module_with_suffix<M: Module<T> + ?Sized>(&mut self, suffix: &str, child: &mut M) {
        let outer = self.suffix.len();
        self.suffix.push_str(suffix);
        child.visit_mut(self);
        self.suffix.truncate(outer);
    }
}

/// A parameter is the smallest module: one parameter with no name of its
/// own, so a model's field `scale: Param` is named `scale`.
impl<T: Element> Module<T> for Param<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.param("", self);
    }
    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.param("", self);
    }
}

/// An optional part (a bias, a layer): visited when present.
impl<T: Element, M: Module<T>> Module<T> for Option<M> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        if let Some(inner) = self {
            inner.visit(visitor);
        }
    }
    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        if let Some(inner) = self {
            inner.visit_mut(visitor);
        }
    }
}

/// A list of modules, named by position like PyTorch's `nn.ModuleList`:
/// `layers.0.weight`, `layers.1.weight`, ...
impl<T: Element, M: Module<T>> Module<T> for Vec<M> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        for (i, child) in self.iter().enumerate() {
            visitor.module(&i.to_string(), child);
        }
    }
    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        for (i, child) in self.iter_mut().enumerate() {
            visitor.module(&i.to_string(), child);
        }
    }
}

/// Implements [`Module`] for a struct from the names of its fields, each a
/// layer, a `Param`, or an `Option`/`Vec` of those:
///
/// ```text
/// nn::module!(Classifier { embedding, lstm, fc });        // impl Module<f32>
/// nn::module!(Classifier: f64 { embedding, lstm, fc });   // impl Module<f64>
/// nn::module!(Classifier<T> { embedding, lstm, fc });     // impl<T: Element> Module<T>
/// ```
///
/// Fields not listed (a dropout rate, a configuration) are not visited.
#[macro_export]
macro_rules! module {
    ($model:ident < $t:ident > { $($field:ident),+ $(,)? }) => {
        impl<$t: $crate::tensor::Element> $crate::Module<$t> for $model<$t> {
            $crate::module!(@methods $t; $($field),+);
        }
    };
    ($model:ident : $t:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::Module<$t> for $model {
            $crate::module!(@methods $t; $($field),+);
        }
    };
    ($model:ident { $($field:ident),+ $(,)? }) => {
        $crate::module!($model: f32 { $($field),+ });
    };
    (@methods $t:ty; $($field:ident),+) => {
        fn visit<'m>(&'m self, visitor: &mut $crate::Visitor<'m, '_, $t>) {
            $(visitor.module(stringify!($field), &self.$field);)+
        }
        fn visit_mut(&mut self, visitor: &mut $crate::VisitorMut<'_, $t>) {
            $(visitor.module(stringify!($field), &mut self.$field);)+
        }
    };
}

/// What [`Module::load_state_dict`] did: how many parameters it set, and
/// what it left out (always empty with `strict`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters set from the tensors.
    pub loaded: usize,
    /// Parameters the tensors lack (they kept their values).
    pub missing: Vec<String>,
    /// Tensors the model has no parameter for (ignored).
    pub unexpected: Vec<String>,
}

/// A tensor whose shape differs from its parameter's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The parameter's dotted name.
    pub name: String,
    /// The parameter's shape.
    pub expected: Vec<usize>,
    /// The tensor's shape.
    pub found: Vec<usize>,
}

/// Why [`Module::load_state_dict`] refused: every problem, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDictError {
    /// Parameters the tensors lack (strict loading only).
    pub missing: Vec<String>,
    /// Tensors the model has no parameter for (strict loading only).
    pub unexpected: Vec<String>,
    /// Tensors of another shape than their parameter.
    pub mismatched: Vec<ShapeMismatch>,
}

impl StateDictError {
    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for StateDictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the tensors do not fit the model (nothing was loaded):")?;
        for name in &self.missing {
            write!(f, "\n  - missing tensor {name:?}")?;
        }
        for name in &self.unexpected {
            write!(
                f,
                "\n  - unexpected tensor {name:?} (the model has no such parameter)"
            )?;
        }
        for m in &self.mismatched {
            write!(
                f,
                "\n  - tensor {:?} has shape {:?}, the model expects {:?}",
                m.name, m.found, m.expected
            )?;
        }
        if let Some(hint) = crate::checkpoint::prefix::prefix_hint(&self.missing, &self.unexpected)
        {
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StateDictError {}

#[cfg(test)]
mod tests {
    use super::*;

    struct Leaf {
        weight: Param<f64>,
        bias: Option<Param<f64>>,
    }
    crate::module!(Leaf: f64 { weight, bias });

    fn leaf(value: f64) -> Leaf {
        Leaf {
            weight: Param::new(Tensor::full(&[2], value)),
            bias: Some(Param::new(Tensor::full(&[1], value))),
        }
    }

    struct Tree {
        first: Leaf,
        rest: Vec<Leaf>,
        scale: Param<f64>,
    }

    impl Module<f64> for Tree {
        fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, f64>) {
            visitor.module("first", &self.first);
            visitor.module("rest", &self.rest);
            visitor.module("scale", &self.scale);
        }
        fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, f64>) {
            visitor.module("first", &mut self.first);
            visitor.module("rest", &mut self.rest);
            visitor.module("scale", &mut self.scale);
        }
    }

    fn tree() -> Tree {
        Tree {
            first: leaf(1.0),
            rest: vec![leaf(2.0), leaf(3.0)],
            scale: Param::new(Tensor::full(&[1], 4.0)),
        }
    }

    #[test]
    fn names_come_from_the_structure() {
        let names: Vec<String> = tree().named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "first.weight",
                "first.bias",
                "rest.0.weight",
                "rest.0.bias",
                "rest.1.weight",
                "rest.1.bias",
                "scale"
            ]
        );
        assert_eq!(tree().num_params(), 3 * 3 + 1);
    }

    #[test]
    fn a_state_dict_round_trips_and_strict_loading_lists_every_problem() {
        let source = tree();
        let mut target = Tree {
            first: leaf(0.0),
            rest: vec![leaf(0.0), leaf(0.0)],
            scale: Param::new(Tensor::zeros(&[1])),
        };
        let dict: BTreeMap<String, Tensor<f64>> = source.state_dict().into_iter().collect();
        let report = target.load_state_dict(&dict, true).unwrap();
        assert_eq!(report.loaded, 7);
        assert_eq!(target.state_dict(), source.state_dict());

        let mut broken = dict.clone();
        broken.remove("scale");
        broken.insert("rest.0.weight".into(), Tensor::zeros(&[3]));
        broken.insert("extra".into(), Tensor::zeros(&[1]));
        let error = target.load_state_dict(&broken, true).unwrap_err();
        assert_eq!(error.missing, ["scale"]);
        assert_eq!(error.unexpected, ["extra"]);
        assert_eq!(error.mismatched[0].name, "rest.0.weight");
        assert_eq!(target.state_dict(), source.state_dict(), "nothing changed");
        let text = error.to_string();
        assert!(text.contains("missing tensor \"scale\""), "{text}");

        // Not strict: the missing and extra tensors are reported, the shape is still an error.
        broken.insert("rest.0.weight".into(), Tensor::full(&[2], 9.0));
        let report = target.load_state_dict(&broken, false).unwrap();
        assert_eq!(report.missing, ["scale"]);
        assert_eq!(report.unexpected, ["extra"]);
        assert_eq!(target.rest[0].weight.value().to_vec(), vec![9.0, 9.0]);
    }

    #[test]
    #[should_panic(expected = "two parameters are named \"first.weight\"")]
    fn a_state_dict_refuses_duplicate_names() {
        struct Twice(Leaf);
        impl Module<f64> for Twice {
            fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, f64>) {
                visitor.module("first", &self.0);
                visitor.module("first", &self.0);
            }
            fn visit_mut(&mut self, _: &mut VisitorMut<'_, f64>) {}
        }
        Twice(leaf(1.0)).state_dict();
    }
}

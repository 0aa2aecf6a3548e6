//! Optimizers: how a gradient becomes a parameter update.
//!
//! After `backward`, each parameter `θ` has a gradient `∇θ L`. An optimizer
//! turns it into a step, keeping whatever per-parameter state its rule needs
//! (momentum, running averages). Each rule is one small file with its update
//! equations in the doc comment:
//!
//! - [`Sgd`]: `θ ← θ - lr (∇ + λθ)`, with optional momentum (or Nesterov's);
//! - [`Adam`]: running averages of the gradient and its square, bias-corrected;
//!   [`Adam::adamw`] decouples the weight decay (AdamW), and `amsgrad`
//!   divides by the largest second moment seen;
//! - [`RmsProp`]: divides by a running root-mean-square of the gradient;
//! - [`Adagrad`]: divides by the root of the summed squares of every
//!   gradient so far.
//!
//! One call updates a whole model: [`Optimizer::step`] walks the model's
//! parameters, finds each one's gradient by its identity, and applies the
//! rule. The state is keyed by the same identity, so two parameters never
//! share it, and it is checked against the parameter's shape. For a
//! checkpoint, the state is written under the parameters' names
//! ([`Optimizer::state_dict`]) and read back into any model with those names.
//!
//! [`clip_grad_norm`] rescales all gradients together when their global norm
//! is too large, the standard guard against exploding gradients in RNNs;
//! [`clip_grad_value`] clamps each element instead.
//! An [`LrSchedule`] lowers the learning rate as training goes on (after an
//! optional warm-up), and [`ReduceOnPlateau`] when the monitored figure
//! stops improving.

mod adagrad;
mod adam;
mod clip;
mod rmsprop;
mod schedule;
mod sgd;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub(crate) use clip::tensor_sum_of_squares;
pub use clip::{clip_grad_norm, clip_grad_value, global_norm, ClipError};
pub use rmsprop::RmsProp;
pub use schedule::{LrSchedule, LrShape, ReduceOnPlateau};
pub use sgd::Sgd;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use autograd::{Gradients, ParamId};
use nn::{Metadata, Module, Visitor, VisitorMut};
use tensor::{Element, Tensor};

/// One parameter's optimizer state: how many updates it has had, and the
/// rule's buffers (each with the parameter's number of elements).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamState<T: Element> {
    /// Updates applied so far (Adam's `t` after the update).
    pub step: u64,
    /// The parameter's shape when the state was made.
    pub shape: Vec<usize>,
    /// The rule's buffers, in the order of [`Optimizer::buffers`].
    pub buffers: Vec<Vec<T>>,
}

/// Every parameter's state, by identity.
pub type OptimizerState<T> = HashMap<ParamId, ParamState<T>>;

/// What can go wrong in an optimizer step or when restoring its state.
#[derive(Clone, Debug, PartialEq)]
pub enum OptimError {
    /// A gradient has another shape than its parameter.
    GradientShape {
        /// The parameter's name.
        param: String,
        /// The parameter's shape.
        param_shape: Vec<usize>,
        /// The gradient's shape.
        grad_shape: Vec<usize>,
    },
    /// A parameter's optimizer state was made for another shape.
    StateShape {
        /// The parameter's name.
        param: String,
        /// The parameter's shape.
        param_shape: Vec<usize>,
        /// The shape the state was made for.
        state_shape: Vec<usize>,
    },
    /// Saved state could not be restored (wrong optimizer, missing or mis-shaped buffer).
    Restore(String),
    /// A hyperparameter is out of range (a negative learning rate, NaN, ...).
    Hyperparameter(String),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::GradientShape {
                param,
                param_shape,
                grad_shape,
            } => write!(
                f,
                "optimizer: the gradient of {param} has shape {grad_shape:?}, the parameter {param_shape:?}"
            ),
            OptimError::StateShape {
                param,
                param_shape,
                state_shape,
            } => write!(
                f,
                "optimizer: the state of {param} was made for shape {state_shape:?}, the parameter has {param_shape:?}"
            ),
            OptimError::Restore(message) => {
                write!(f, "cannot restore the optimizer state: {message}")
            }
            OptimError::Hyperparameter(message) => write!(f, "optimizer: {message}"),
        }
    }
}

impl std::error::Error for OptimError {}

/// Checks that a hyperparameter is finite and at least `minimum`, in `f64`
/// and in the element type `T` the update computes in: `1e300` is finite as
/// an `f64` but infinite as an `f32`, and `1e-320` is 0 there.
pub(crate) fn check_hyperparameter<T: Element>(
    name: &str,
    value: f64,
    minimum: f64,
) -> Result<(), OptimError> {
    let bad = |why: String| Err(OptimError::Hyperparameter(format!("{name} {why}")));
    if !(value.is_finite() && value >= minimum) {
        return bad(format!("must be a finite number >= {minimum}, got {value}"));
    }
    let as_t = T::from_f64(value);
    if !as_t.is_finite() {
        return bad(format!("is {value:e}, which is not finite in {}", T::NAME));
    }
    // By its bits (kept from the optimizer's eye): with denormals flushed, a
    // denormal `value` compares equal to 0.
    let nonzero = std::hint::black_box(value.to_bits()) << 1 != 0;
    if nonzero && as_t.abs() < T::MIN_POSITIVE {
        return bad(format!(
            "is {value:e}, which is below the smallest normal {} (0 where denormals are flushed)",
            T::NAME
        ));
    }
    Ok(())
}

/// Checks every gradient and every kept state against its parameter's shape.
///
/// # Errors
/// Names the first parameter whose gradient or state has another shape.
fn check_shapes<T: Element>(
    model: &dyn Module<T>,
    grads: &Gradients<T>,
    states: &OptimizerState<T>,
) -> Result<(), OptimError> {
    let mut problem = None;
    model.visit(&mut Visitor::new(&mut |name, param| {
        if problem.is_some() {
            return;
        }
        // A bare `Param` given as the model has no name of its own.
        let name = if name.is_empty() {
            "the parameter"
        } else {
            name
        };
        if let Some(grad) = grads.param(param) {
            if grad.shape() != param.shape() {
                problem = Some(OptimError::GradientShape {
                    param: name.to_string(),
                    param_shape: param.shape().to_vec(),
                    grad_shape: grad.shape().to_vec(),
                });
            }
        }
        if let Some(state) = states.get(&param.id()) {
            if state.shape != param.shape() {
                problem = Some(OptimError::StateShape {
                    param: name.to_string(),
                    param_shape: param.shape().to_vec(),
                    state_shape: state.shape.clone(),
                });
            }
        }
    }));
    problem.map_or(Ok(()), Err)
}

/// An update rule and its per-parameter state. (`Sync`: the appendix runs a
/// large parameter's update in pieces on several threads.)
pub trait Optimizer<T: Element = f32>: Sync {
    /// The rule's name (`"adam"`), written into checkpoints.
    fn name(&self) -> &'static str;

    /// The names of the per-parameter buffers the rule keeps (`["exp_avg", "exp_avg_sq"]`).
    fn buffers(&self) -> &'static [&'static str];

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (for schedules).
    fn set_learning_rate(&mut self, learning_rate: f64);

    /// Checks the hyperparameters (called by [`Optimizer::step`]).
    ///
    /// # Errors
    /// Names the first hyperparameter out of range.
    fn validate(&self) -> Result<(), OptimError>;

    /// The state of every parameter updated so far.
    fn state(&self) -> &OptimizerState<T>;

    /// The same, mutably.
    fn state_mut(&mut self) -> &mut OptimizerState<T>;

    /// The rule: updates `theta` in place from `grad`, elementwise, with the
    /// matching part of each of the rule's buffers; `step` counts this update
    /// (1 for the first). Being elementwise, the rule may run on any part of
    /// a parameter: large ones are updated in pieces on several threads.
    fn update(&self, step: u64, theta: &mut [T], grad: &[T], buffers: &mut [&mut [T]]);

    /// [`Optimizer::update`] for a whole parameter and its state.
    ///
    /// This is the one seam to the crate's appendix: the update runs in
    /// pieces on every core ([`fast::update_in_pieces`](crate::fast::update_in_pieces)),
    /// each piece the rule applied to a slice, so the numbers are those of
    /// one call of `update` on the whole parameter.
    fn update_param(&self, theta: &mut [T], grad: &[T], state: &mut ParamState<T>) {
        crate::fast::update_in_pieces(self, theta, grad, state);
    }

    /// Updates every parameter of `model` that has a gradient in `grads`.
    ///
    /// Everything is checked first (shapes of gradients and states), so an
    /// error leaves every parameter as it was. Drop the step's tape first:
    /// then nothing else shares the weights, and they update in place.
    ///
    /// ```
    /// use autograd::{Param, Tape};
    /// use tensor::Tensor;
    /// use train::optim::{Optimizer, Sgd};
    ///
    /// let mut w = Param::new(Tensor::from_vec(vec![1.0f32, -2.0], &[2]));
    /// let tape = Tape::new();
    /// let loss = tape.param(&w).square().sum(); // L = sum w^2, dL/dw = 2w
    /// let grads = tape.backward(&loss).unwrap();
    /// drop((tape, loss)); // the weights are no longer shared: they update in place
    /// Sgd::new(0.25).step(&mut w, &grads).unwrap(); // w - 0.25 * 2w = w / 2
    /// assert_eq!(w.value().to_vec(), vec![0.5, -1.0]);
    /// ```
    ///
    /// # Errors
    /// An [`OptimError`] naming the parameter whose gradient or state has
    /// the wrong shape, or the hyperparameter out of range.
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Gradients<T>) -> Result<(), OptimError> {
        self.validate()?;
        check_shapes(&*model, grads, self.state())?;
        let mut states = std::mem::take(self.state_mut());
        let buffers = self.buffers().len();
        model.visit_mut(&mut VisitorMut::new(&mut |_, param| {
            let Some(grad) = grads.param(param) else {
                return;
            };
            let state = states.entry(param.id()).or_insert_with(|| ParamState {
                step: 0,
                shape: param.shape().to_vec(),
                buffers: vec![vec![T::ZERO; param.numel()]; buffers],
            });
            state.step += 1;
            let grad = grad.contiguous();
            let grad = grad.as_slice().expect("contiguous");
            self.update_param(param.value_mut().data_mut(), grad, state);
        }));
        *self.state_mut() = states;
        Ok(())
    }

    /// The state under the parameters' names, for a checkpoint: one tensor
    /// `optimizer.<param>.<buffer>` per buffer (the parameter's shape), and
    /// metadata (`optimizer` = the rule's name, its learning rate, and each
    /// parameter's step count).
    fn state_dict(&self, model: &dyn Module<T>) -> (Vec<(String, Tensor<T>)>, Metadata) {
        let mut tensors = Vec::new();
        let mut metadata = Metadata::new();
        metadata.insert("optimizer".into(), self.name().into());
        metadata.insert(
            "optimizer.learning_rate".into(),
            self.learning_rate().to_string(),
        );
        model.visit(&mut Visitor::new(&mut |name, param| {
            let Some(state) = self.state().get(&param.id()) else {
                return;
            };
            metadata.insert(format!("optimizer.{name}.step"), state.step.to_string());
            for (buffer, values) in self.buffers().iter().zip(&state.buffers) {
                tensors.push((
                    format!("optimizer.{name}.{buffer}"),
                    Tensor::from_vec(values.clone(), &state.shape),
                ));
            }
        }));
        (tensors, metadata)
    }

    /// Restores state written by [`Optimizer::state_dict`] for the parameters
    /// of `model` (matched by name), replacing the current state.
    ///
    /// # Errors
    /// If the state is another rule's, or a buffer is missing or has another
    /// shape than its parameter; nothing changes then.
    fn load_state_dict(
        &mut self,
        model: &dyn Module<T>,
        tensors: &BTreeMap<String, Tensor<T>>,
        metadata: &Metadata,
    ) -> Result<(), OptimError> {
        let saved_rule = metadata.get("optimizer").map(String::as_str);
        if saved_rule != Some(self.name()) {
            return Err(OptimError::Restore(format!(
                "it was written by {:?}, this optimizer is {:?}",
                saved_rule.unwrap_or("no optimizer"),
                self.name()
            )));
        }
        let learning_rate: f64 = metadata
            .get("optimizer.learning_rate")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| OptimError::Restore("no valid optimizer.learning_rate".into()))?;
        let mut restored = OptimizerState::new();
        let mut problem = None;
        model.visit(&mut Visitor::new(&mut |name, param| {
            let Some(step) = metadata.get(&format!("optimizer.{name}.step")) else {
                return; // never updated
            };
            let step = match step.parse::<u64>() {
                Ok(step) => step,
                Err(_) => {
                    problem.get_or_insert(format!("optimizer.{name}.step is {step:?}"));
                    return;
                }
            };
            let mut buffers = Vec::new();
            for buffer in self.buffers() {
                let key = format!("optimizer.{name}.{buffer}");
                match tensors.get(&key) {
                    Some(t) if t.shape() == param.shape() => buffers.push(t.to_vec()),
                    Some(t) => {
                        problem.get_or_insert(format!(
                            "{key} has shape {:?}, the parameter {:?}",
                            t.shape(),
                            param.shape()
                        ));
                    }
                    None => {
                        problem.get_or_insert(format!("{key} is missing"));
                    }
                }
            }
            restored.insert(
                param.id(),
                ParamState {
                    step,
                    shape: param.shape().to_vec(),
                    buffers,
                },
            );
        }));
        if let Some(problem) = problem {
            return Err(OptimError::Restore(problem));
        }
        *self.state_mut() = restored;
        self.set_learning_rate(learning_rate);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autograd::{Param, Tape};

    struct Two {
        a: Param<f64>,
        b: Param<f64>,
    }
    nn::module!(Two: f64 { a, b });

    fn two() -> Two {
        Two {
            a: Param::new(Tensor::from_vec(vec![1.0, 2.0], &[2])),
            b: Param::new(Tensor::from_vec(vec![3.0], &[1])),
        }
    }

    /// L = sum(a^2) + 3 b: dL/da = 2a, dL/db = 3.
    fn gradients(model: &Two) -> Gradients<f64> {
        let tape = Tape::new();
        let loss = tape.param(&model.a).square().sum() + tape.param(&model.b).mul_scalar(3.0).sum();
        tape.backward(&loss).unwrap()
    }

    #[test]
    fn one_step_updates_every_parameter_with_its_own_gradient() {
        let mut model = two();
        let grads = gradients(&model);
        Sgd::new(0.1).step(&mut model, &grads).unwrap();
        assert_eq!(model.a.value().to_vec(), vec![1.0 - 0.2, 2.0 - 0.4]);
        assert_eq!(model.b.value().to_vec(), vec![3.0 - 0.3]);
    }

    #[test]
    fn state_of_another_shape_is_an_error_and_nothing_changes() {
        let mut model = two();
        let grads = gradients(&model);
        let mut adam = Adam::new(0.1);
        adam.step(&mut model, &grads).unwrap();
        adam.state_mut().get_mut(&model.b.id()).unwrap().shape = vec![5];
        let before = model.state_dict();
        let error = adam.step(&mut model, &grads).unwrap_err();
        assert_eq!(
            error,
            OptimError::StateShape {
                param: "b".into(),
                param_shape: vec![1],
                state_shape: vec![5]
            }
        );
        assert_eq!(model.state_dict(), before);
        assert!(error
            .to_string()
            .contains("state of b was made for shape [5]"));
    }

    /// `1e300` is finite as an `f64`, infinite as an `f32`; `1e-320` and
    /// `1e-40` are not normal `f32`s (0 where denormals are flushed, as in
    /// training): each is refused, also while denormals are flushed.
    #[test]
    fn hyperparameters_are_checked_in_the_element_type() {
        for (lr, expected) in [
            (1e300, "not finite in f32"),
            (1e-320, "below the smallest normal f32"),
            (1e-40, "below the smallest normal f32"),
        ] {
            for flushed in [false, true] {
                let check = || Adam::<f32>::new(lr).validate();
                let result = if flushed {
                    tensor::fast::denormals::flush_denormals(check)
                } else {
                    check()
                };
                let error = result
                    .map_err(|e| e.to_string())
                    .expect_err(&format!("{lr} flushed {flushed}"));
                assert!(
                    error.contains(expected),
                    "{lr} (flushed: {flushed}): {error}"
                );
            }
        }
        assert!(Adam::<f32>::new(1e-30).validate().is_ok());
        assert!(Adam::<f64>::new(1e-300).validate().is_ok());
    }

    #[test]
    fn bad_hyperparameters_are_errors() {
        let mut model = two();
        let grads = gradients(&model);
        for lr in [-1.0, f64::NAN, f64::INFINITY] {
            let error = Adam::new(lr).step(&mut model, &grads).unwrap_err();
            assert!(error.to_string().contains("learning_rate"), "{error}");
        }
    }

    /// Saved under names and restored into a fresh model (new identities),
    /// the state continues exactly where it was.
    #[test]
    fn state_round_trips_by_name_into_a_fresh_model() {
        let mut model = two();
        let mut adam = Adam::new(0.05);
        for _ in 0..3 {
            let grads = gradients(&model);
            adam.step(&mut model, &grads).unwrap();
        }
        let (tensors, metadata) = adam.state_dict(&model);
        assert_eq!(metadata["optimizer.a.step"], "3");
        let tensors: BTreeMap<String, Tensor<f64>> = tensors.into_iter().collect();
        assert!(tensors.contains_key("optimizer.b.exp_avg_sq"));

        let mut copy = two();
        let weights = model.state_dict().into_iter().collect();
        copy.load_state_dict(&weights, true).unwrap();
        let mut resumed = Adam::new(0.05);
        resumed.load_state_dict(&copy, &tensors, &metadata).unwrap();
        let grads = gradients(&model);
        adam.step(&mut model, &grads).unwrap();
        let grads = gradients(&copy);
        resumed.step(&mut copy, &grads).unwrap();
        assert_eq!(copy.state_dict(), model.state_dict());

        let error = Sgd::new(0.1)
            .load_state_dict(&copy, &tensors, &metadata)
            .unwrap_err();
        assert!(error.to_string().contains("written by \"adam\""), "{error}");
        let mut broken = tensors.clone();
        broken.insert("optimizer.a.exp_avg".into(), Tensor::zeros(&[3]));
        let error = resumed
            .load_state_dict(&copy, &broken, &metadata)
            .unwrap_err();
        assert!(error.to_string().contains("has shape [3]"), "{error}");
    }
}

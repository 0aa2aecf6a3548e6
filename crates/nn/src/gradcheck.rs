//! A module's gradients, checked: every parameter of a model (or of a cell
//! of your own) against finite differences, in one call.
//!
//! `autograd::gradcheck` perturbs the inputs of a function of vars. A
//! module's parameters are not inputs: the forward pass reads them from the
//! tape ([`Tape::param`]). [`Module::use_vars_as_params`] bridges the two:
//! for one recording it makes a list of vars stand for the parameters, so
//! gradcheck can perturb them as inputs. [`gradcheck_module`] does exactly
//! that, with every parameter's current value as the point of the check.

use autograd::{gradcheck, GradcheckOptions, GradcheckReport, Tape, Var};

use crate::module::Module;

/// Checks `d loss / d parameter` of every parameter of `module` against
/// central finite differences, at the parameters' current values.
/// `loss(tape, module)` runs the forward pass on `tape` and returns the
/// output to check (any shape; usually the loss). Options as
/// [`GradcheckOptions::default`]: a parameter of up to 256 scalars is
/// checked scalar by scalar, a larger one along 16 random directions; see
/// [`gradcheck_module_with`].
///
/// ```
/// use autograd::{Param, Tape, Var};
/// use nn::{gradcheck_module, Module, Visitor, VisitorMut};
/// use tensor::Tensor;
///
/// /// A cell of one's own: h' = tanh(x W^T + h U^T), with one state.
/// struct TinyCell { w: Param<f64>, u: Param<f64> }
/// nn::module!(TinyCell: f64 { w, u });
///
/// impl TinyCell {
///     fn step(&self, tape: &Tape<f64>, x: &Var<f64>, h: &Var<f64>) -> Var<f64> {
///         let (w, u) = (tape.param(&self.w), tape.param(&self.u));
///         (x.matmul(&w.t()) + h.matmul(&u.t())).tanh()
///     }
/// }
///
/// let cell = TinyCell {
///     w: Param::new(Tensor::from_vec(vec![0.5, -0.3, 0.8, 0.1], &[2, 2])),
///     u: Param::new(Tensor::from_vec(vec![0.2, 0.7, -0.4, 0.6], &[2, 2])),
/// };
/// let report = gradcheck_module(&cell, |tape, cell| {
///     let x = tape.constant(Tensor::from_vec(vec![1.0, -2.0], &[1, 2]));
///     let mut h = tape.constant(Tensor::zeros(&[1, 2]));
///     for _ in 0..3 {
///         h = cell.step(tape, &x, &h); // through time: the tape records every step
///     }
///     h.sum()
/// })
/// .unwrap();
/// assert_eq!(report.checked, cell.num_params());
/// ```
///
/// # Errors
/// The report naming the worst element, if a derivative is off.
///
/// # Panics
/// If `loss` panics, or as [`autograd::gradcheck()`].
pub fn gradcheck_module<M: Module<f64>>(
    module: &M,
    loss: impl Fn(&Tape<f64>, &M) -> Var<f64>,
) -> Result<GradcheckReport, GradcheckReport> {
    gradcheck_module_with(module, loss, &GradcheckOptions::default())
}

/// [`gradcheck_module`] with `options`: tolerances, a training tape (with
/// a seed, so dropout masks are the same at every evaluation), random
/// directions for large models.
///
/// # Errors
/// As [`gradcheck_module`].
pub fn gradcheck_module_with<M: Module<f64>>(
    module: &M,
    loss: impl Fn(&Tape<f64>, &M) -> Var<f64>,
    options: &GradcheckOptions,
) -> Result<GradcheckReport, GradcheckReport> {
    let values: Vec<_> = module.state_dict().into_iter().map(|(_, v)| v).collect();
    let run = |tape: &Tape<f64>, vars: &[Var<f64>]| {
        module.use_vars_as_params(tape, vars);
        loss(tape, module)
    };
    gradcheck(run, &values, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, Lstm};
    use autograd::Param;
    use rand::{rngs::StdRng, SeedableRng};
    use tensor::Tensor;

    struct Model {
        lstm: Lstm<f64>,
        fc: Linear<f64>,
    }
    crate::module!(Model: f64 { lstm, fc });

    #[test]
    fn every_parameter_of_a_model_is_checked() {
        let rng = &mut StdRng::seed_from_u64(0);
        let model = Model {
            lstm: Lstm::new(2, 3, rng),
            fc: Linear::new(3, 1, rng),
        };
        let x = Tensor::rand_normal(&[2, 4, 2], 0.0, 1.0, rng);
        let report = gradcheck_module(&model, |tape, m| {
            let h = m
                .lstm
                .forward(tape, &tape.constant(x.clone()))
                .final_hidden();
            m.fc.forward(tape, &h).square().sum()
        })
        .unwrap();
        assert_eq!(report.checked, model.num_params());
    }

    /// A gradient that misses a path is caught: with one use of the weight
    /// read through `detach` (a value whose backward is cut), the analytic
    /// derivative of `3 w + w` is 1 where the finite difference sees 4.
    #[test]
    fn a_parameter_the_gradient_misses_fails_the_check() {
        struct Scale {
            weight: Param<f64>,
        }
        crate::module!(Scale: f64 { weight });
        let model = Scale {
            weight: Param::new(Tensor::from_vec(vec![2.0], &[1])),
        };
        let three = |tape: &Tape<f64>| tape.constant(Tensor::from_vec(vec![3.0], &[1]));
        let honest = gradcheck_module(&model, |tape, m| {
            (tape.param(&m.weight) * three(tape)).sum()
        });
        assert!(honest.is_ok());
        let report = gradcheck_module(&model, |tape, m| {
            let w = tape.param(&m.weight);
            (w.detach() * three(tape) + w).sum()
        })
        .unwrap_err();
        assert!(report.to_string().contains("worst"), "{report}");
    }
}

//! `Linear` (Keras' `Dense`): `y = act(x W^T + b)`.
//!
//! `W` is stored `[out, in]`, PyTorch's layout, so a PyTorch checkpoint's
//! `fc.weight` loads with no transpose (under the same name: see
//! [`checkpoint`](crate::checkpoint)). Any number of leading axes is allowed: a
//! `[B, T, in]` input is read as `B*T` rows, multiplied once, and reshaped
//! back to `[B, T, out]`.

use autograd::{Param, Tape, Var};
use rand::Rng;
use tensor::Element;

use crate::activation::Activation;
use crate::init::{self, InitScheme};
use crate::module::{Module, Visitor, VisitorMut};

/// Options of a [`Linear`] layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearOptions {
    /// Whether to add a bias `b` (default true).
    pub bias: bool,
    /// Applied to the result (default identity).
    pub activation: Activation,
    /// Keras (Glorot-uniform weight, zero bias; the default) or PyTorch
    /// (`U(-1/sqrt(in), 1/sqrt(in))` for both).
    pub init: InitScheme,
}

impl Default for LinearOptions {
    fn default() -> Self {
        LinearOptions {
            bias: true,
            activation: Activation::Identity,
            init: InitScheme::Keras,
        }
    }
}

/// A fully connected layer, `y = act(x W^T + b)`, with `W: [out, in]`, `b: [out]`.
#[derive(Clone, Debug)]
pub struct Linear<T: Element = f32> {
    weight: Param<T>,
    bias: Option<Param<T>>,
    activation: Activation,
}

impl<T: Element> Linear<T> {
    /// A layer with Keras' defaults: Glorot-uniform weight, zero bias, no activation.
    ///
    /// # Panics
    /// If `in_features` or `out_features` is 0.
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        Self::with_options(in_features, out_features, LinearOptions::default(), rng)
    }

    /// A layer with the given options.
    ///
    /// # Panics
    /// If `in_features` or `out_features` is 0.
    pub fn with_options(
        in_features: usize,
        out_features: usize,
        options: LinearOptions,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(
            in_features > 0 && out_features > 0,
            "Linear: in_features = {in_features} and out_features = {out_features} must both be at least 1"
        );
        let shape = [out_features, in_features];
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let weight = match options.init {
            InitScheme::Keras => init::glorot_uniform(&shape, rng),
            InitScheme::PyTorch => init::uniform(&shape, bound, rng),
        };
        let bias = options.bias.then(|| match options.init {
            InitScheme::Keras => tensor::Tensor::zeros(&[out_features]),
            InitScheme::PyTorch => init::uniform(&[out_features], bound, rng),
        });
        Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
            activation: options.activation,
        }
    }

    /// `W`, `[out, in]`.
    pub fn weight(&self) -> &Param<T> {
        &self.weight
    }

    /// `b`, `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Param<T>> {
        self.bias.as_ref()
    }

    /// `W`, mutably (to set it by hand).
    pub fn weight_mut(&mut self) -> &mut Param<T> {
        &mut self.weight
    }

    /// `b`, mutably, if the layer has one.
    pub fn bias_mut(&mut self) -> Option<&mut Param<T>> {
        self.bias.as_mut()
    }

    /// The size of the last input axis.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The size of the last output axis.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The output shape for an input of shape `input` (last axis replaced).
    pub fn output_shape(&self, input: &[usize]) -> Vec<usize> {
        let mut shape = input.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = self.out_features();
        }
        shape
    }

    /// `y = act(x W^T + b)` for `x: [.., in]`, giving `[.., out]`.
    ///
    /// ```
    /// use autograd::Tape;
    /// use nn::Linear;
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use tensor::Tensor;
    ///
    /// let layer = Linear::<f32>::new(3, 2, &mut StdRng::seed_from_u64(0));
    /// let tape = Tape::new();
    /// let y = layer.forward(&tape, &tape.constant(Tensor::ones(&[5, 3])));
    /// assert_eq!(y.shape(), &[5, 2]);
    /// ```
    ///
    /// # Panics
    /// If the last axis of `x` is not `in_features`.
    pub fn forward(&self, tape: &Tape<T>, x: &Var<T>) -> Var<T> {
        let in_features = self.in_features();
        assert!(
            x.ndim() >= 1 && x.shape()[x.ndim() - 1] == in_features,
            "Linear: input of shape {:?} does not end in {in_features} features",
            x.shape()
        );
        let x_shape = x.shape().to_vec();
        let rows = x.value().numel() / in_features.max(1);
        let x = x.reshape(&[rows, in_features]);
        let weight_t = tape.param(&self.weight).t();
        let y = match &self.bias {
            Some(b) => x.matmul(&weight_t) + tape.param(b),
            None => x.matmul(&weight_t),
        };
        let out_shape = self.output_shape(&x_shape);
        self.activation.apply(&y.reshape(&out_shape))
    }
}

impl<T: Element> Module<T> for Linear<T> {
    fn visit<'m>(&'m self, visitor: &mut Visitor<'m, '_, T>) {
        visitor.param("weight", &self.weight);
        if let Some(bias) = &self.bias {
            visitor.param("bias", bias);
        }
    }

    fn visit_mut(&mut self, visitor: &mut VisitorMut<'_, T>) {
        visitor.param("weight", &mut self.weight);
        if let Some(bias) = &mut self.bias {
            visitor.param("bias", bias);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use tensor::Tensor;

    /// `W = [[1, 2], [3, 4], [5, 6]]`, `b = [1, 0, -1]`, `x = [1, -1]`:
    /// `x W^T = [1-2, 3-4, 5-6] = [-1, -1, -1]`, plus `b` gives `[0, -1, -2]`.
    #[test]
    fn linear_computes_x_wt_plus_b_over_leading_axes() {
        let mut layer = Linear::<f64>::new(2, 3, &mut StdRng::seed_from_u64(0));
        layer.weight_mut().set(Tensor::from_vec(
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[3, 2],
        ));
        layer
            .bias_mut()
            .unwrap()
            .set(Tensor::from_vec(vec![1.0, 0.0, -1.0], &[3]));
        let tape = Tape::new();
        let x = tape.constant(Tensor::from_vec(vec![1.0, -1.0, 1.0, -1.0], &[2, 1, 2]));
        let y = layer.forward(&tape, &x);
        assert_eq!(y.shape(), &[2, 1, 3]);
        assert_eq!(y.value().to_vec(), vec![0.0, -1.0, -2.0, 0.0, -1.0, -2.0]);
    }

    #[test]
    fn parameters_are_named_like_pytorch_and_receive_gradients() {
        let layer = Linear::<f64>::new(4, 2, &mut StdRng::seed_from_u64(1));
        let names: Vec<String> = layer.named_params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["weight", "bias"]);
        assert_eq!(layer.num_params(), 10);
        let tape = Tape::new();
        let x = tape.constant(Tensor::ones(&[3, 4]));
        let loss = layer.forward(&tape, &x).sum();
        let grads = tape.backward(&loss).unwrap();
        // dL/db = number of rows; dL/dW = sum of inputs = 3 everywhere.
        drop(tape);
        assert_eq!(
            layer.bias().unwrap().grad(&grads).unwrap().to_vec(),
            vec![3.0, 3.0]
        );
        assert_eq!(layer.weight().grad(&grads).unwrap().to_vec(), vec![3.0; 8]);
    }
}

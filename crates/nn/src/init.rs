//! Initializers: the random starting values of parameters.
//!
//! Every initializer draws from an explicit, seedable generator, so one seed
//! gives one model. Weight matrices use PyTorch's layout `[fan_out, fan_in]`
//! (`weight_ih` of an LSTM is `[4H, E]`).
//!
//! | initializer | distribution | used by default for (Keras' defaults) |
//! |---|---|---|
//! | [`glorot_uniform`] | `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))` | input kernels, `Linear` |
//! | [`orthogonal`] | a random matrix with orthonormal columns (or rows) | recurrent kernels `weight_hh` |
//! | [`Init::Zeros`] | 0 | biases |
//! | `Init::Constant(1)` | 1 | the LSTM forget-gate bias (`unit_forget_bias`) |
//! | [`uniform`] `(-0.05, 0.05)` | `U(-0.05, 0.05)` | embeddings |
//!
//! Also on the menu, for a layer of your own ([`Init::tensor`]): Glorot
//! normal, He (Kaiming) uniform and normal for ReLU layers, LeCun uniform
//! and normal, each as PyTorch's `torch.nn.init` computes it.
//!
//! PyTorch initializes differently: every weight and bias of `nn.RNN`,
//! `nn.LSTM`, `nn.GRU` from `U(-1/sqrt(H), 1/sqrt(H))`, `nn.Linear` from
//! `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` and `nn.Embedding` from `N(0, 1)`.
//! Each layer takes an [`InitScheme`] to choose between the two families.
//!
//! **Why orthogonal recurrent weights?** Backpropagation through time multiplies
//! the gradient by `W_hh^T` once per step. An orthogonal matrix keeps every
//! singular value at 1, so at initialization the gradient neither explodes
//! nor vanishes along time from the linear part alone (Saxe et al., 2014).
//! The fused `[4H, H]` matrix is `4H x H`; it gets orthonormal *columns*, which
//! is Keras' `[H, 4H]` recurrent kernel (orthonormal rows), transposed.

use rand::Rng;
use tensor::{Element, Tensor};

/// Which family of default initializers a layer uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum InitScheme {
    /// Keras' defaults: Glorot-uniform input kernels, orthogonal recurrent
    /// kernels, zero biases (and 1 for the LSTM forget gate), `U(-0.05, 0.05)`
    /// embeddings.
    #[default]
    Keras,
    /// PyTorch's defaults: `U(-1/sqrt(H), 1/sqrt(H))` for every recurrent
    /// weight and bias, `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for `Linear`,
    /// `N(0, 1)` for embeddings.
    #[cfg_attr(feature = "clap", value(name = "pytorch"))]
    PyTorch,
}

/// One way to fill a tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Every element equal to the value.
    Constant(f64),
    /// `U(-bound, bound)`.
    Uniform(f64),
    /// `N(0, std^2)`.
    Normal(f64),
    /// [`glorot_uniform`].
    GlorotUniform,
    /// Glorot (Xavier) normal: `N(0, 2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// He (Kaiming) uniform, for ReLU layers: `U(-a, a)`, `a = sqrt(6 / fan_in)`.
    HeUniform,
    /// He (Kaiming) normal: `N(0, 2 / fan_in)`.
    HeNormal,
    /// LeCun uniform, for SELU or linear layers: `U(-a, a)`, `a = sqrt(3 / fan_in)`.
    LecunUniform,
    /// LeCun normal: `N(0, 1 / fan_in)`.
    LecunNormal,
    /// [`orthogonal`].
    Orthogonal,
}

impl std::fmt::Display for Init {
    /// `zeros`, `constant(c)`, `uniform(b)`, `normal(s)`, `glorot_uniform`,
    /// `glorot_normal`, `he_uniform`, `he_normal`, `lecun_uniform`,
    /// `lecun_normal`, `orthogonal` (Keras' names).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Init::Zeros => write!(f, "zeros"),
            Init::Constant(c) => write!(f, "constant({c})"),
            Init::Uniform(b) => write!(f, "uniform({b})"),
            Init::Normal(s) => write!(f, "normal({s})"),
            named => write!(f, "{}", named.name().unwrap_or("?")),
        }
    }
}

impl std::str::FromStr for Init {
    type Err = String;

    /// The names [`Display`](std::fmt::Display) writes (`glorot` for short).
    fn from_str(text: &str) -> Result<Self, String> {
        let number = |inner: &str| -> Result<f64, String> {
            inner
                .parse()
                .map_err(|_| format!("{inner:?} is not a number"))
        };
        let argument = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('('))
                .and_then(|rest| rest.strip_suffix(')'))
        };
        if let Some(named) = Init::NAMED.iter().find(|init| init.name() == Some(text)) {
            return Ok(*named);
        }
        match text {
            "zeros" => Ok(Init::Zeros),
            "glorot" => Ok(Init::GlorotUniform),
            _ => {
                if let Some(c) = argument("constant") {
                    Ok(Init::Constant(number(c)?))
                } else if let Some(b) = argument("uniform") {
                    Ok(Init::Uniform(number(b)?))
                } else if let Some(s) = argument("normal") {
                    Ok(Init::Normal(number(s)?))
                } else {
                    Err(format!(
                        "unknown initializer {text:?}: expected glorot_uniform, glorot_normal, \
                         he_uniform, he_normal, lecun_uniform, lecun_normal, orthogonal, zeros, \
                         constant(c), uniform(b) or normal(s)"
                    ))
                }
            }
        }
    }
}

impl Init {
    /// The initializers without an argument, each known by [`Init::name`].
    pub const NAMED: [Init; 7] = [
        Init::GlorotUniform,
        Init::GlorotNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::LecunUniform,
        Init::LecunNormal,
        Init::Orthogonal,
    ];

    /// Keras' name of an initializer without an argument (`he_normal`).
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            Init::GlorotUniform => "glorot_uniform",
            Init::GlorotNormal => "glorot_normal",
            Init::HeUniform => "he_uniform",
            Init::HeNormal => "he_normal",
            Init::LecunUniform => "lecun_uniform",
            Init::LecunNormal => "lecun_normal",
            Init::Orthogonal => "orthogonal",
            Init::Zeros | Init::Constant(_) | Init::Uniform(_) | Init::Normal(_) => return None,
        })
    }

    /// A tensor of `shape` drawn from this initializer.
    ///
    /// The scaled ones read the fans of a `[fan_out, fan_in]` matrix, as
    /// PyTorch's `torch.nn.init` does (`xavier_normal_`; `kaiming_uniform_`
    /// and `kaiming_normal_` with `nonlinearity="relu"`, and with `"linear"`
    /// for LeCun's), and draw plain, untruncated normals as PyTorch does
    /// (Keras truncates its normals at two standard deviations).
    ///
    /// # Panics
    /// For the Glorot, He, LeCun and orthogonal initializers, if `shape` is
    /// not 2-D; for `Constant`, `Uniform` and `Normal`, if the value, bound
    /// or standard deviation is not finite (or is negative, for the last two).
    pub fn tensor<T: Element>(&self, shape: &[usize], rng: &mut impl Rng) -> Tensor<T> {
        let fans = || {
            assert_eq!(
                shape.len(),
                2,
                "{self}: needs a [fan_out, fan_in] shape, got {shape:?}"
            );
            (shape[0].max(1) as f64, shape[1].max(1) as f64)
        };
        let normal = |std: f64, rng: &mut _| Tensor::rand_normal(shape, 0.0, std, rng);
        match *self {
            Init::Zeros => Tensor::zeros(shape),
            Init::Constant(c) => {
                assert!(c.is_finite(), "Init::Constant: value {c} is not finite");
                Tensor::full(shape, T::from_f64(c))
            }
            Init::Uniform(bound) => uniform(shape, bound, rng),
            Init::Normal(std) => normal(std, rng),
            Init::GlorotUniform => glorot_uniform(shape, rng),
            Init::GlorotNormal => {
                let (fan_out, fan_in) = fans();
                normal((2.0 / (fan_in + fan_out)).sqrt(), rng)
            }
            Init::HeUniform => uniform(shape, (6.0 / fans().1).sqrt(), rng),
            Init::HeNormal => normal((2.0 / fans().1).sqrt(), rng),
            Init::LecunUniform => uniform(shape, (3.0 / fans().1).sqrt(), rng),
            Init::LecunNormal => normal((1.0 / fans().1).sqrt(), rng),
            Init::Orthogonal => orthogonal(shape, rng),
        }
    }
}

/// `U(-bound, bound)`. PyTorch's recurrent default is `bound = 1/sqrt(H)`.
///
/// # Panics
/// If `bound` is negative or not finite.
pub fn uniform<T: Element>(shape: &[usize], bound: f64, rng: &mut impl Rng) -> Tensor<T> {
    assert!(
        bound.is_finite() && bound >= 0.0,
        "uniform: bound {bound} is not a finite number >= 0"
    );
    if bound == 0.0 {
        return Tensor::zeros(shape);
    }
    Tensor::rand_uniform(shape, -bound, bound, rng)
}

/// Glorot (Xavier) uniform for a `[fan_out, fan_in]` matrix:
/// `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`, which keeps the variance
/// of activations and of gradients roughly equal from layer to layer.
///
/// For fused gate weights (`[4H, E]`) the fans are those of the whole matrix,
/// as in Keras (whose kernel is the same matrix transposed).
///
/// # Panics
/// If `shape` is not 2-D.
pub fn glorot_uniform<T: Element>(shape: &[usize], rng: &mut impl Rng) -> Tensor<T> {
    assert_eq!(
        shape.len(),
        2,
        "glorot_uniform: needs a [fan_out, fan_in] shape, got {shape:?}"
    );
    let (fan_out, fan_in) = (shape[0], shape[1]);
    let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    uniform(shape, limit, rng)
}

/// A random `[rows, cols]` matrix with orthonormal columns (if `rows >= cols`)
/// or orthonormal rows (otherwise), as Keras' and PyTorch's `orthogonal`.
///
/// Draws a Gaussian matrix `A` (tall: `max x min`) and returns the `Q` of its
/// QR decomposition with a positive diagonal in `R` (which makes `Q` uniformly
/// distributed over such matrices). Gram-Schmidt computes exactly that `Q`; it
/// runs twice over each column ("twice is enough") to stay orthogonal to
/// rounding error.
///
/// # Panics
/// If `shape` is not 2-D.
pub fn orthogonal<T: Element>(shape: &[usize], rng: &mut impl Rng) -> Tensor<T> {
    assert_eq!(
        shape.len(),
        2,
        "orthogonal: needs a 2-D shape, got {shape:?}"
    );
    let (rows, cols) = (shape[0], shape[1]);
    let (m, n) = (rows.max(cols), rows.min(cols));
    // Columns of the tall m x n Gaussian matrix, one Vec per column.
    let gaussian = Tensor::<f64>::rand_normal(&[n, m], 0.0, 1.0, rng).to_vec();
    let mut q: Vec<Vec<f64>> = gaussian
        .chunks(m.max(1))
        .take(n)
        .map(<[f64]>::to_vec)
        .collect();
    for j in 0..n {
        for _ in 0..2 {
            for i in 0..j {
                let dot: f64 = q[i].iter().zip(&q[j]).map(|(a, b)| a * b).sum();
                let qi = q[i].clone();
                for (x, y) in q[j].iter_mut().zip(&qi) {
                    *x -= dot * y;
                }
            }
        }
        let norm = q[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        for x in &mut q[j] {
            *x /= norm;
        }
    }
    // q[j][i] = Q[i, j] for the tall Q (m x n); transpose it for a wide shape.
    Tensor::from_fn(shape, |index| {
        let (i, j) = (index[0], index[1]);
        T::from_f64(if rows >= cols { q[j][i] } else { q[i][j] })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn gram(q: &Tensor<f64>) -> Tensor<f64> {
        q.t().matmul(q)
    }

    #[test]
    fn orthogonal_tall_matrix_has_orthonormal_columns() {
        let q: Tensor<f64> = orthogonal(&[12, 3], &mut StdRng::seed_from_u64(1));
        assert!(gram(&q).all_close(&Tensor::eye(3), 1e-12), "{}", gram(&q));
    }

    #[test]
    fn orthogonal_wide_matrix_has_orthonormal_rows() {
        let q: Tensor<f64> = orthogonal(&[3, 12], &mut StdRng::seed_from_u64(2));
        assert!(q.matmul(&q.t()).all_close(&Tensor::eye(3), 1e-12));
        let square: Tensor<f64> = orthogonal(&[5, 5], &mut StdRng::seed_from_u64(3));
        assert!(gram(&square).all_close(&Tensor::eye(5), 1e-12));
    }

    /// For `[8, 4]`: `a = sqrt(6 / 12) = 0.7071`; 32 draws all inside, and not all tiny.
    #[test]
    fn glorot_uniform_stays_within_its_limit() {
        let w: Tensor<f64> = glorot_uniform(&[8, 4], &mut StdRng::seed_from_u64(4));
        let limit = 0.5f64.sqrt();
        assert!(w.to_vec().iter().all(|x| x.abs() < limit));
        assert!(w.abs().max().item() > limit / 2.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_weights() {
        let a: Tensor<f32> = Init::Orthogonal.tensor(&[8, 2], &mut StdRng::seed_from_u64(5));
        let b: Tensor<f32> = Init::Orthogonal.tensor(&[8, 2], &mut StdRng::seed_from_u64(5));
        assert_eq!(a, b);
        assert_eq!(
            Init::Constant(1.0)
                .tensor::<f32>(&[2], &mut StdRng::seed_from_u64(0))
                .to_vec(),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn every_named_initializer_reads_back_from_its_name() {
        for init in Init::NAMED {
            let name = init.to_string();
            assert_eq!(name.parse::<Init>(), Ok(init), "{name}");
        }
        assert!("kaiming".parse::<Init>().unwrap_err().contains("he_normal"));
    }

    /// The spread of each scaled initializer on a `[400, 250]` matrix: the
    /// sample's standard deviation within 2% of the formula's, and a
    /// uniform one's largest value within its bound.
    #[test]
    fn scaled_initializers_have_their_formulas_spread() {
        let (fan_out, fan_in) = (400.0f64, 250.0f64);
        let cases = [
            (Init::GlorotNormal, (2.0 / (fan_in + fan_out)).sqrt(), None),
            (Init::HeNormal, (2.0 / fan_in).sqrt(), None),
            (Init::LecunNormal, (1.0 / fan_in).sqrt(), None),
            (
                Init::HeUniform,
                (2.0 / fan_in).sqrt(),
                Some((6.0 / fan_in).sqrt()),
            ),
            (
                Init::LecunUniform,
                (1.0 / fan_in).sqrt(),
                Some((3.0 / fan_in).sqrt()),
            ),
        ];
        for (init, std, bound) in cases {
            let values = init
                .tensor::<f64>(&[400, 250], &mut StdRng::seed_from_u64(7))
                .to_vec();
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let sample_std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            assert!(
                (sample_std / std - 1.0).abs() < 0.02,
                "{init}: {sample_std} vs {std}"
            );
            if let Some(bound) = bound {
                assert!(values.iter().all(|v| v.abs() <= bound), "{init}");
            }
        }
    }
}

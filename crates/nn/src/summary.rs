//! `Summary`: a table of a model's layers, like Keras' `model.summary()`.
//!
//! Each row is one layer: its name and type, the shape of its output for a
//! given input shape, and its parameter count; the footer gives the total.
//! A model builds its summary by adding its layers in order (as the `train`
//! crate's `SentimentModel::summary` does):
//!
//! ```text
//! Model: "SentimentModel"
//! ____________________________________________________________________
//!  Layer (type)                   Output Shape               Param #
//! ====================================================================
//!  embedding (Embedding)          [32, 200, 64]               64,000
//!  lstm (LSTM)                    [32, 200, 128]              99,328
//!  fc (Linear)                    [32, 1]                        129
//! ====================================================================
//! Total params: 163,457
//! ____________________________________________________________________
//! ```

use std::fmt;

use tensor::Element;

use crate::module::Module;

/// One layer's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's name in the model (`lstm`), the prefix of its parameters.
    pub name: String,
    /// Its type, with details (`LSTM`, `Bidirectional(LSTM)`).
    pub layer_type: String,
    /// Its output shape for the summary's input shape.
    pub output_shape: Vec<usize>,
    /// The number of scalars in its parameters.
    pub params: usize,
}

/// A Keras-style table of layers; print it with `{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The model's name.
    pub model: String,
    /// The layers in order.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// An empty table for a model.
    pub fn new(model: impl Into<String>) -> Self {
        Summary {
            model: model.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row for `layer` (its parameters are counted).
    pub fn add<T: Element>(
        &mut self,
        name: &str,
        layer_type: impl Into<String>,
        output_shape: &[usize],
        layer: &impl Module<T>,
    ) -> &mut Self {
        self.rows.push(SummaryRow {
            name: name.to_string(),
            layer_type: layer_type.into(),
            output_shape: output_shape.to_vec(),
            params: layer.num_params(),
        });
        self
    }

    /// The sum of all rows' parameters.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).expect("ASCII digits"))
        .collect();
    groups.join(",")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layer_column = self
            .rows
            .iter()
            .map(|r| r.name.len() + r.layer_type.len() + 4)
            .chain([30])
            .max()
            .unwrap_or(30);
        let shape_column = self
            .rows
            .iter()
            .map(|r| format!("{:?}", r.output_shape).len() + 2)
            .chain([20])
            .max()
            .unwrap_or(20);
        let params_column = 14;
        let width = 1 + layer_column + shape_column + params_column;
        writeln!(f, "Model: \"{}\"", self.model)?;
        writeln!(f, "{}", "_".repeat(width))?;
        writeln!(
            f,
            " {:<layer_column$}{:<shape_column$}{:>params_column$}",
            "Layer (type)", "Output Shape", "Param #"
        )?;
        writeln!(f, "{}", "=".repeat(width))?;
        for row in &self.rows {
            let layer = format!("{} ({})", row.name, row.layer_type);
            let shape = format!("{:?}", row.output_shape);
            writeln!(
                f,
                " {layer:<layer_column$}{shape:<shape_column$}{:>params_column$}",
                thousands(row.params)
            )?;
        }
        writeln!(f, "{}", "=".repeat(width))?;
        writeln!(f, "Total params: {}", thousands(self.total_params()))?;
        write!(f, "{}", "_".repeat(width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Linear;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn summary_lists_layers_shapes_and_counts() {
        let fc = Linear::<f32>::new(1000, 1000, &mut StdRng::seed_from_u64(0));
        let mut summary = Summary::new("Tiny");
        summary.add("fc", "Linear", &[32, 1000], &fc);
        let text = summary.to_string();
        assert!(text.starts_with("Model: \"Tiny\""));
        assert!(text.contains(" fc (Linear)"));
        assert!(text.contains("[32, 1000]"));
        assert!(text.contains("1,001,000"), "{text}");
        assert!(text.contains("Total params: 1,001,000"));
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}

//! Training history: one row of metrics per epoch, written as CSV and drawn as SVG.
//!
//! Like Keras' `History`, every epoch's metrics are kept by name. They are
//! written where a user looks for them: `history.csv` to load anywhere, and one
//! small SVG line chart per metric family (`loss.svg`, `accuracy.svg`), drawn
//! here in a few lines of SVG rather than with a plotting library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use nn::checkpoint::write_atomically;

/// Metrics by name, one value per epoch.
#[derive(Clone, Debug, Default)]
pub struct History {
    names: Vec<String>,
    values: BTreeMap<String, Vec<f64>>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one epoch's metrics (`[("loss", 0.4), ("val_loss", 0.5)]`, say).
    pub fn record(&mut self, metrics: &[(&str, f64)]) {
        for &(name, value) in metrics {
            if !self.values.contains_key(name) {
                self.names.push(name.to_string());
            }
            self.values.entry(name.to_string()).or_default().push(value);
        }
    }

    /// Reads a history written by [`History::to_csv`].
    ///
    /// It reads back exactly what `to_csv` writes, and refuses what `to_csv`
    /// never writes rather than guess: epochs out of order, a value that is
    /// not a finite number (the training loop stops before it records one),
    /// or a gap in a column (a metric's values are per epoch from the first;
    /// only its last epochs may be missing).
    ///
    /// # Errors
    /// If the header does not start with `epoch` or repeats a name, a row has
    /// another number of fields than the header or another epoch number than
    /// its position, or a value is not a finite number or follows a gap.
    pub fn from_csv(text: &str) -> Result<History, String> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        if header.first() != Some(&"epoch") {
            return Err(format!(
                "history: the header must start with \"epoch\", found {:?}",
                header.join(",")
            ));
        }
        let names = &header[1..];
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || names[..i].contains(name) {
                return Err(format!(
                    "history: the header names {name:?} more than once or not at all"
                ));
            }
        }
        let mut history = History::new();
        let mut ended = vec![false; names.len()];
        for (row, line) in lines.enumerate() {
            let row = row + 1;
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(format!(
                    "history: row {row} has {} fields, the header {}",
                    fields.len(),
                    header.len()
                ));
            }
            if fields[0] != row.to_string() {
                return Err(format!(
                    "history: row {row} is numbered {:?}, not {row}",
                    fields[0]
                ));
            }
            let mut metrics = Vec::new();
            for ((name, text), ended) in names.iter().zip(&fields[1..]).zip(&mut ended) {
                if text.is_empty() {
                    *ended = true;
                    continue;
                }
                if *ended {
                    return Err(format!(
                        "history: row {row}, {name}: a value after a missing one"
                    ));
                }
                let value: f64 = text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        format!("history: row {row}, {name}: {text:?} is not a finite number")
                    })?;
                metrics.push((*name, value));
            }
            history.record(&metrics);
        }
        Ok(history)
    }

    /// The values of one metric, by epoch.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// The number of epochs recorded.
    pub fn epochs(&self) -> usize {
        self.values.values().map(Vec::len).max().unwrap_or(0)
    }

    /// The history as CSV: a header `epoch,<names...>`, then one row per epoch.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("epoch");
        for name in &self.names {
            let _ = write!(out, ",{name}");
        }
        out.push('\n');
        for epoch in 0..self.epochs() {
            let _ = write!(out, "{}", epoch + 1);
            for name in &self.names {
                match self.values[name].get(epoch) {
                    Some(v) => {
                        let _ = write!(out, ",{v}");
                    }
                    None => out.push(','),
                }
            }
            out.push('\n');
        }
        out
    }

    /// An SVG line chart of the named metrics against the epoch.
    pub fn to_svg(&self, title: &str, names: &[&str]) -> String {
        let (width, height, margin) = (480.0, 300.0, 48.0);
        let series: Vec<(&str, &[f64])> = names
            .iter()
            .filter_map(|&n| self.get(n).map(|v| (n, v)))
            .collect();
        let all = series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite());
        let (low, high) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (low, high) = if low < high {
            (low, high)
        } else if low.is_finite() {
            (low - 0.5, low + 0.5)
        } else {
            (0.0, 1.0)
        };
        let epochs = self.epochs().max(2) as f64;
        let x = |epoch: usize| margin + (width - 2.0 * margin) * epoch as f64 / (epochs - 1.0);
        let y =
            |value: f64| height - margin - (height - 2.0 * margin) * (value - low) / (high - low);
        let (center, bottom, right) = (width / 2.0, height - margin, width - margin);
        let label_y = height - 12.0;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{center}\" y=\"20\" text-anchor=\"middle\">{title}</text>\n\
             <line x1=\"{margin}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
             <line x1=\"{margin}\" y1=\"{margin}\" x2=\"{margin}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
             <text x=\"{center}\" y=\"{label_y}\" text-anchor=\"middle\">epoch</text>\n\
             <text x=\"4\" y=\"{margin}\">{high:.3}</text>\n<text x=\"4\" y=\"{bottom}\">{low:.3}</text>\n"
        );
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
        for (i, (name, values)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(e, &v)| format!("{:.1},{:.1}", x(e), y(v)))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
                width - margin - 60.0,
                margin + 16.0 * i as f64
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// Writes `history.csv`, and `<family>.svg` for each metric family (a metric
    /// `m` and its `val_m` share a chart), into `directory`, each file atomically.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn save(&self, directory: &Path) -> io::Result<()> {
        std::fs::create_dir_all(directory)?;
        write_atomically(&directory.join("history.csv"), self.to_csv().as_bytes())?;
        for name in self.names.iter().filter(|n| !n.starts_with("val_")) {
            let validation = format!("val_{name}");
            let chart = self.to_svg(name, &[name.as_str(), validation.as_str()]);
            write_atomically(&directory.join(format!("{name}.svg")), chart.as_bytes())?;
        }
        Ok(())
    }

    /// The names of the metrics, in the order they were first recorded.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_one_row_per_epoch() {
        let mut history = History::new();
        history.record(&[("loss", 0.7), ("val_loss", 0.8)]);
        history.record(&[("loss", 0.5), ("val_loss", 0.6)]);
        assert_eq!(
            history.to_csv(),
            "epoch,loss,val_loss\n1,0.7,0.8\n2,0.5,0.6\n"
        );
        let svg = history.to_svg("loss", &["loss", "val_loss"]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        let read = History::from_csv(&history.to_csv()).unwrap();
        assert_eq!(read.to_csv(), history.to_csv());
        assert!(History::from_csv("epoch,loss\n1,abc\n")
            .unwrap_err()
            .contains("\"abc\" is not a finite number"));
        assert!(History::from_csv("step,loss\n").is_err());
    }

    /// What `to_csv` never writes is refused, not guessed at.
    #[test]
    fn from_csv_refuses_what_to_csv_never_writes() {
        for (csv, expected) in [
            (
                "epoch,loss\n1,NaN\n",
                "row 1, loss: \"NaN\" is not a finite number",
            ),
            (
                "epoch,loss\n1,inf\n",
                "row 1, loss: \"inf\" is not a finite number",
            ),
            ("epoch,loss\n2,0.5\n", "row 1 is numbered \"2\", not 1"),
            (
                "epoch,loss\n1,0.5\n1,0.4\n",
                "row 2 is numbered \"1\", not 2",
            ),
            (
                "epoch,loss,loss\n1,0.5,0.5\n",
                "names \"loss\" more than once",
            ),
            ("epoch,,loss\n", "names \"\" more than once or not at all"),
            (
                "epoch,loss\n1,\n2,0.4\n",
                "row 2, loss: a value after a missing one",
            ),
        ] {
            let error = History::from_csv(csv).unwrap_err();
            assert!(error.contains(expected), "{csv:?}: {error}");
        }
        // A metric recorded for fewer epochs leaves its last fields empty, and reads back.
        let mut history = History::new();
        history.record(&[("loss", 0.5), ("val_loss", 0.6)]);
        history.record(&[("loss", 0.4)]);
        let csv = history.to_csv();
        assert_eq!(csv, "epoch,loss,val_loss\n1,0.5,0.6\n2,0.4,\n");
        assert_eq!(History::from_csv(&csv).unwrap().to_csv(), csv);
    }
}

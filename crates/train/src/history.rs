//! Training history: one row of metrics per epoch, written as CSV and drawn as SVG.
//!
//! Like Keras' `History`, every epoch's metrics are kept by name. They are
//! written where a user looks for them: `history.csv` to load anywhere, and one
//! line chart per metric family (`loss.svg`, `accuracy.svg`: the training
//! metric and its `val_` twin against the epoch), drawn by [`crate::plot`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use tensor::durable::write_atomically;

use crate::plot::{LineChart, Series};

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

    /// The chart of metric family `name`: `name` as "train" and `val_<name>`
    /// as "validation" (each if recorded), against the epoch (1, 2, ...).
    pub fn chart(&self, name: &str) -> LineChart {
        let mut chart = LineChart::new(name, "epoch", name);
        let validation = format!("val_{name}");
        for (metric, label) in [(name, "train"), (validation.as_str(), "validation")] {
            if let Some(values) = self.get(metric) {
                let points = values.iter().enumerate().map(|(e, &v)| ((e + 1) as f64, v));
                chart = chart.series(Series::new(label, points));
            }
        }
        chart
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
            self.chart(name)
                .save(&directory.join(format!("{name}.svg")))?;
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

    #[test]
    fn save_draws_one_chart_per_family_with_train_and_validation() {
        let mut history = History::new();
        history.record(&[("loss", 0.7), ("accuracy", 0.5), ("val_loss", 0.8)]);
        history.record(&[("loss", 0.5), ("accuracy", 0.7), ("val_loss", 0.6)]);
        let chart = history.chart("loss");
        assert_eq!(
            (chart.title.as_str(), chart.x_label.as_str()),
            ("loss", "epoch")
        );
        let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["train", "validation"]);
        assert_eq!(chart.series[1].points, [(1.0, 0.8), (2.0, 0.6)]);
        assert_eq!(history.chart("accuracy").series.len(), 1);

        let dir = tempfile::tempdir().unwrap();
        history.save(dir.path()).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["accuracy.svg", "history.csv", "loss.svg"]);
        let loss = std::fs::read_to_string(dir.path().join("loss.svg")).unwrap();
        assert_eq!(loss, chart.to_svg());
    }
}

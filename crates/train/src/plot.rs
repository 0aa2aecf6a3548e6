//! Line charts drawn to SVG files, with the `plotters` crate.
//!
//! One concept: a [`LineChart`] is a title, two axis labels, a linear or
//! logarithmic y axis ([`Scale`]) and named [`Series`] of `(x, y)` points.
//! [`LineChart::to_svg`] draws it into a `String`; [`LineChart::save`]
//! writes that string atomically (a crash never leaves half a picture).
//!
//! ```
//! use train::plot::{LineChart, Series};
//!
//! let chart = LineChart::new("loss", "epoch", "loss")
//!     .series(Series::new("train", [(1.0, 0.69), (2.0, 0.52), (3.0, 0.41)]))
//!     .series(Series::new("validation", [(1.0, 0.66), (2.0, 0.55), (3.0, 0.50)]));
//! let svg = chart.to_svg();
//! assert!(svg.starts_with("<svg") && svg.contains("validation"));
//! ```
//!
//! What every chart has, so it can be read at a glance:
//!
//! - **axes with labels and ticks** at round values (1, 2, 5 times a power
//!   of ten); when every x is a whole number (epochs, time steps) the x ticks
//!   are whole numbers too, never `1.5`;
//! - **a marker at every point**, so a curve of three epochs shows three
//!   measurements, not a line that seems continuous;
//! - **a legend beside the plot**, not over it, so it never hides a line;
//! - **a log-scale y axis** on request ([`Scale::Log`]), for quantities that
//!   shrink by orders of magnitude (a vanishing gradient). It is drawn as a
//!   linear axis over `log10(y)` with ticks labelled by `y` itself, at powers
//!   of ten (and 2 and 5 times them when the range spans less than two decades).
//!
//! Points that cannot be drawn are left out: a non-finite `x` or `y`, and
//! `y <= 0` on a log axis (a gradient that underflowed to exactly zero).
//!
//! # Fonts
//! The SVG holds its text as `<text>` elements that the viewer draws with
//! its own sans-serif font, so no font file and no system font library is
//! needed to build or run this (plotters is built without its `ttf`
//! feature). Plotters then sizes the text boxes from a fixed estimate per
//! character, which is all an SVG writer can know about text anyway.

use std::io;
use std::path::Path;

use std::ops::Range;
use tensor::durable::write_atomically;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How the y axis maps values to height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scale {
    /// Equal steps in `y` are equal heights.
    #[default]
    Linear,
    /// Equal ratios in `y` are equal heights (`log10`); only `y > 0` is drawn.
    Log,
}

/// One named line of a chart: `(x, y)` points, joined in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The name shown in the legend.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Index into the chart's palette; `None`: the series' position in the chart.
    pub color: Option<usize>,
    /// Open markers and a thin line: the "before" beside a filled "after"
    /// of the same color.
    pub hollow: bool,
}

impl Series {
    /// A series with filled markers, colored by its position in the chart.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().collect(),
            color: None,
            hollow: false,
        }
    }

    /// The same series drawn in palette color `index` (so two series can share one).
    pub fn color(mut self, index: usize) -> Self {
        self.color = Some(index);
        self
    }

    /// The same series with open markers and a thin line.
    pub fn hollow(mut self) -> Self {
        self.hollow = true;
        self
    }
}

/// A line chart: title, axis labels, y scale and series (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// The caption above the plot.
    pub title: String,
    /// The label under the x axis.
    pub x_label: String,
    /// The label beside the y axis.
    pub y_label: String,
    /// Linear (default) or logarithmic y axis.
    pub y_scale: Scale,
    /// The lines, drawn in order (a later one over an earlier one).
    pub series: Vec<Series>,
}

/// Ten colors that stay distinct side by side (matplotlib's `tab10`).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The plot's size in pixels; the legend's width is added to it.
const PLOT_SIZE: (u32, u32) = (640, 400);
/// The legend's text size as plotters takes it (the SVG says `17 / 1.24`,
/// about 14 pixels), and the width we reserve per character of it: a
/// sans-serif character averages about 0.55 em, so 8 pixels is generous.
const LEGEND_FONT: u32 = 17;
const LEGEND_CHAR_WIDTH: u32 = 8;

impl LineChart {
    /// A chart with no series yet and a linear y axis.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        LineChart {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            y_scale: Scale::Linear,
            series: Vec::new(),
        }
    }

    /// The same chart with a logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.y_scale = Scale::Log;
        self
    }

    /// The same chart with one more series.
    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Writes [`LineChart::to_svg`] to `path`, atomically.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        write_atomically(path, self.to_svg().as_bytes())
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        // Only drawable points, with y moved to log10(y) on a log axis.
        let series: Vec<(&Series, Vec<(f64, f64)>)> = self
            .series
            .iter()
            .map(|s| {
                let points = s
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .filter(|(_, y)| self.y_scale == Scale::Linear || *y > 0.0)
                    .map(|&(x, y)| (x, self.to_axis(y)))
                    .collect();
                (s, points)
            })
            .collect();
        let all = || series.iter().flat_map(|(_, points)| points.iter());
        let whole_x = all().all(|(x, _)| x.fract() == 0.0);
        let x_axis = axis(all().map(|p| p.0), 0.02, whole_x);
        let y_axis = match self.y_scale {
            Scale::Linear => axis(all().map(|p| p.1), 0.05, false),
            Scale::Log => log_axis(all().map(|p| p.1)),
        };
        let longest_name = self.series.iter().map(|s| s.name.chars().count()).max();
        let legend_width = 56 + LEGEND_CHAR_WIDTH * longest_name.unwrap_or(0) as u32;
        let size = (PLOT_SIZE.0 + legend_width, PLOT_SIZE.1);

        let mut svg = String::new();
        {
            // The backend writes into `svg` when it is dropped at the end of this block.
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            self.draw(&root, PLOT_SIZE.0, &series, x_axis, y_axis)
                .expect("drawing into a String cannot fail: no file, and the text needs no font");
        }
        svg
    }

    /// `y` as the axis holds it: itself, or `log10(y)`.
    fn to_axis(&self, y: f64) -> f64 {
        match self.y_scale {
            Scale::Linear => y,
            Scale::Log => y.log10(),
        }
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, Shift>,
        plot_width: u32,
        series: &[(&Series, Vec<(f64, f64)>)],
        x_axis: Axis,
        y_axis: Axis,
    ) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
        root.fill(&WHITE)?;
        let (plot_area, legend_area) = root.split_horizontally(plot_width);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(&self.title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_axis, y_axis)?;
        let log = self.y_scale == Scale::Log;
        let y_format = |v: &f64| {
            if log {
                power_of_ten_label(*v)
            } else {
                number_label(*v)
            }
        };
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| number_label(*v))
            .y_label_formatter(&y_format)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;

        let marker = |points: usize| if points > 40 { 2 } else { 4 };
        for (i, (s, points)) in series.iter().enumerate() {
            chart.draw_series(
                LineSeries::new(points.iter().copied(), self.style(i, s))
                    .point_size(marker(points.len())),
            )?;
        }

        // The legend, in its own area to the right of the plot: a short line
        // with the series' marker, then its name, one row per series.
        let row = |i: usize| 40 + 22 * i as i32;
        for (i, (s, _)) in series.iter().enumerate() {
            let style = self.style(i, s);
            let y = row(i);
            legend_area.draw(&PathElement::new(vec![(8, y), (36, y)], style))?;
            legend_area.draw(&Circle::new((22, y), 4, style))?;
            legend_area.draw(&Text::new(
                s.name.clone(),
                (44, y),
                ("sans-serif", LEGEND_FONT)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        root.present()
    }

    fn style(&self, position: usize, series: &Series) -> ShapeStyle {
        let color = PALETTE[series.color.unwrap_or(position) % PALETTE.len()];
        if series.hollow {
            ShapeStyle::from(&color).stroke_width(1)
        } else {
            ShapeStyle::from(&color).filled().stroke_width(2)
        }
    }
}

/// One axis as plotters sees it: a range of values mapped linearly onto
/// pixels, and the values that get a tick, a grid line and a label.
#[derive(Clone, Debug)]
struct Axis {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, pixels: (i32, i32)) -> i32 {
        let fraction = (value - self.range.start) / (self.range.end - self.range.start);
        pixels.0 + (fraction * f64::from(pixels.1 - pixels.0)).round() as i32
    }

    /// Our ticks as the bold grid lines; no light lines between them.
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// An axis over `values` with `pad` of the span added on both sides (so
/// markers at the ends are not cut), and ticks at round values; whole
/// numbers only if `whole`.
fn axis(values: impl Iterator<Item = f64>, pad: f64, whole: bool) -> Axis {
    let (low, high) = bounds(values);
    let span = high - low;
    let (low, high) = if span > 0.0 {
        (low - pad * span, high + pad * span)
    } else {
        (low - 0.5, high + 0.5)
    };
    let mut step = nice_step((high - low) / 8.0);
    if whole {
        step = step.max(1.0);
    }
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    Axis {
        range: low..high,
        ticks,
    }
}

/// A log axis over `log10` values: padded by 5% of the span, ticks at
/// whole powers of ten, and at 2 and 5 times them over a short range.
fn log_axis(exponents: impl Iterator<Item = f64>) -> Axis {
    let (low, high) = bounds(exponents);
    let pad = ((high - low) * 0.05).max(0.1);
    let (low, high) = (low - pad, high + pad);
    let mantissas: &[f64] = if high - low < 2.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    // Over many decades, label every 2nd, 3rd, ... power so at most ~10 remain.
    let every = ((high - low) / 10.0).ceil().max(1.0) as i64;
    let mut ticks = Vec::new();
    for decade in (low.floor() as i64)..=(high.ceil() as i64) {
        if decade.rem_euclid(every) != 0 {
            continue;
        }
        for m in mantissas {
            let t = decade as f64 + m.log10();
            if (low..=high).contains(&t) {
                ticks.push(t);
            }
        }
    }
    Axis {
        range: low..high,
        ticks,
    }
}

/// The smallest and largest value; `(0, 1)` if there is none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low <= high {
        (low, high)
    } else {
        (0.0, 1.0)
    }
}

/// The smallest of 1, 2, 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// A tick value without float noise: `3`, `0.25`, `1e-05`.
fn number_label(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    if !(1e-3..1e6).contains(&magnitude) {
        return format!("{v:.0e}");
    }
    // Six significant digits, then no trailing zeros.
    let digits = (5 - magnitude.log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The label of the log-axis tick at exponent `e`, a value `m * 10^d` with
/// `m` 1, 2 or 5: written out from `0.001` to `50000`, else `5e-7`.
fn power_of_ten_label(e: f64) -> String {
    let decade = (e + 1e-9).floor();
    let mantissa = 10f64.powf(e - decade).round() as i64;
    let d = decade as i32;
    match d {
        0..=4 => (mantissa * 10i64.pow(d as u32)).to_string(),
        -3..=-1 => format!("0.{}{mantissa}", "0".repeat((-d - 1) as usize)),
        _ => format!("{mantissa}e{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs() -> LineChart {
        LineChart::new("loss", "epoch", "loss")
            .series(Series::new("train", [(1.0, 0.7), (2.0, 0.5), (3.0, 0.4)]))
            .series(Series::new(
                "validation",
                [(1.0, 0.8), (2.0, 0.6), (3.0, 0.55)],
            ))
    }

    /// The text of every `<text>` element, in order.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .map(|rest| {
                let body = &rest[rest.find('>').unwrap() + 1..];
                body[..body.find("</text>").unwrap()].trim().to_string()
            })
            .collect()
    }

    #[test]
    fn a_chart_is_one_svg_document_with_title_axis_labels_and_names() {
        let svg = epochs().to_svg();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        let texts = texts(&svg);
        for expected in ["loss", "epoch", "train", "validation"] {
            assert!(texts.iter().any(|t| t == expected), "{expected}: {texts:?}");
        }
    }

    /// Three points per series, two series: six markers on the lines, and
    /// one beside each name in the legend.
    #[test]
    fn every_point_has_a_marker_and_every_series_a_line() {
        let svg = epochs().to_svg();
        assert_eq!(svg.matches("<circle").count(), 3 + 3 + 2);
        // Axes and ticks are black polylines; the colored ones are the series'
        // lines and their keys in the legend.
        let colored = svg
            .split("<polyline")
            .skip(1)
            .filter(|attributes| {
                !attributes[..attributes.find("/>").unwrap()].contains("stroke=\"#000000\"")
            })
            .count();
        assert_eq!(colored, 2 + 2);
    }

    /// Three epochs on a 2%-padded axis: ticks 1, 2, 3 and nothing in between.
    #[test]
    fn whole_number_x_values_get_whole_number_ticks() {
        let texts = texts(&epochs().to_svg());
        for tick in ["1", "2", "3"] {
            assert!(texts.iter().any(|t| t == tick), "{tick}: {texts:?}");
        }
        let ticks = |values: &[f64]| axis(values.iter().copied(), 0.02, true).ticks;
        assert_eq!(ticks(&[1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]);
        assert_eq!(ticks(&[1.0]), [1.0]);
        assert_eq!(ticks(&[1.0, 100.0]), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        // Without `whole`, the same three epochs would get half steps.
        assert_eq!(
            axis([1.0, 2.0, 3.0].into_iter(), 0.02, false).ticks.len(),
            5
        );
    }

    /// Values from 1e-6 to 1: ticks at the seven powers of ten between, labelled by value.
    #[test]
    fn a_log_axis_is_labelled_with_powers_of_ten() {
        let chart = LineChart::new("gradient", "t", "norm")
            .log_y()
            .series(Series::new(
                "rnn",
                (0..7).map(|k| (k as f64, 10f64.powi(-k))),
            ));
        let texts = texts(&chart.to_svg());
        for tick in ["1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"] {
            assert!(texts.iter().any(|t| t == tick), "{tick}: {texts:?}");
        }
        // Markers are evenly spaced in height: equal ratios, equal steps.
        let svg = chart.to_svg();
        let ys: Vec<f64> = svg
            .split("<circle")
            .skip(1)
            .take(7)
            .map(|c| {
                let cy = &c[c.find("cy=\"").unwrap() + 4..];
                cy[..cy.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        let steps: Vec<f64> = ys.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.iter().all(|s| (s - steps[0]).abs() <= 1.0), "{ys:?}");
    }

    #[test]
    fn a_short_log_range_has_ticks_at_2_and_5() {
        let ticks = log_axis([0.0, 0.8].into_iter());
        let labels: Vec<String> = ticks.ticks.iter().map(|&e| power_of_ten_label(e)).collect();
        assert_eq!(labels, ["1", "2", "5"]);
    }

    #[test]
    fn undrawable_points_are_left_out() {
        let chart = LineChart::new("t", "x", "y").log_y().series(Series::new(
            "s",
            [(1.0, 1.0), (2.0, 0.0), (3.0, f64::NAN), (4.0, 0.1)],
        ));
        assert_eq!(chart.to_svg().matches("<circle").count(), 2 + 1);
        let empty = LineChart::new("empty", "x", "y").to_svg();
        assert!(empty.contains("</svg>"));
    }

    #[test]
    fn tick_labels_have_no_float_noise() {
        assert_eq!(number_label(0.30000000000000004), "0.3");
        assert_eq!(number_label(25.0), "25");
        assert_eq!(number_label(-0.05), "-0.05");
        assert_eq!(number_label(2e-5), "2e-5");
        assert_eq!(power_of_ten_label(-2.0), "0.01");
        assert_eq!(power_of_ten_label(-7.0), "1e-7");
        assert_eq!(power_of_ten_label(-7.0 + 5f64.log10()), "5e-7");
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(12.5), 20.0);
    }

    #[test]
    fn save_writes_the_svg_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.svg");
        epochs().save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), epochs().to_svg());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! The benchmark's results: one table for people, the same as JSON for scripts.

use serde::Serialize;
use std::fmt::Write as _;

/// A figure of ours beside another tool's, with the target the ratio must meet, if any.
#[derive(Debug, Serialize)]
pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub ours: f64,
    /// The other tool, or what ours is compared with.
    pub reference: String,
    /// None when that tool could not be measured here.
    pub reference_value: Option<f64>,
    /// ours / reference.
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// Whether the target holds; None without a target or a reference figure.
    pub met: Option<bool>,
}

/// A bound on a ratio or on our own figure.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Target {
    /// ours / reference at most this.
    RatioAtMost { bound: f64 },
    /// ours / reference at least this.
    RatioAtLeast { bound: f64 },
    /// ours at most this, in the row's unit.
    ValueAtMost { bound: f64 },
}

impl Target {
    fn holds(self, ours: f64, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtMost { bound } => ratio.map(|r| r <= bound),
            Target::RatioAtLeast { bound } => ratio.map(|r| r >= bound),
            Target::ValueAtMost { bound } => Some(ours <= bound),
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Target::RatioAtMost { bound } => format!("<= {bound}x"),
            Target::RatioAtLeast { bound } => format!(">= {bound}x"),
            Target::ValueAtMost { bound } => format!("<= {bound} {unit}"),
        }
    }
}

impl Row {
    /// A row comparing `ours` with `reference`'s figure (None: not measured).
    pub fn new(
        figure: impl Into<String>,
        unit: &'static str,
        ours: f64,
        reference: impl Into<String>,
        reference_value: Option<f64>,
        target: Option<Target>,
    ) -> Row {
        let ratio = reference_value.filter(|v| *v > 0.0).map(|v| ours / v);
        Row {
            figure: figure.into(),
            unit,
            ours,
            reference: reference.into(),
            reference_value,
            ratio,
            target,
            met: target.and_then(|t| t.holds(ours, ratio)),
        }
    }
}

/// What the figures were taken on.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub rabbitmq: String,
    pub date: String,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub one_shot_runs: usize,
    pub count: usize,
    pub python_count: usize,
    pub rows: Vec<Row>,
}

fn number(value: f64, unit: &str) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

impl Report {
    /// The table, as a person reads it.
    pub fn table(&self) -> String {
        let header = [
            "figure",
            "oslo-notify",
            "compared with",
            "its figure",
            "ratio",
            "target",
            "met",
        ];
        let mut cells: Vec<[String; 7]> = vec![header.map(str::to_owned)];
        for row in &self.rows {
            cells.push([
                row.figure.clone(),
                number(row.ours, row.unit),
                row.reference.clone(),
                row.reference_value
                    .map_or_else(|| "not measured".to_owned(), |v| number(v, row.unit)),
                row.ratio.map_or_else(String::new, |r| format!("{r:.2}x")),
                row.target
                    .map_or_else(String::new, |t| t.describe(row.unit)),
                match row.met {
                    Some(true) => "yes".to_owned(),
                    Some(false) => "NO".to_owned(),
                    None => String::new(),
                },
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let m = &self.machine;
        let mut out = format!(
            "{} ({} cores), Linux {}, RabbitMQ {} on loopback, {}\n\
             one-shot: median of {} runs; bulk and listen: {} notifications (Python: {})\n\n",
            m.cpu,
            m.cores,
            m.kernel,
            m.rabbitmq,
            m.date,
            self.one_shot_runs,
            self.count,
            self.python_count
        );
        for row in &cells {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                let _ = write!(line, "{cell:<width$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

//! The report of a release: JSON, a readable summary, and a self-contained HTML page with
//! inline SVG charts (no script, no external resource).

use std::fmt::Write as _;

use serde::Serialize;

use crate::metrics::{Risk, Utility};
use crate::model::{Privacy, SensitiveStats};
use crate::schema::{LVariant, TDistance};

/// Utility and risk at one point (before or after).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    /// Information loss.
    pub utility: Utility,
    /// Re-identification risk.
    pub risk: Risk,
}

/// The privacy models as requested.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrivacyReport {
    /// k.
    pub k: usize,
    /// l-diversity, e.g. `recursive (4,3)`.
    pub l_diversity: Option<String>,
    /// t-closeness, e.g. `0.2 (ordered)`.
    pub t_closeness: Option<String>,
    /// Suppression limit as a share of records.
    pub suppression_limit: f64,
}

impl PrivacyReport {
    pub(crate) fn new(p: &Privacy, stats: &[SensitiveStats]) -> Self {
        let l_diversity = p.l.map(|l| match l.variant {
            LVariant::Distinct => format!("distinct {}", l.l),
            LVariant::Entropy => format!("entropy {}", l.l),
            LVariant::Recursive => format!("recursive ({},{})", l.c, l.l),
        });
        let t_closeness = p.t.map(|t| {
            let d: Vec<&str> = stats
                .iter()
                .map(|s| match s.distance {
                    TDistance::Equal | TDistance::Auto => "equal",
                    TDistance::Hierarchical => "hierarchical",
                    TDistance::Ordered => "ordered",
                })
                .collect();
            format!("{} ({})", t.t, d.join(", "))
        });
        Self {
            k: p.k,
            l_diversity,
            t_closeness,
            suppression_limit: p.suppression,
        }
    }
}

/// One quasi-identifier in the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QiReport {
    /// Column name.
    pub column: String,
    /// Generalization level chosen (full-domain only).
    pub level: Option<usize>,
    /// Hierarchy height.
    pub height: usize,
}

/// One algorithm tried, with its score on the chosen metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    /// `flash` or `mondrian`.
    pub algorithm: String,
    /// Its score (lower is better).
    pub score: f64,
}

/// The report of one release.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// The algorithm whose release was kept.
    pub algorithm: String,
    /// The metric optimized.
    pub metric: String,
    /// Records in.
    pub input_records: u64,
    /// Records out.
    pub released_records: u64,
    /// Records suppressed (left out of the release).
    pub suppressed_records: u64,
    /// The privacy models.
    pub privacy: PrivacyReport,
    /// Quasi-identifiers and their levels.
    pub quasi_identifiers: Vec<QiReport>,
    /// Sensitive columns.
    pub sensitive: Vec<String>,
    /// Size of the generalization lattice (full-domain search).
    pub lattice_nodes: Option<u64>,
    /// Lattice nodes whose classes were computed.
    pub nodes_evaluated: Option<u64>,
    /// Algorithms tried and their scores.
    pub candidates: Vec<Candidate>,
    /// Before anonymization.
    pub before: Metrics,
    /// After anonymization.
    pub after: Metrics,
}

impl Report {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A readable multi-line summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let p = &self.privacy;
        let _ = writeln!(
            s,
            "released {} of {} records ({} suppressed, limit {:.1}%) with {}",
            self.released_records,
            self.input_records,
            self.suppressed_records,
            p.suppression_limit * 100.0,
            self.algorithm
        );
        let mut models = vec![format!("k={}", p.k)];
        models.extend(p.l_diversity.iter().map(|l| format!("l-diversity {l}")));
        models.extend(p.t_closeness.iter().map(|t| format!("t-closeness {t}")));
        let _ = writeln!(s, "models: {}", models.join(", "));
        let qis: Vec<String> = self
            .quasi_identifiers
            .iter()
            .map(|q| match q.level {
                Some(l) => format!("{} {l}/{}", q.column, q.height),
                None => q.column.clone(),
            })
            .collect();
        let _ = writeln!(s, "quasi-identifiers: {}", qis.join(", "));
        let (b, a) = (&self.before, &self.after);
        let _ = writeln!(s, "{:<34} {:>12} {:>12}", "", "before", "after");
        let mut row = |name: &str, x: f64, y: f64| {
            let _ = writeln!(s, "{name:<34} {x:>12.4} {y:>12.4}");
        };
        row("information loss (GCP)", b.utility.gcp, a.utility.gcp);
        row(
            "non-uniform entropy (bits/record)",
            b.utility.non_uniform_entropy,
            a.utility.non_uniform_entropy,
        );
        row(
            "discernibility",
            b.utility.discernibility,
            a.utility.discernibility,
        );
        row(
            "equivalence classes",
            b.utility.classes as f64,
            a.utility.classes as f64,
        );
        row(
            "average class size",
            b.utility.avg_class_size,
            a.utility.avg_class_size,
        );
        row(
            "prosecutor risk, highest",
            b.risk.prosecutor.highest,
            a.risk.prosecutor.highest,
        );
        row(
            "prosecutor risk, average",
            b.risk.prosecutor.average,
            a.risk.prosecutor.average,
        );
        row(
            &format!("records above risk {}", a.risk.threshold),
            b.risk.prosecutor.records_above_threshold,
            a.risk.prosecutor.records_above_threshold,
        );
        row("marketer risk", b.risk.marketer, a.risk.marketer);
        row(
            "sample uniqueness",
            b.risk.sample_uniqueness,
            a.risk.sample_uniqueness,
        );
        if let Some(pr) = a.utility.precision {
            row("precision", 1.0, pr);
        }
        s
    }

    /// A self-contained HTML page: summary table and SVG charts of class sizes and risk.
    pub fn html(&self) -> String {
        let mut h = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>veil anonymize report</title>\
             <style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}\
             table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:right}\
             td:first-child,th:first-child{text-align:left}.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em}</style>\
             </head><body><h1>Anonymization report</h1>",
        );
        let _ = write!(h, "<pre>{}</pre>", escape(&self.summary()));
        h.push_str("<h2>Records by equivalence-class size</h2>");
        h.push_str(&bars(
            &self.before.risk.class_size_histogram,
            &self.after.risk.class_size_histogram,
        ));
        h.push_str("<h2>Records by prosecutor risk</h2>");
        let risk_hist = |m: &Metrics| -> Vec<(String, u64)> {
            // Risk 1/size: reuse the size buckets, labelled as risks.
            m.risk
                .class_size_histogram
                .iter()
                .map(|(name, n)| {
                    let label = match name.as_str() {
                        "1" => "1".to_owned(),
                        "2" => "1/2".to_owned(),
                        "100+" => "<=1/100".to_owned(),
                        other => {
                            let (lo, hi) = other.split_once('-').unwrap_or((other, other));
                            format!("1/{hi}-1/{lo}")
                        }
                    };
                    (label, *n)
                })
                .collect()
        };
        h.push_str(&bars(&risk_hist(&self.before), &risk_hist(&self.after)));
        h.push_str("<p class=\"legend\"><span style=\"background:#c0504d\"></span>before<span style=\"background:#4f81bd\"></span>after</p>");
        let _ = writeln!(
            h,
            "<h2>JSON</h2><pre>{}</pre></body></html>",
            escape(&self.to_json())
        );
        h
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Grouped bar chart, before (red) and after (blue), one group per bucket.
fn bars(before: &[(String, u64)], after: &[(String, u64)]) -> String {
    let max = before
        .iter()
        .chain(after)
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, hgt, pad) = (640.0, 220.0, 30.0);
    let groups = before.len().max(1) as f64;
    let gw = (w - 2.0 * pad) / groups;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\">",
        hgt + 40.0
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{hgt}\" x2=\"{}\" y2=\"{hgt}\" stroke=\"#888\"/>",
        w - pad
    );
    for (i, ((name, b), (_, a))) in before.iter().zip(after).enumerate() {
        let x = pad + i as f64 * gw;
        for (j, (v, color)) in [(*b, "#c0504d"), (*a, "#4f81bd")].iter().enumerate() {
            let bh = (*v as f64 / max) * (hgt - 20.0);
            let bx = x + 4.0 + j as f64 * (gw - 8.0) / 2.0;
            let _ = write!(
                s,
                "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{v}</title></rect>",
                hgt - bh,
                (gw - 8.0) / 2.0
            );
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x + gw / 2.0,
            hgt + 15.0,
            escape(name)
        );
    }
    s.push_str("</svg>");
    s
}

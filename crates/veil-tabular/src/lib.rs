//! `veil-tabular` anonymizes tabular datasets: k-anonymity, l-diversity and t-closeness by
//! generalization and suppression, with re-identification risk and utility reports.
//!
//! Data is held columnar and dictionary-encoded ([`Table`]): a `u32` code per cell, and
//! each generalization [`Hierarchy`] level is a code -> code lookup table. A [`Schema`] (or
//! quick flags, [`plan_from_flags`]) is resolved against the data into a [`Plan`]; then
//! [`anonymize`] searches either the lattice of hierarchy levels for the globally optimal
//! full-domain generalization (Flash-like, [`Algorithm::Flash`]) or partitions the data with
//! Mondrian ([`Algorithm::Mondrian`]), and returns a [`Release`]: the table and its
//! [`Report`].
//!
//! ```
//! use veil_tabular::{Algorithm, Metric, Options, Privacy, Table, TDistance, anonymize, plan_from_flags};
//! let csv = "age,zip,diagnosis\n34,02139,flu\n35,02138,cold\n36,02139,flu\n37,02138,cold\n";
//! let table = Table::read_csv_from(csv.as_bytes(), std::path::Path::new("in.csv")).unwrap();
//! let plan = plan_from_flags(&table, &["age".into(), "zip".into()], &["diagnosis".into()], &[]).unwrap();
//! let options = Options {
//!     privacy: Privacy { k: 2, l: None, t: None, suppression: 0.0 },
//!     algorithm: Algorithm::Auto,
//!     metric: Metric::Loss,
//!     risk_threshold: 0.5,
//!     t_distance: TDistance::Auto,
//! };
//! let release = anonymize(&table, &plan, &options, None).unwrap();
//! assert_eq!(release.report.after.risk.prosecutor.highest, 0.5);
//! ```
#![forbid(unsafe_code)]

mod anonymize;
mod error;
mod hierarchy;
mod lattice;
mod metrics;
mod model;
mod mondrian;
#[cfg(feature = "parquet")]
mod parquet_io;
mod pseudonym;
mod report;
mod schema;
mod table;

pub use anonymize::{Algorithm, Metric, Options, Release, anonymize};
pub use error::{Error, Location, Result};
pub use hierarchy::{DateLevel, Hierarchy, TOP};
pub use metrics::{Risk, RiskFigures, Utility};
pub use model::{LDiversity, Privacy, TCloseness};
pub use pseudonym::PseudonymKey;
pub use report::{Candidate, Metrics, PrivacyReport, QiReport, Report};
pub use schema::{
    ColumnSpec, HierarchySpec, IdentifierAction, LVariant, Plan, PrivacySpec, QuasiPlan, Role,
    Schema, SensitivePlan, TDistance, ValueType, auto_hierarchy, infer_schema, infer_type,
    plan_from_flags,
};
pub use table::{Column, Table};

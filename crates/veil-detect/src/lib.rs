//! `veil-detect` finds sensitive data in text and says why.
//!
//! The vocabulary:
//!
//! - [`DataClass`]: what kind of sensitive data (Presidio-compatible names such as
//!   `EMAIL_ADDRESS`), shared by detection, policy, audit and reports.
//! - [`Finding`]: one detected span with its class, byte and code-point offsets, a score in
//!   `[0, 1]`, the recognizer that produced it and the [`Evidence`] behind the score. A finding
//!   never holds the matched text, so `{:?}` on it cannot leak a value.
//! - [`Recognizer`]: anything that proposes [`Candidate`]s for a text. Pattern recognizers,
//!   gazetteers and learned taggers all plug in through this one trait.
//! - [`Sensitive`]: a wrapper whose `Debug` and `Display` print `[redacted]`.
//! - [`Analyzer`] (built with [`AnalyzerBuilder`]): runs the built-in pattern recognizers
//!   (one multi-pattern regex pass; checksum and structure [`validate`] rules on candidates
//!   only; context keywords near each candidate raise or lower its score), deny/allow lists,
//!   custom recognizers from TOML and any extra [`Recognizer`] (e.g. names), then resolves
//!   overlaps so that one span carries one label.
//!
//! ```
//! use veil_detect::{Analyzer, DataClass};
//!
//! let analyzer = Analyzer::builder()
//!     .allow_list(["help@veil.example"])
//!     .custom_recognizers_toml("[[recognizer]]\nname = 'employee'\nclass = 'EMPLOYEE_ID'\npattern = 'EMP-[0-9]{6}'\n")?
//!     .build()?;
//! let text = "SSN 536-22-1478, badge EMP-004211, ask help@veil.example";
//! let classes: Vec<String> = analyzer.analyze(text).iter().map(|f| f.class.to_string()).collect();
//! assert_eq!(classes, ["US_SSN", "EMPLOYEE_ID"]);
//! # Ok::<(), veil_detect::BuildError>(())
//! ```
//!
//! ```
//! use veil_detect::{DataClass, Sensitive};
//!
//! assert_eq!(DataClass::EmailAddress.as_str(), "EMAIL_ADDRESS");
//! assert_eq!("US_SSN".parse::<DataClass>().ok(), Some(DataClass::UsSsn));
//! let secret = Sensitive::new(String::from("4111 1111 1111 1111"));
//! assert_eq!(format!("{secret:?}"), "[redacted]");
//! ```
#![forbid(unsafe_code)]

mod analyzer;
mod class;
mod finding;
pub mod names;
mod patterns;
mod recognizer;
mod sensitive;
pub mod validate;

pub use analyzer::{Analyzer, AnalyzerBuilder, BuildError, DEFAULT_MIN_SCORE};
pub use class::{DataClass, UnknownDataClass};
pub use finding::{Candidate, ContextHit, Evidence, Finding, Validation};
pub use names::NameRecognizer;
pub use recognizer::Recognizer;
pub use sensitive::Sensitive;

//! Veil policy: decides, with Cedar, whether a request may go to a model and how each data
//! class found in it must be treated on the way (pass, pseudonymize, redact or block).
//!
//! Data in, [`Decision`] out: build [`Policies`] once at startup (embedded default set or a
//! directory), [`Principal`]s and [`Model`]s once per key and model, then call
//! [`Policies::decide`] per request. Evaluation never fails: any error is a deny that carries
//! its diagnostics.
#![forbid(unsafe_code)]

mod cases;
mod decide;
mod load;
mod model;

use std::sync::LazyLock;

use cedar_policy::EntityTypeName;

pub use cases::{CaseOutcome, TestCases};
pub use decide::{Decision, Denial, Flag, PseudonymMode, Treatment, Verdict};
pub use load::{Diagnostic, LoadError, Policies, Sources};
pub use model::{ClassFindings, Findings, Hosting, Injection, Model, Operation, Origin, Principal};

/// An error building a principal, model or decision input. Messages never carry payloads.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    message: String,
}

impl PolicyError {
    pub(crate) fn entity(message: String) -> Self {
        Self { message }
    }
}

/// The Cedar entity type names of the Veil schema, parsed once.
pub(crate) struct Names {
    pub(crate) key: EntityTypeName,
    pub(crate) role: EntityTypeName,
    pub(crate) model: EntityTypeName,
    pub(crate) class: EntityTypeName,
    pub(crate) group: EntityTypeName,
    pub(crate) action: EntityTypeName,
}

static NAMES: LazyLock<Option<Names>> = LazyLock::new(|| {
    Some(Names {
        key: "Veil::Key".parse().ok()?,
        role: "Veil::Role".parse().ok()?,
        model: "Veil::Model".parse().ok()?,
        class: "Veil::DataClass".parse().ok()?,
        group: "Veil::ClassGroup".parse().ok()?,
        action: "Veil::Action".parse().ok()?,
    })
});

/// The schema's type names. They are constants that always parse; the `Option` only keeps the
/// request path free of `expect`.
pub(crate) fn names() -> &'static Names {
    match &*NAMES {
        Some(names) => names,
        None => unreachable_names(),
    }
}

#[cold]
#[allow(clippy::panic)] // The names above are literals; this cannot happen.
fn unreachable_names() -> ! {
    panic!("veil policy type names failed to parse")
}

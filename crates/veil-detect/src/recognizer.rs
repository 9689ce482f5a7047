//! The one extension point: anything that proposes candidates for a text.

use crate::{Candidate, DataClass};

/// A source of candidate findings.
///
/// Pattern recognizers, gazetteers and learned taggers all implement this trait, so a name
/// recognizer plugs into the analyzer exactly like a regex-backed one. Implementations must
/// be cheap to share across threads (`Send + Sync`) and must not keep per-call state.
pub trait Recognizer: Send + Sync {
    /// A stable name, reported in [`crate::Finding::recognizer`].
    fn name(&self) -> &'static str;

    /// The classes this recognizer can produce (used to skip it when none is enabled).
    fn classes(&self) -> &[DataClass];

    /// Appends candidates found in `text` to `out`.
    fn recognize(&self, text: &str, out: &mut Vec<Candidate>);
}

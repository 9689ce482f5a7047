//! Stop sequences checked on decoded text, holding back a tail that could still begin one.

/// Incremental stop-sequence filter: feed decoded text, get what is safe to emit.
#[derive(Debug, Clone, Default)]
pub struct StopFilter {
    stops: Vec<String>,
    /// Decoded text not yet emitted because it may be the start of a stop sequence.
    held: String,
}

/// What `StopFilter::push` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// Text safe to emit now (may be empty); generation goes on.
    Continue(String),
    /// A stop sequence matched: emit this text (before the match) and finish.
    Stopped(String),
}

impl StopFilter {
    /// A filter for these stop sequences (empty ones are ignored).
    #[must_use]
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Adds newly decoded text.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.held.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(pos) = earliest {
            let out = self.held.get(..pos).unwrap_or("").to_owned();
            self.held.clear();
            return StopOutcome::Stopped(out);
        }
        // Hold back the longest suffix of `held` that is a proper prefix of a stop sequence.
        let mut keep_from = self.held.len();
        for (idx, _) in self.held.char_indices() {
            let tail = self.held.get(idx..).unwrap_or("");
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                keep_from = idx;
                break;
            }
        }
        let out = self.held.get(..keep_from).unwrap_or("").to_owned();
        self.held = self.held.get(keep_from..).unwrap_or("").to_owned();
        StopOutcome::Continue(out)
    }

    /// Generation ended without a stop: the held-back text is released.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_partial_match_then_stops() {
        let mut f = StopFilter::new(&["END".to_owned()]);
        assert_eq!(f.push("abc E"), StopOutcome::Continue("abc ".to_owned()));
        assert_eq!(f.push("N"), StopOutcome::Continue(String::new()));
        assert_eq!(f.push("Dx"), StopOutcome::Stopped(String::new()));
    }

    #[test]
    fn releases_partial_match_that_did_not_complete() {
        let mut f = StopFilter::new(&["END".to_owned()]);
        assert_eq!(f.push("E"), StopOutcome::Continue(String::new()));
        assert_eq!(f.push("nd"), StopOutcome::Continue("End".to_owned()));
        assert_eq!(f.push("EN"), StopOutcome::Continue(String::new()));
        assert_eq!(f.finish(), "EN");
    }

    #[test]
    fn stop_inside_one_chunk_cuts_there() {
        let mut f = StopFilter::new(&["\n\n".to_owned(), "x".to_owned()]);
        assert_eq!(f.push("ab\n\ncd x"), StopOutcome::Stopped("ab".to_owned()));
    }
}

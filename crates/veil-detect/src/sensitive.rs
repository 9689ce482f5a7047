//! A wrapper that keeps sensitive values out of logs, traces and error messages.

use std::fmt;

/// Holds a value that must never be printed: `Debug` and `Display` both write `[redacted]`.
///
/// Wrap prompts, answers and matched values in this type before they travel through code
/// that might log them; reach the value with [`Sensitive::expose`] at the one place that
/// really needs it.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the value. Every call site is a place where sensitive data is handled.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Sensitive<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Sensitive::new("123-45-6789");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:#?}", vec![s.clone()]), "[\n    [redacted],\n]");
        assert_eq!(*s.expose(), "123-45-6789");
    }
}

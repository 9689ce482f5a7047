//! The one error type of the crate: opaque, with a location when the fault is in a file.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input file a fault was found (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (a character column for TOML, a field number for CSV).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What went wrong; kept private so that new kinds do not break callers.
#[derive(Debug)]
enum ErrorKind {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A fault located in an input file (data, schema or hierarchy).
    At {
        location: Location,
        what: &'static str,
        message: String,
    },
    /// A fault in an input file whose position is unknown.
    File {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    /// A bad parameter (unknown column, k = 0, ...).
    Config { message: String },
    /// No release satisfies the requested privacy models within the suppression limit.
    Unsatisfiable { message: String },
}

/// An error from reading, configuring or anonymizing a dataset.
///
/// Messages never contain cell values of the data: they name files, lines, columns and
/// column names only.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self {
            kind: ErrorKind::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    pub(crate) fn at(location: Location, what: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::At {
                location,
                what,
                message: message.into(),
            },
        }
    }

    pub(crate) fn in_file(path: &Path, what: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::File {
                path: path.to_path_buf(),
                what,
                message: message.into(),
            },
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Config {
                message: message.into(),
            },
        }
    }

    pub(crate) fn unsatisfiable(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unsatisfiable {
                message: message.into(),
            },
        }
    }

    /// The file position of the fault, when it has one.
    pub fn location(&self) -> Option<&Location> {
        match &self.kind {
            ErrorKind::At { location, .. } => Some(location),
            _ => None,
        }
    }

    /// True when the inputs were fine but no release meets the privacy models.
    pub fn is_unsatisfiable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unsatisfiable { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io { path, source } => {
                write!(f, "cannot read or write `{}`: {source}", path.display())
            }
            ErrorKind::At {
                location,
                what,
                message,
            } => write!(f, "{what} `{location}`: {message}"),
            ErrorKind::File {
                path,
                what,
                message,
            } => write!(f, "{what} `{}`: {message}", path.display()),
            ErrorKind::Config { message } => f.write_str(message),
            ErrorKind::Unsatisfiable { message } => {
                write!(f, "no release satisfies the privacy models: {message}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Turns a byte offset in `text` into a 1-based (line, column) pair, columns in characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for (i, ch) in text.char_indices() {
        if i >= offset {
            break;
        }
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

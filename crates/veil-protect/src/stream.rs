//! Record-at-a-time readers and writers for plain text, JSON Lines and CSV.
//!
//! [`process`] reads one line (text, JSON Lines) or one record (CSV) at a time, hands each
//! selected string to a transform (in `veil redact`: detect, then protect) and writes the
//! result, so memory stays bounded by the longest record (lines longer than
//! [`Options::max_line_bytes`] are refused). It is generic over `BufRead`/`Write` so the
//! CLI, tests and the fuzz target drive the same code.
//!
//! Bad input is reported with its line or record number and never with its content. With
//! [`Options::skip_invalid`] bad records are dropped from the output (never passed through
//! unprotected) and counted in the [`Report`].

use std::{
    borrow::Cow,
    io::{self, BufRead, Write},
};

use serde_json::Value;

use crate::ProtectError;

/// Default longest line accepted: 16 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// How many skipped-record errors a [`Report`] keeps as examples.
pub const MAX_SKIP_EXAMPLES: usize = 10;

/// The input format and which parts of each record to transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Plain text, one line at a time (findings cannot span lines).
    Text,
    /// JSON Lines: one JSON value per line. `fields` names top-level string fields, or JSON
    /// pointers such as `/user/note`; when empty, every string value (not keys) is
    /// transformed. `null` fields are left alone; other non-string values are an error.
    Jsonl {
        /// The fields to transform.
        fields: Vec<String>,
    },
    /// CSV with a header row. `columns` names the columns to transform; when empty, every
    /// column is.
    Csv {
        /// The columns to transform.
        columns: Vec<String>,
    },
}

/// Behaviour on bad input and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Drop bad records (counting them) instead of stopping at the first one.
    pub skip_invalid: bool,
    /// Longest line accepted in text and JSON Lines input.
    pub max_line_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            skip_invalid: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What [`process`] did.
#[derive(Debug, Default)]
pub struct Report {
    /// Records (lines or CSV rows) written.
    pub records: u64,
    /// Records dropped as invalid (only with [`Options::skip_invalid`]).
    pub skipped: u64,
    /// The first [`MAX_SKIP_EXAMPLES`] reasons for skipping.
    pub skip_examples: Vec<StreamError>,
}

/// Where in the input an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of text or JSON Lines input.
    Line(u64),
    /// A 1-based CSV data record (the header is record 0) and the line it starts on.
    Record {
        /// The record number.
        record: u64,
        /// The line number.
        line: u64,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Record { record, line } => write!(f, "record {record} (line {line})"),
        }
    }
}

/// A reason a record is bad. Messages never contain the record's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// The line is longer than the limit.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The line is not valid JSON.
    #[error("malformed JSON at column {column}")]
    Json {
        /// 1-based column of the syntax error.
        column: usize,
    },
    /// Fields were named but the line is not a JSON object.
    #[error("not a JSON object")]
    NotObject,
    /// A named field is absent.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A named field is neither a string nor null.
    #[error("field `{0}` is not a string")]
    NotAString(String),
    /// A CSV record has the wrong number of fields.
    #[error("{found} fields where the header has {expected}")]
    CsvFieldCount {
        /// Fields in the header.
        expected: u64,
        /// Fields in this record.
        found: u64,
    },
    /// A CSV field selected for transformation is not UTF-8.
    #[error("column `{0}` is not valid UTF-8")]
    CsvUtf8(String),
    /// Another CSV syntax problem.
    #[error("malformed CSV")]
    Csv,
}

/// Why [`process`] stopped (or, in [`Report::skip_examples`], why a record was skipped).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A bad record.
    #[error("{location}: {reason}")]
    Invalid {
        /// Where.
        location: Location,
        /// What is wrong.
        reason: Invalid,
    },
    /// A column named for transformation is not in the CSV header.
    #[error("CSV header has no column `{0}`")]
    MissingColumn(String),
    /// The CSV header itself is unreadable.
    #[error("CSV header is malformed or not UTF-8")]
    BadHeader,
    /// The transform failed on a record.
    #[error("{location}: {source}")]
    Transform {
        /// Where.
        location: Location,
        /// Why.
        source: ProtectError,
    },
    /// Reading the input failed.
    #[error("cannot read input: {0}")]
    Read(#[source] io::Error),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

impl StreamError {
    /// The location of a record-level error, if any.
    pub fn location(&self) -> Option<Location> {
        match self {
            StreamError::Invalid { location, .. } | StreamError::Transform { location, .. } => {
                Some(*location)
            }
            _ => None,
        }
    }
}

/// The transform applied to each selected string: returns the replacement text.
pub type Transform<'t> = dyn for<'a> FnMut(&'a str) -> Result<Cow<'a, str>, ProtectError> + 't;

/// Helps closures infer the higher-ranked [`Transform`] signature:
/// `let mut t = stream::transform(|text| Ok(Cow::Borrowed(text)));`.
pub fn transform<F>(f: F) -> F
where
    F: for<'a> FnMut(&'a str) -> Result<Cow<'a, str>, ProtectError>,
{
    f
}

/// Reads `input` in `format`, transforms the selected strings, writes `output`.
pub fn process<R: BufRead, W: Write>(
    format: &Format,
    input: R,
    output: W,
    options: &Options,
    transform: &mut Transform<'_>,
) -> Result<Report, StreamError> {
    match format {
        Format::Text => lines(input, output, options, &mut |line, text, out| {
            let done = transform(text).map_err(|source| StreamError::Transform {
                location: Location::Line(line),
                source,
            })?;
            out.extend_from_slice(done.as_bytes());
            Ok(())
        }),
        Format::Jsonl { fields } => lines(input, output, options, &mut |line, text, out| {
            jsonl_line(line, text, fields, transform, out)
        }),
        Format::Csv { columns } => csv(input, output, options, columns, transform),
    }
}

fn invalid(location: Location, reason: Invalid) -> StreamError {
    StreamError::Invalid { location, reason }
}

enum LineRead {
    Eof,
    Line,
    TooLong,
}

/// Reads one line including its `\n` into `buf`, storing at most `limit` bytes; a longer
/// line is consumed to its end and reported as `TooLong`.
fn read_line_bounded<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (available.get(..=i).unwrap_or(available), true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if buf.len() + used > limit.saturating_add(1) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if found {
            break;
        }
    }
    Ok(if !any {
        LineRead::Eof
    } else if too_long {
        LineRead::TooLong
    } else {
        LineRead::Line
    })
}

type LineFn<'f> = dyn FnMut(u64, &str, &mut Vec<u8>) -> Result<(), StreamError> + 'f;

/// The line loop shared by text and JSON Lines: terminators (`\n`, `\r\n`, none at end of
/// input) are written back as they were.
fn lines<R: BufRead, W: Write>(
    mut input: R,
    mut output: W,
    options: &Options,
    per_line: &mut LineFn<'_>,
) -> Result<Report, StreamError> {
    let mut report = Report::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut line = 0u64;
    loop {
        let read = read_line_bounded(&mut input, &mut buf, options.max_line_bytes)
            .map_err(StreamError::Read)?;
        line += 1;
        let result = match read {
            LineRead::Eof => break,
            LineRead::TooLong => Err(invalid(
                Location::Line(line),
                Invalid::TooLong {
                    limit: options.max_line_bytes,
                },
            )),
            LineRead::Line => {
                let (body, terminator): (&[u8], &[u8]) = if buf.ends_with(b"\r\n") {
                    buf.split_at(buf.len() - 2)
                } else if buf.ends_with(b"\n") {
                    buf.split_at(buf.len() - 1)
                } else {
                    (&buf, b"")
                };
                out.clear();
                std::str::from_utf8(body)
                    .map_err(|_| invalid(Location::Line(line), Invalid::Utf8))
                    .and_then(|text| per_line(line, text, &mut out))
                    .map(|()| out.extend_from_slice(terminator))
            }
        };
        match result {
            Ok(()) => {
                output.write_all(&out).map_err(StreamError::Write)?;
                report.records += 1;
            }
            Err(err) => skip_or_fail(&mut report, options, err)?,
        }
    }
    output.flush().map_err(StreamError::Write)?;
    Ok(report)
}

fn skip_or_fail(
    report: &mut Report,
    options: &Options,
    err: StreamError,
) -> Result<(), StreamError> {
    if options.skip_invalid && matches!(err, StreamError::Invalid { .. }) {
        report.skipped += 1;
        if report.skip_examples.len() < MAX_SKIP_EXAMPLES {
            report.skip_examples.push(err);
        }
        Ok(())
    } else {
        Err(err)
    }
}

fn jsonl_line(
    line: u64,
    text: &str,
    fields: &[String],
    transform: &mut Transform<'_>,
    out: &mut Vec<u8>,
) -> Result<(), StreamError> {
    let location = Location::Line(line);
    if text.trim().is_empty() {
        // Blank lines carry nothing; keep them so line numbers stay aligned.
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| invalid(location, Invalid::Json { column: e.column() }))?;
    let on_err = |source| StreamError::Transform { location, source };
    if fields.is_empty() {
        transform_all(&mut value, transform).map_err(on_err)?;
    } else {
        if !value.is_object() {
            return Err(invalid(location, Invalid::NotObject));
        }
        for field in fields {
            let slot = if field.starts_with('/') {
                value.pointer_mut(field)
            } else {
                value.get_mut(field.as_str())
            };
            match slot {
                None => return Err(invalid(location, Invalid::MissingField(field.clone()))),
                Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    let done = transform(s).map_err(on_err)?;
                    if let Cow::Owned(new) = done {
                        *s = new;
                    }
                }
                Some(_) => return Err(invalid(location, Invalid::NotAString(field.clone()))),
            }
        }
    }
    // Serializing a `Value` to a Vec cannot fail (no non-string keys, no IO errors).
    serde_json::to_writer(&mut *out, &value).map_err(|e| StreamError::Write(e.into()))?;
    Ok(())
}

fn transform_all(value: &mut Value, transform: &mut Transform<'_>) -> Result<(), ProtectError> {
    match value {
        Value::String(s) => {
            if let Cow::Owned(new) = transform(s)? {
                *s = new;
            }
        }
        Value::Array(items) => {
            for item in items {
                transform_all(item, transform)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                transform_all(item, transform)?;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn csv<R: BufRead, W: Write>(
    input: R,
    output: W,
    options: &Options,
    columns: &[String],
    transform: &mut Transform<'_>,
) -> Result<Report, StreamError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let mut writer = csv::WriterBuilder::new().from_writer(output);
    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_fatal(e).unwrap_or(StreamError::BadHeader)),
    };
    let names: Vec<&str> = headers
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|_| StreamError::BadHeader)?;
    let mut selected = vec![columns.is_empty(); names.len()];
    for column in columns {
        let index = names
            .iter()
            .position(|n| n == column)
            .ok_or_else(|| StreamError::MissingColumn(column.clone()))?;
        if let Some(flag) = selected.get_mut(index) {
            *flag = true;
        }
    }
    if !headers.is_empty() {
        writer.write_byte_record(&headers).map_err(csv_write)?;
    }
    let mut report = Report::default();
    let mut record = csv::ByteRecord::new();
    let mut out = csv::ByteRecord::new();
    let mut number = 0u64;
    loop {
        number += 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, csv::Position::line);
                let location = Location::Record {
                    record: number,
                    line,
                };
                match csv_record(location, &record, &names, &selected, transform, &mut out) {
                    Ok(()) => {
                        writer.write_byte_record(&out).map_err(csv_write)?;
                        report.records += 1;
                    }
                    Err(err) => skip_or_fail(&mut report, options, err)?,
                }
            }
            Err(e) => {
                if let Some(fatal) = csv_fatal_ref(&e) {
                    return Err(fatal);
                }
                let line = e.position().map_or(0, csv::Position::line);
                let location = Location::Record {
                    record: number,
                    line,
                };
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => Invalid::CsvFieldCount {
                        expected: *expected_len,
                        found: *len,
                    },
                    _ => Invalid::Csv,
                };
                skip_or_fail(&mut report, options, invalid(location, reason))?;
            }
        }
    }
    writer
        .into_inner()
        .map_err(|e| StreamError::Write(io::Error::other(e.error().to_string())))?
        .flush()
        .map_err(StreamError::Write)?;
    Ok(report)
}

fn csv_record(
    location: Location,
    record: &csv::ByteRecord,
    names: &[&str],
    selected: &[bool],
    transform: &mut Transform<'_>,
    out: &mut csv::ByteRecord,
) -> Result<(), StreamError> {
    out.clear();
    for (i, field) in record.iter().enumerate() {
        if !selected.get(i).copied().unwrap_or(false) {
            out.push_field(field);
            continue;
        }
        let name = names.get(i).copied().unwrap_or_default();
        let text = std::str::from_utf8(field)
            .map_err(|_| invalid(location, Invalid::CsvUtf8(name.to_owned())))?;
        let done = transform(text).map_err(|source| StreamError::Transform { location, source })?;
        out.push_field(done.as_bytes());
    }
    Ok(())
}

/// IO errors inside the CSV reader are fatal; everything else is a bad record.
fn csv_fatal_ref(e: &csv::Error) -> Option<StreamError> {
    match e.kind() {
        csv::ErrorKind::Io(io) => {
            Some(StreamError::Read(io::Error::new(io.kind(), io.to_string())))
        }
        _ => None,
    }
}

fn csv_fatal(e: csv::Error) -> Option<StreamError> {
    csv_fatal_ref(&e)
}

fn csv_write(e: csv::Error) -> StreamError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => StreamError::Write(io),
        _ => StreamError::Write(io::Error::other("CSV writer failed")),
    }
}

#[cfg(test)]
mod tests;

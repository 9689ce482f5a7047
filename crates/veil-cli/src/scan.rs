//! `veil scan`: find sensitive data in a file or stdin and print where it is.
//!
//! Input is read record by record (a line of text, or one JSON Lines record with
//! `--jsonl-field`), so memory stays bounded by the longest record. Output never contains
//! the matched text: only offsets, class and score. Errors name the line, never its content.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, ValueEnum};
use veil_detect::{Analyzer, DataClass, Finding};

/// Find sensitive data (PII, secrets, identifiers) in text.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The file to scan; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,
    /// Output format: `text` (one line per finding), `json` (one array), `jsonl` (one object
    /// per input record, in input order).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Read JSON Lines and scan this string field of each record.
    #[arg(long, value_name = "NAME")]
    pub jsonl_field: Option<String>,
    /// Report findings scoring at least this (0–1).
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f32>,
    /// Only these classes, comma-separated (e.g. `EMAIL_ADDRESS,US_SSN`).
    #[arg(long, value_name = "CLASS,...", value_delimiter = ',')]
    pub entities: Vec<String>,
    /// Offsets in Unicode code points (`chars`, the default) or UTF-8 bytes.
    #[arg(long, value_enum, default_value_t = Offsets::Chars)]
    pub offsets: Offsets,
    /// Custom recognizers (TOML with `[[recognizer]]` tables).
    #[arg(long, value_name = "FILE.toml")]
    pub custom: Option<PathBuf>,
    /// Values never reported, one per line.
    #[arg(long, value_name = "FILE")]
    pub allow_list: Option<PathBuf>,
    /// Skip records that are not valid UTF-8 or JSON (counted on stderr) instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `LINE:START-END<TAB>CLASS<TAB>SCORE` per finding.
    Text,
    /// One JSON array of `{"line", "spans"}` objects, one per record with findings.
    Json,
    /// One `{"spans":[...]}` object per input record, in input order.
    Jsonl,
}

/// Offset unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Offsets {
    /// Unicode code points (what Python and most JSON consumers index by).
    Chars,
    /// UTF-8 bytes.
    Bytes,
}

/// Why a record could not be scanned. Never carries the record's content.
enum Invalid {
    Utf8 {
        column: usize,
    },
    Json {
        column: usize,
        category: &'static str,
    },
    NotObject,
    MissingField,
    NotString,
}

impl Invalid {
    fn describe(&self, field: Option<&str>) -> String {
        let field = field.unwrap_or("");
        match self {
            Invalid::Utf8 { column } => format!("invalid UTF-8 at byte {column}"),
            Invalid::Json { column, category } => {
                format!("malformed JSON ({category} at column {column})")
            }
            Invalid::NotObject => "the record is not a JSON object".to_owned(),
            Invalid::MissingField => format!("field `{field}` is missing"),
            Invalid::NotString => format!("field `{field}` is not a string"),
        }
    }
}

/// Lines of plain text are analyzed in batches of about this many bytes: one `analyze` call
/// per batch instead of per line (context windows stop at line ends, so results are the same).
const BATCH_BYTES: usize = 256 * 1024;

/// Runs `veil scan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let analyzer = build_analyzer(&args)?;
    let (reader, name): (Box<dyn Read>, String) = match &args.input {
        None => (Box::new(io::stdin().lock()), "stdin".to_owned()),
        Some(p) if p.as_os_str() == "-" => (Box::new(io::stdin().lock()), "stdin".to_owned()),
        Some(p) => (
            Box::new(File::open(p).with_context(|| format!("cannot read `{}`", p.display()))?),
            format!("`{}`", p.display()),
        ),
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let stdout = io::stdout();
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 16, stdout.lock()),
        format: args.format,
        offsets: args.offsets,
        first_json: true,
    };
    let mut batch = Batch::default();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut skipped = 0usize;
    if args.format == Format::Json {
        sink.out.write_all(b"[")?;
    }
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {name} after line {line_no}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        strip_newline(&mut buf);
        let text = match record_text(&buf, args.jsonl_field.as_deref()) {
            Ok(text) => text,
            Err(why) => {
                batch.flush(&analyzer, &mut sink)?;
                let msg = format!(
                    "{name} line {line_no}: {}",
                    why.describe(args.jsonl_field.as_deref())
                );
                if !args.skip_invalid {
                    sink.out.flush()?;
                    bail!("{msg} (use --skip-invalid to continue past bad records)");
                }
                skipped += 1;
                if args.format == Format::Jsonl {
                    sink.out.write_all(b"{\"spans\":[],\"skipped\":true}\n")?;
                }
                continue;
            }
        };
        if args.jsonl_field.is_some() {
            let spans: Vec<LineSpan> = analyzer
                .analyze(&text)
                .into_iter()
                .map(LineSpan::from)
                .collect();
            sink.emit(line_no, &spans)?;
        } else {
            batch.push(line_no, &text);
            if batch.text.len() >= BATCH_BYTES {
                batch.flush(&analyzer, &mut sink)?;
            }
        }
    }
    batch.flush(&analyzer, &mut sink)?;
    if args.format == Format::Json {
        sink.out.write_all(b"\n]\n")?;
    }
    sink.out.flush()?;
    if skipped > 0 {
        eprintln!("veil: skipped {skipped} invalid record(s) of {line_no} in {name}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Plain-text lines waiting to be analyzed together.
#[derive(Default)]
struct Batch {
    text: String,
    /// (line number, byte offset, char offset) of each line start in `text`.
    lines: Vec<(usize, usize, usize)>,
    chars: usize,
}

impl Batch {
    fn push(&mut self, line_no: usize, line: &str) {
        self.lines.push((line_no, self.text.len(), self.chars));
        self.text.push_str(line);
        self.text.push('\n');
        self.chars += line.chars().count() + 1;
    }

    /// Analyzes the batch and emits one result per line, offsets relative to the line.
    fn flush(&mut self, analyzer: &Analyzer, sink: &mut Sink<impl Write>) -> anyhow::Result<()> {
        let findings = analyzer.analyze(&self.text);
        let mut next = findings.into_iter().peekable();
        for (i, &(line_no, byte0, char0)) in self.lines.iter().enumerate() {
            let byte_end = self.lines.get(i + 1).map_or(self.text.len(), |l| l.1);
            let mut spans = Vec::new();
            while let Some(f) = next.next_if(|f| f.bytes.start < byte_end) {
                // A finding that runs past its line (only possible for multi-line values)
                // is dropped, exactly as when each line is analyzed alone.
                if f.bytes.end < byte_end {
                    spans.push(LineSpan {
                        bytes: f.bytes.start - byte0..f.bytes.end - byte0,
                        chars: f.chars.start - char0..f.chars.end - char0,
                        class: f.class,
                        score: f.score,
                    });
                }
            }
            sink.emit(line_no, &spans)?;
        }
        self.text.clear();
        self.lines.clear();
        self.chars = 0;
        Ok(())
    }
}

/// A finding relative to its line or record.
struct LineSpan {
    bytes: std::ops::Range<usize>,
    chars: std::ops::Range<usize>,
    class: DataClass,
    score: f32,
}

impl From<Finding> for LineSpan {
    fn from(f: Finding) -> Self {
        Self {
            bytes: f.bytes,
            chars: f.chars,
            class: f.class,
            score: f.score,
        }
    }
}

/// Where results go, in the chosen format.
struct Sink<W: Write> {
    out: W,
    format: Format,
    offsets: Offsets,
    first_json: bool,
}

impl<W: Write> Sink<W> {
    fn emit(&mut self, line_no: usize, spans: &[LineSpan]) -> anyhow::Result<()> {
        match self.format {
            Format::Text => {
                for f in spans {
                    let (s, e) = offsets(f, self.offsets);
                    writeln!(self.out, "{line_no}:{s}-{e}\t{}\t{:.2}", f.class, f.score)?;
                }
            }
            Format::Jsonl => {
                write_spans(&mut self.out, None, spans, self.offsets)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                if !spans.is_empty() {
                    if !self.first_json {
                        self.out.write_all(b",")?;
                    }
                    self.first_json = false;
                    self.out.write_all(b"\n")?;
                    write_spans(&mut self.out, Some(line_no), spans, self.offsets)?;
                }
            }
        }
        Ok(())
    }
}

fn build_analyzer(args: &Args) -> anyhow::Result<Analyzer> {
    crate::analyzer_flags::build(crate::analyzer_flags::AnalyzerFlags {
        entities: &args.entities,
        min_score: args.min_score,
        custom: args.custom.as_ref(),
        allow_list: args.allow_list.as_ref(),
    })
}

fn strip_newline(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
}

/// The text to scan in one record: the line itself, or one string field of a JSON object.
fn record_text<'a>(
    line: &'a [u8],
    field: Option<&str>,
) -> Result<std::borrow::Cow<'a, str>, Invalid> {
    let text = std::str::from_utf8(line).map_err(|e| Invalid::Utf8 {
        column: e.valid_up_to() + 1,
    })?;
    let Some(field) = field else {
        return Ok(std::borrow::Cow::Borrowed(text));
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| Invalid::Json {
        column: e.column(),
        category: match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        },
    })?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(Invalid::NotObject);
    };
    match map.remove(field) {
        None => Err(Invalid::MissingField),
        Some(serde_json::Value::String(s)) => Ok(std::borrow::Cow::Owned(s)),
        Some(_) => Err(Invalid::NotString),
    }
}

fn offsets(f: &LineSpan, unit: Offsets) -> (usize, usize) {
    match unit {
        Offsets::Chars => (f.chars.start, f.chars.end),
        Offsets::Bytes => (f.bytes.start, f.bytes.end),
    }
}

#[derive(serde::Serialize)]
struct Span<'a> {
    start: usize,
    end: usize,
    label: &'a str,
    score: f32,
}

#[derive(serde::Serialize)]
struct Record<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    spans: Vec<Span<'a>>,
}

fn write_spans(
    out: &mut impl Write,
    line: Option<usize>,
    findings: &[LineSpan],
    unit: Offsets,
) -> anyhow::Result<()> {
    let spans = findings
        .iter()
        .map(|f| {
            let (start, end) = offsets(f, unit);
            Span {
                start,
                end,
                label: f.class.as_str(),
                score: f.score,
            }
        })
        .collect();
    serde_json::to_writer(out, &Record { line, spans })?;
    Ok(())
}

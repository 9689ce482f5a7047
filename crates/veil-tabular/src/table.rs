//! Columnar, dictionary-encoded tables: each column is a dictionary of distinct values and
//! one `u32` code per row. Ten million rows of ten columns take 400 MB of codes plus the
//! dictionaries, and every later step (grouping, generalization) works on codes only.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Location, Result};

/// One column: distinct values and a code per row.
#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    dict: Vec<String>,
    codes: Vec<u32>,
}

impl Column {
    /// Builds a column from a dictionary and codes; every code must index the dictionary.
    pub fn new(name: impl Into<String>, dict: Vec<String>, codes: Vec<u32>) -> Result<Self> {
        let name = name.into();
        if codes.iter().any(|&c| c as usize >= dict.len()) {
            return Err(Error::config(format!(
                "column `{name}` has a code outside its dictionary"
            )));
        }
        Ok(Self { name, dict, codes })
    }

    /// Builds a column from plain values (dictionary-encodes them).
    pub fn from_values<S: AsRef<str>>(name: impl Into<String>, values: &[S]) -> Self {
        let mut enc = Encoder::default();
        let codes = values.iter().map(|v| enc.code(v.as_ref())).collect();
        Self {
            name: name.into(),
            dict: enc.dict,
            codes,
        }
    }

    /// The header name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The distinct values, indexed by code.
    pub fn dict(&self) -> &[String] {
        &self.dict
    }

    /// One code per row.
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// The value of a row, if the row exists.
    pub fn value(&self, row: usize) -> Option<&str> {
        let code = *self.codes.get(row)?;
        self.dict.get(code as usize).map(String::as_str)
    }

    /// How many rows hold each code.
    pub fn frequencies(&self) -> Vec<u64> {
        let mut f = vec![0u64; self.dict.len()];
        for &c in &self.codes {
            if let Some(x) = f.get_mut(c as usize) {
                *x += 1;
            }
        }
        f
    }
}

/// Dictionary encoder: value -> code, first seen first.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    map: HashMap<String, u32>,
    pub(crate) dict: Vec<String>,
}

impl Encoder {
    pub(crate) fn code(&mut self, value: &str) -> u32 {
        if let Some(&c) = self.map.get(value) {
            return c;
        }
        let c = u32::try_from(self.dict.len()).unwrap_or(u32::MAX);
        self.map.insert(value.to_owned(), c);
        self.dict.push(value.to_owned());
        c
    }
}

/// A table of equally long columns.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: usize,
}

impl Table {
    /// Builds a table; all columns must have the same number of rows.
    pub fn new(columns: Vec<Column>) -> Result<Self> {
        let rows = columns.first().map_or(0, |c| c.codes.len());
        if let Some(bad) = columns.iter().find(|c| c.codes.len() != rows) {
            return Err(Error::config(format!(
                "column `{}` has a different number of rows",
                bad.name
            )));
        }
        Ok(Self { columns, rows })
    }

    /// Reads a CSV file with a header row.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Self::read_csv_from(std::io::BufReader::with_capacity(1 << 20, file), path)
    }

    /// Reads CSV with a header row from any reader; `path` names the source in errors.
    pub fn read_csv_from<R: Read>(reader: R, path: &Path) -> Result<Self> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        let csv_err = |e: csv::Error| {
            let (line, column) = match e.position() {
                Some(p) => (usize::try_from(p.line()).unwrap_or(0), 1),
                None => (0, 0),
            };
            let msg = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("record has {len} fields, the header has {expected_len}")
                }
                csv::ErrorKind::Utf8 { err, .. } => {
                    format!("field {} is not valid UTF-8", err.field() + 1)
                }
                csv::ErrorKind::Io(io) => format!("read failed: {io}"),
                _ => "malformed CSV".to_owned(),
            };
            Error::at(
                Location {
                    file: path.to_path_buf(),
                    line,
                    column,
                },
                "data",
                msg,
            )
        };
        let headers = rdr.headers().map_err(csv_err)?.clone();
        let mut seen = std::collections::HashSet::new();
        for (i, h) in headers.iter().enumerate() {
            if !seen.insert(h) {
                let loc = Location {
                    file: path.to_path_buf(),
                    line: 1,
                    column: i + 1,
                };
                return Err(Error::at(
                    loc,
                    "data",
                    format!("column `{h}` appears twice in the header"),
                ));
            }
        }
        let mut encoders: Vec<Encoder> = headers.iter().map(|_| Encoder::default()).collect();
        let mut codes: Vec<Vec<u32>> = headers.iter().map(|_| Vec::new()).collect();
        let mut record = csv::StringRecord::new();
        while rdr.read_record(&mut record).map_err(csv_err)? {
            for ((field, enc), col) in record.iter().zip(encoders.iter_mut()).zip(codes.iter_mut())
            {
                col.push(enc.code(field));
            }
        }
        let columns = headers
            .iter()
            .zip(encoders)
            .zip(codes)
            .map(|((name, enc), codes)| Column {
                name: name.to_owned(),
                dict: enc.dict,
                codes,
            })
            .collect();
        Self::new(columns)
    }

    /// Writes the table as CSV with a header row.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        self.write_csv_to(std::io::BufWriter::with_capacity(1 << 20, file))
            .map_err(|e| Error::io(path, e))
    }

    /// Writes CSV with a header row to any writer.
    pub fn write_csv_to<W: Write>(&self, writer: W) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(writer);
        w.write_record(self.columns.iter().map(|c| c.name.as_str()))?;
        let mut rec: Vec<&str> = Vec::with_capacity(self.columns.len());
        for row in 0..self.rows {
            rec.clear();
            rec.extend(self.columns.iter().map(|c| c.value(row).unwrap_or("")));
            w.write_record(&rec)?;
        }
        w.flush()?;
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column with this header name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column with this header name, or an error naming it.
    pub(crate) fn require(&self, name: &str) -> Result<&Column> {
        self.column(name)
            .ok_or_else(|| Error::config(format!("no column `{name}` in the input")))
    }
}

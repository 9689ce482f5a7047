//! Parquet input and output (feature `parquet`).
//!
//! Columns are read into the same dictionary-encoded [`Table`] as CSV: strings, integers,
//! floats, booleans, `Date32` (as `YYYY-MM-DD`) and string dictionaries; nulls become the
//! empty string, as an empty CSV field would. Releases are written with every column as
//! UTF-8 strings, since generalized values (`20-29`, `021**`) are no longer numbers.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

use crate::error::{Error, Result};
use crate::table::{Column, Encoder, Table};

/// Rows per record batch written.
const BATCH: usize = 64 * 1024;

impl Table {
    /// Reads a Parquet file.
    pub fn read_parquet(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let bad = |e: parquet::errors::ParquetError| {
            Error::in_file(path, "data", format!("unreadable parquet: {e}"))
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad)?;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = builder.with_batch_size(BATCH).build().map_err(bad)?;
        let mut encoders: Vec<Encoder> = names.iter().map(|_| Encoder::default()).collect();
        let mut codes: Vec<Vec<u32>> = names.iter().map(|_| Vec::new()).collect();
        for batch in reader {
            let batch = batch
                .map_err(|e| Error::in_file(path, "data", format!("unreadable parquet: {e}")))?;
            for (((col, enc), out), name) in batch
                .columns()
                .iter()
                .zip(&mut encoders)
                .zip(&mut codes)
                .zip(&names)
            {
                append(col, enc, out).map_err(|ty| {
                    Error::in_file(
                        path,
                        "data",
                        format!("column `{name}` has type {ty}, which is not supported"),
                    )
                })?;
            }
        }
        let columns = names
            .into_iter()
            .zip(encoders)
            .zip(codes)
            .map(|((name, enc), codes)| Column::new(name, enc.dict, codes))
            .collect::<Result<Vec<_>>>()?;
        Table::new(columns)
    }

    /// Writes the table as Parquet, every column as UTF-8 strings.
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| Field::new(c.name(), DataType::Utf8, false))
            .collect();
        let schema = Arc::new(ArrowSchema::new(fields));
        let bad = |e: parquet::errors::ParquetError| {
            Error::in_file(path, "output", format!("parquet write failed: {e}"))
        };
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(bad)?;
        let mut start = 0;
        while start < self.rows() {
            let end = (start + BATCH).min(self.rows());
            let arrays: Vec<ArrayRef> = self
                .columns()
                .iter()
                .map(|c| {
                    Arc::new(StringArray::from_iter_values(
                        (start..end).map(|r| c.value(r).unwrap_or("")),
                    )) as ArrayRef
                })
                .collect();
            let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| {
                Error::in_file(path, "output", format!("parquet write failed: {e}"))
            })?;
            writer.write(&batch).map_err(bad)?;
            start = end;
        }
        writer.close().map_err(bad)?;
        Ok(())
    }
}

/// Appends one array's values; on an unsupported type returns its name.
fn append(
    col: &ArrayRef,
    enc: &mut Encoder,
    out: &mut Vec<u32>,
) -> std::result::Result<(), String> {
    let n = col.len();
    out.reserve(n);
    macro_rules! each {
        ($arr:expr, $fmt:expr) => {{
            let a = $arr;
            let render = $fmt;
            for i in 0..n {
                if a.is_null(i) {
                    out.push(enc.code(""));
                } else {
                    out.push(enc.code(&render(a.value(i))));
                }
            }
        }};
    }
    match col.data_type() {
        DataType::Utf8 => each!(col.as_string::<i32>(), |v: &str| v.to_owned()),
        DataType::LargeUtf8 => each!(col.as_string::<i64>(), |v: &str| v.to_owned()),
        DataType::Utf8View => each!(col.as_string_view(), |v: &str| v.to_owned()),
        DataType::Int8 => each!(col.as_primitive::<Int8Type>(), |v: i8| v.to_string()),
        DataType::Int16 => each!(col.as_primitive::<Int16Type>(), |v: i16| v.to_string()),
        DataType::Int32 => each!(col.as_primitive::<Int32Type>(), |v: i32| v.to_string()),
        DataType::Int64 => each!(col.as_primitive::<Int64Type>(), |v: i64| v.to_string()),
        DataType::UInt8 => each!(col.as_primitive::<UInt8Type>(), |v: u8| v.to_string()),
        DataType::UInt16 => each!(col.as_primitive::<UInt16Type>(), |v: u16| v.to_string()),
        DataType::UInt32 => each!(col.as_primitive::<UInt32Type>(), |v: u32| v.to_string()),
        DataType::UInt64 => each!(col.as_primitive::<UInt64Type>(), |v: u64| v.to_string()),
        DataType::Float32 => each!(col.as_primitive::<Float32Type>(), |v: f32| v.to_string()),
        DataType::Float64 => each!(col.as_primitive::<Float64Type>(), |v: f64| v.to_string()),
        DataType::Boolean => each!(col.as_boolean(), |v: bool| v.to_string()),
        DataType::Date32 => each!(
            col.as_primitive::<arrow_array::types::Date32Type>(),
            |v: i32| civil(v)
        ),
        DataType::Dictionary(_, value)
            if matches!(**value, DataType::Utf8 | DataType::LargeUtf8) =>
        {
            let dict = col.as_any_dictionary();
            let mut values = Vec::new();
            append(dict.values(), enc, &mut values)?;
            for (i, key) in dict.normalized_keys().into_iter().enumerate() {
                if col.is_null(i) {
                    out.push(enc.code(""));
                } else {
                    out.push(values.get(key).copied().unwrap_or(0));
                }
            }
        }
        other => return Err(other.to_string()),
    }
    Ok(())
}

/// Days since 1970-01-01 -> `YYYY-MM-DD` (H. Hinnant's civil-from-days).
fn civil(days: i32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Date32Array, Int64Array};

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(19_000), "2022-01-08");
        assert_eq!(civil(-1), "1969-12-31");
    }

    #[test]
    fn parquet_round_trip_reads_typed_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.parquet");
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("age", DataType::Int64, true),
            Field::new("zip", DataType::Utf8, false),
            Field::new("born", DataType::Date32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(34), None, Some(36)])),
                Arc::new(StringArray::from(vec!["02139", "02138", "02139"])),
                Arc::new(Date32Array::from(vec![0, 1, 19_000])),
            ],
        )
        .unwrap();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let t = Table::read_parquet(&path).unwrap();
        assert_eq!(t.rows(), 3);
        assert_eq!(t.column("age").unwrap().value(1), Some(""));
        assert_eq!(t.column("age").unwrap().value(2), Some("36"));
        assert_eq!(t.column("born").unwrap().value(2), Some("2022-01-08"));

        let out = dir.path().join("out.parquet");
        t.write_parquet(&out).unwrap();
        let back = Table::read_parquet(&out).unwrap();
        assert_eq!(back.column("zip").unwrap().value(0), Some("02139"));
        assert_eq!(back.column("born").unwrap().value(0), Some("1970-01-01"));

        std::fs::write(dir.path().join("bad.parquet"), b"not parquet").unwrap();
        let err = Table::read_parquet(&dir.path().join("bad.parquet")).unwrap_err();
        assert!(err.to_string().contains("bad.parquet"), "{err}");
    }
}

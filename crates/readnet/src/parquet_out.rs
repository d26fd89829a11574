//! Rows of JSON objects as one Parquet file (`readnet export events --format parquet`,
//! `readnet export tables`).
//!
//! A row is flattened: a nested object's fields become columns named `outer.inner` (an event's
//! payload fields are `data.<field>`), and a list becomes its JSON text. For the events, a
//! column's type is the narrowest that holds every value seen in it: INT64 when all are
//! integers, BOOLEAN when all are booleans, else UTF8 (other values as their JSON text), except
//! the columns named as timestamps (`occurred_at`, `recorded_at`), which are
//! TIMESTAMP(MICROS, UTC); a value absent from a row is null. The schema is found in a first
//! pass over the rows ([`SchemaBuilder`]) and the rows written in a second ([`ParquetFile`]),
//! so that a file has one schema however its rows vary. The projection tables give their
//! columns' kinds themselves, DATE among them.
//!
//! The file is written beside its destination under a temporary name and renamed into place
//! when complete: a reader never sees a partial file.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

/// Rows buffered before they are written as one row group.
const ROWS_PER_GROUP: usize = 65_536;

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Bool,
    Text,
    /// A local day: Parquet DATE (days since 1970-01-01). Values are `YYYY-MM-DD` text.
    Date,
    /// An instant: Parquet TIMESTAMP(MICROS, isAdjustedToUTC = true). Values are RFC 3339
    /// text or integer microseconds since the Unix epoch.
    Timestamp,
}

/// The time zone written into a timestamp column's Arrow type, which makes the Parquet column
/// `isAdjustedToUTC = true`.
const UTC: &str = "UTC";

impl Kind {
    fn of(value: &Value) -> Option<Kind> {
        match value {
            Value::Null => None,
            Value::Bool(_) => Some(Kind::Bool),
            Value::Number(n) if n.is_i64() => Some(Kind::Int),
            _ => Some(Kind::Text),
        }
    }

    fn merge(self, other: Kind) -> Kind {
        if self == other { self } else { Kind::Text }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Int => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Text => DataType::Utf8,
            Kind::Date => DataType::Date32,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        }
    }
}

/// `row` with nested objects' fields as `outer.inner` keys.
pub fn flatten(row: &Value) -> Map<String, Value> {
    let mut flat = Map::new();
    flatten_into(row, "", &mut flat);
    flat
}

fn flatten_into(value: &Value, prefix: &str, into: &mut Map<String, Value>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let name = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten_into(field, &name, into);
            }
        }
        Value::Array(_) => {
            into.insert(prefix.to_owned(), Value::String(value.to_string()));
        }
        other => {
            into.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// The columns of a set of rows, learnt by seeing each row once.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    kinds: BTreeMap<String, Option<Kind>>,
}

impl SchemaBuilder {
    pub fn observe(&mut self, row: &Value) {
        for (name, value) in flatten(row) {
            let seen = self.kinds.entry(name).or_insert(None);
            *seen = match (*seen, Kind::of(&value)) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                (a, b) => a.or(b),
            };
        }
    }

    /// The columns, `first` ones first in that order (those seen), then the rest by name; a
    /// column never seen with a value is UTF8, and one named in `timestamps` is a timestamp.
    pub fn columns(&self, first: &[&str], timestamps: &[&str]) -> Vec<(String, Kind)> {
        let kind = |name: &str| {
            if timestamps.contains(&name) {
                return Kind::Timestamp;
            }
            self.kinds
                .get(name)
                .copied()
                .flatten()
                .unwrap_or(Kind::Text)
        };
        let mut columns: Vec<(String, Kind)> = first
            .iter()
            .filter(|name| self.kinds.contains_key(**name))
            .map(|name| ((*name).to_owned(), kind(name)))
            .collect();
        columns.extend(
            self.kinds
                .keys()
                .filter(|name| !first.contains(&name.as_str()))
                .map(|name| (name.clone(), kind(name))),
        );
        columns
    }
}

/// A Parquet file being written: rows in, row groups out, renamed into place by
/// [`finish`](ParquetFile::finish).
pub struct ParquetFile {
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    columns: Vec<(String, Kind)>,
    rows: Vec<Map<String, Value>>,
    partial: PathBuf,
    path: PathBuf,
    written: u64,
}

impl ParquetFile {
    /// Starts `path` (as a hidden temporary file beside it) with these columns.
    pub fn create(path: &Path, columns: Vec<(String, Kind)>) -> anyhow::Result<ParquetFile> {
        let name = path
            .file_name()
            .with_context(|| format!("{} names no file", path.display()))?
            .to_string_lossy();
        // Hidden and not ending in .parquet: Spark, Trino and DuckDB globs skip it.
        let partial = path.with_file_name(format!(".{name}.partial"));
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, kind)| Field::new(name, kind.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        let file =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("readnet {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))?;
        Ok(ParquetFile {
            writer,
            schema,
            columns,
            rows: Vec::with_capacity(ROWS_PER_GROUP),
            partial,
            path: path.to_owned(),
            written: 0,
        })
    }

    pub fn push(&mut self, row: &Value) -> anyhow::Result<()> {
        self.rows.push(flatten(row));
        if self.rows.len() >= ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let arrays = self
            .columns
            .iter()
            .map(|(name, kind)| column(&self.rows, name, *kind))
            .collect::<anyhow::Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)?;
        self.writer.write(&batch)?;
        self.written += self.rows.len() as u64;
        self.rows.clear();
        Ok(())
    }

    /// Writes what is buffered and the footer, syncs, and renames the file into place; the
    /// number of rows written.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush()?;
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        std::fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "renaming {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.written)
    }
}

/// Microseconds since the Unix epoch of an RFC 3339 text or an integer of microseconds.
fn micros(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.timestamp_micros()),
        other => other.as_i64(),
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` text.
fn days(value: &Value) -> Option<i32> {
    let day = NaiveDate::parse_from_str(value.as_str()?, "%Y-%m-%d").ok()?;
    i32::try_from((day - DateTime::UNIX_EPOCH.date_naive()).num_days()).ok()
}

/// A row's value of a DATE or TIMESTAMP column, converted by `convert`: `None` when absent, an
/// error naming the column when present and not a day or an instant (never written as null).
fn converted<T>(
    row: &Map<String, Value>,
    name: &str,
    convert: impl Fn(&Value) -> Option<T>,
) -> anyhow::Result<Option<T>> {
    match row.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(value)
            .map(Some)
            .with_context(|| format!("column {name}: {value} is not a day or an instant")),
    }
}

/// One column of `rows` as an Arrow array of `kind` (a value that does not fit is null for INT64
/// and BOOLEAN, and an error for DATE and TIMESTAMP; UTF8 holds any value, as its JSON text when
/// it is not a string).
fn column(rows: &[Map<String, Value>], name: &str, kind: Kind) -> anyhow::Result<ArrayRef> {
    Ok(match kind {
        Kind::Date => {
            let mut builder = Date32Builder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(converted(row, name, days)?);
            }
            Arc::new(builder.finish())
        }
        Kind::Timestamp => {
            let mut builder =
                TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone(UTC);
            for row in rows {
                builder.append_option(converted(row, name, micros)?);
            }
            Arc::new(builder.finish())
        }
        Kind::Int => {
            let mut builder = Int64Builder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(row.get(name).and_then(Value::as_i64));
            }
            Arc::new(builder.finish())
        }
        Kind::Bool => {
            let mut builder = BooleanBuilder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(row.get(name).and_then(Value::as_bool));
            }
            Arc::new(builder.finish())
        }
        Kind::Text => {
            let mut builder = StringBuilder::new();
            for row in rows {
                match row.get(name) {
                    None | Some(Value::Null) => builder.append_null(),
                    Some(Value::String(text)) => builder.append_value(text),
                    Some(other) => builder.append_value(other.to_string()),
                }
            }
            Arc::new(builder.finish())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use serde_json::json;

    #[test]
    fn rows_of_different_shapes_share_one_schema_and_read_back() {
        let rows = [
            json!({"position": 1, "event_type": "ItemLoaned", "recorded_at": "2026-05-04T01:02:03.000004+00:00", "data": {"item": "JN-1", "renewals": 0}}),
            json!({"position": 2, "event_type": "CityJoined", "data": {"city": "jinan", "tags": ["a"]}}),
            json!({"position": 3, "event_type": "ItemLoaned", "data": {"item": "JN-2", "renewals": "x"}}),
        ];
        let mut schema = SchemaBuilder::default();
        rows.iter().for_each(|row| schema.observe(row));
        let columns = schema.columns(&["position", "event_type"], &["recorded_at"]);
        assert_eq!(
            columns,
            [
                ("position".to_owned(), Kind::Int),
                ("event_type".to_owned(), Kind::Text),
                ("data.city".to_owned(), Kind::Text),
                ("data.item".to_owned(), Kind::Text),
                // An integer and a string in one column: text.
                ("data.renewals".to_owned(), Kind::Text),
                ("data.tags".to_owned(), Kind::Text),
                ("recorded_at".to_owned(), Kind::Timestamp),
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut file = ParquetFile::create(&path, columns).unwrap();
        rows.iter().for_each(|row| file.push(row).unwrap());
        assert!(!path.exists(), "nothing at the destination until finished");
        assert_eq!(file.finish().unwrap(), 3);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let names: Vec<String> = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        assert_eq!(names[0], "position");
        let recorded_at = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .column(names.iter().position(|n| n == "recorded_at").unwrap());
        let Some(parquet::basic::LogicalType::Timestamp(timestamp)) =
            recorded_at.logical_type_ref()
        else {
            panic!("recorded_at is not a timestamp: {recorded_at:?}")
        };
        assert!(timestamp.is_adjusted_to_u_t_c, "{timestamp:?}");
        assert!(
            matches!(timestamp.unit, parquet::basic::TimeUnit::MICROS),
            "in microseconds: {timestamp:?}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no partial file is left behind"
        );
    }

    #[test]
    fn dates_and_timestamps_are_typed_and_a_bad_one_is_refused() {
        let columns = vec![
            ("day".to_owned(), Kind::Date),
            ("at".to_owned(), Kind::Timestamp),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut file = ParquetFile::create(&path, columns.clone()).unwrap();
        file.push(&json!({"day": "1970-01-02", "at": 1_000_001}))
            .unwrap();
        file.push(&json!({"day": null, "at": "1970-01-01T00:00:01+00:00"}))
            .unwrap();
        assert_eq!(file.finish().unwrap(), 2);
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        let day = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::Date32Array>()
            .unwrap();
        assert_eq!(
            (day.value(0), arrow_array::Array::is_null(day, 1)),
            (1, true)
        );
        let at = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!((at.value(0), at.value(1)), (1_000_001, 1_000_000));

        let mut file = ParquetFile::create(&dir.path().join("bad.parquet"), columns).unwrap();
        file.push(&json!({"day": "2026-13-01"})).unwrap();
        let error = file.finish().unwrap_err();
        assert!(format!("{error:#}").contains("column day"), "{error:#}");
    }
}

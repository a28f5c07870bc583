//! The table's columns: fixed system columns, then (for JSON topics) one column per top-level
//! field of the values, inferred from the data and only ever added to.
//!
//! | id | column | Iceberg type | |
//! |---|---|---|---|
//! | 1 | `partition` | int, required | |
//! | 2 | `offset` | long, required | |
//! | 3 | `timestamp` | timestamptz, required | the record's timestamp (µs in Parquet) |
//! | 4 | `key` | binary | |
//! | 5 (6, 7, 8) | `headers` | list<struct<key: string, value: binary>> | |
//! | 9 | `value` (raw) / `_raw` (JSON) | binary | JSON topics: the value only when it could not be decoded |
//! | 10 | `_error` (JSON) | string | why the value could not be decoded, else null |
//! | 11.. | JSON fields | boolean, long, double or string | |
//!
//! JSON inference, per top-level field of an object value: `true`/`false` → boolean, integers
//! (that fit an i64) → long, other numbers → double, strings → string, objects and arrays →
//! string (their JSON text). A field first seen with several types in one batch takes the
//! widest: long+double → double, anything else mixed → string. Nulls add nothing. Column types
//! never change afterwards (Iceberg allows no long→double or →string promotion): a later value
//! that does not fit (a double in a long column, an object in a boolean column) leaves that
//! field null and the record gets `_error` and `_raw`; a long fits a double column and anything
//! fits a string column (as JSON text). A field whose name is a system column's is stored as
//! `value_<name>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema as ArrowSchema, TimeUnit};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How a topic's values become columns (the `sluice.table.value.format` topic config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// One `value` binary column, the bytes as produced.
    Raw,
    /// JSON objects decoded into one column per field (schema inferred, see the module doc).
    Json,
}

impl ValueFormat {
    /// The config spelling: `raw` or `json`.
    pub fn parse(s: &str) -> Option<ValueFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "raw" => Some(ValueFormat::Raw),
            "json" => Some(ValueFormat::Json),
            _ => None,
        }
    }
}

/// System column ids (see the module table).
pub mod ids {
    /// `partition`: the Kafka partition (int, required).
    pub const PARTITION: i32 = 1;
    /// `offset`: the record's Kafka offset (long, required).
    pub const OFFSET: i32 = 2;
    /// `timestamp`: the record's timestamp (timestamptz, required).
    pub const TIMESTAMP: i32 = 3;
    /// `key`: the record key (binary, null for a null key).
    pub const KEY: i32 = 4;
    /// `headers`: the record headers (list).
    pub const HEADERS: i32 = 5;
    /// The `headers` list's element (struct).
    pub const HEADER_ELEMENT: i32 = 6;
    /// A header's `key` (string).
    pub const HEADER_KEY: i32 = 7;
    /// A header's `value` (binary, nullable).
    pub const HEADER_VALUE: i32 = 8;
    /// `value` (raw tables) or `_raw` (JSON tables): the value bytes (binary).
    pub const VALUE: i32 = 9;
    /// `_error` (JSON tables only): why the value could not be decoded (string).
    pub const ERROR: i32 = 10;
    /// The first id a JSON field column gets.
    pub const FIRST_FIELD: i32 = 11;
}

/// Names the system columns take; JSON fields of these names get a `value_` prefix.
pub const SYSTEM_COLUMNS: &[&str] = &[
    "partition",
    "offset",
    "timestamp",
    "key",
    "headers",
    "value",
    "_raw",
    "_error",
];

/// A JSON field column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnType {
    /// Iceberg `boolean` (Arrow `Boolean`): JSON `true` / `false`.
    Boolean,
    /// Iceberg `long` (Arrow `Int64`): JSON integers that fit an i64.
    Long,
    /// Iceberg `double` (Arrow `Float64`): other JSON numbers.
    Double,
    /// Iceberg `string` (Arrow `Utf8`): JSON strings, and objects / arrays as their JSON text.
    String,
}

impl ColumnType {
    fn iceberg(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Long => "long",
            ColumnType::Double => "double",
            ColumnType::String => "string",
        }
    }

    fn from_iceberg(s: &str) -> Option<ColumnType> {
        Some(match s {
            "boolean" => ColumnType::Boolean,
            "long" => ColumnType::Long,
            "double" => ColumnType::Double,
            "string" => ColumnType::String,
            _ => return None,
        })
    }

    fn arrow(self) -> DataType {
        match self {
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Long => DataType::Int64,
            ColumnType::Double => DataType::Float64,
            ColumnType::String => DataType::Utf8,
        }
    }

    /// The type a JSON value suggests; `None` for null.
    pub fn of(v: &Value) -> Option<ColumnType> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(_) => ColumnType::Boolean,
            Value::Number(n) if n.is_i64() => ColumnType::Long,
            Value::Number(_) => ColumnType::Double,
            Value::String(_) | Value::Array(_) | Value::Object(_) => ColumnType::String,
        })
    }

    /// The narrowest type holding values of both (for a field new in this batch).
    fn widen(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Long, Double) | (Double, Long) => Double,
            _ => String,
        }
    }
}

/// One JSON field column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldColumn {
    /// Iceberg field id.
    pub id: i32,
    /// Column name (the JSON key, or `value_<key>` for a system column's name).
    pub name: String,
    /// The JSON key it holds.
    pub key: String,
    /// The column's type, fixed when the column is added.
    pub ty: ColumnType,
}

/// A table schema: the value format and the JSON field columns, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Iceberg schema id (0 for the first, +1 per evolution).
    pub schema_id: i32,
    /// How values become columns (raw tables never have field columns).
    pub format: ValueFormat,
    /// The JSON field columns, ids from [`ids::FIRST_FIELD`] up, ascending.
    pub fields: Vec<FieldColumn>,
}

/// A value as the table sees it: decoded, absent (a null value or JSON `null`), or not
/// decodable.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedValue {
    /// A null value (a tombstone) or a raw-format topic: no field columns.
    Absent,
    /// A JSON object.
    Object(Map<String, Value>),
    /// Not a JSON object: the reason, for `_error`.
    Malformed(String),
}

/// Parses one value for a JSON table: `None` or JSON `null` is [`ParsedValue::Absent`], a
/// JSON object is [`ParsedValue::Object`], anything else is [`ParsedValue::Malformed`] with
/// the reason.
pub fn parse_json(value: Option<&[u8]>) -> ParsedValue {
    let Some(bytes) = value else {
        return ParsedValue::Absent;
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => ParsedValue::Object(m),
        // A JSON `null` says as little as a null value.
        Ok(Value::Null) => ParsedValue::Absent,
        Ok(other) => ParsedValue::Malformed(format!(
            "not a JSON object ({})",
            match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "boolean",
            }
        )),
        Err(e) => ParsedValue::Malformed(format!("not JSON: {e}")),
    }
}

fn column_name(key: &str) -> String {
    if SYSTEM_COLUMNS.contains(&key) {
        format!("value_{key}")
    } else {
        key.to_string()
    }
}

fn field_id(f: Field, id: i32) -> Field {
    f.with_metadata(BTreeMap::from([(
        PARQUET_FIELD_ID_META_KEY.to_string(),
        id.to_string(),
    )]))
}

impl TableSchema {
    /// A table's first schema: no field columns yet.
    pub fn new(format: ValueFormat) -> TableSchema {
        TableSchema {
            schema_id: 0,
            format,
            fields: Vec::new(),
        }
    }

    /// The highest field id in use (Iceberg's `last-column-id`).
    pub fn last_column_id(&self) -> i32 {
        self.fields
            .last()
            .map_or(ids::FIRST_FIELD - 1, |f| f.id)
            .max(ids::ERROR)
    }

    /// The schema after `values`: the same (`None`) unless they hold fields no column has yet,
    /// which become new columns (next ids, a new schema id), in key order.
    pub fn evolve<'a>(&self, values: impl IntoIterator<Item = &'a ParsedValue>) -> Option<Self> {
        if self.format != ValueFormat::Json {
            return None;
        }
        let mut new: BTreeMap<&str, Option<ColumnType>> = BTreeMap::new();
        for v in values {
            let ParsedValue::Object(m) = v else { continue };
            for (k, val) in m {
                if self.fields.iter().any(|f| f.key == *k) {
                    continue;
                }
                let seen = new.entry(k.as_str()).or_insert(None);
                if let Some(t) = ColumnType::of(val) {
                    *seen = Some(seen.map_or(t, |s| s.widen(t)));
                }
            }
        }
        let mut next = self.clone();
        let mut id = self.last_column_id();
        for (k, ty) in new {
            let Some(ty) = ty else { continue };
            id += 1;
            next.fields.push(FieldColumn {
                id,
                name: column_name(k),
                key: k.to_string(),
                ty,
            });
        }
        if next.fields.len() == self.fields.len() {
            return None;
        }
        next.schema_id += 1;
        Some(next)
    }

    /// The Arrow schema of the record batches written under this schema, each field carrying
    /// its Iceberg id as `PARQUET:field_id` (Iceberg readers map Parquet columns by id).
    pub fn arrow(&self) -> Arc<ArrowSchema> {
        let header = Fields::from(vec![
            field_id(Field::new("key", DataType::Utf8, false), ids::HEADER_KEY),
            field_id(
                Field::new("value", DataType::Binary, true),
                ids::HEADER_VALUE,
            ),
        ]);
        let mut fields = vec![
            field_id(
                Field::new("partition", DataType::Int32, false),
                ids::PARTITION,
            ),
            field_id(Field::new("offset", DataType::Int64, false), ids::OFFSET),
            field_id(
                Field::new(
                    "timestamp",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    false,
                ),
                ids::TIMESTAMP,
            ),
            field_id(Field::new("key", DataType::Binary, true), ids::KEY),
            field_id(
                Field::new(
                    "headers",
                    DataType::List(Arc::new(field_id(
                        Field::new("element", DataType::Struct(header), false),
                        ids::HEADER_ELEMENT,
                    ))),
                    true,
                ),
                ids::HEADERS,
            ),
        ];
        match self.format {
            ValueFormat::Raw => {
                fields.push(field_id(
                    Field::new("value", DataType::Binary, true),
                    ids::VALUE,
                ));
            }
            ValueFormat::Json => {
                fields.push(field_id(
                    Field::new("_raw", DataType::Binary, true),
                    ids::VALUE,
                ));
                fields.push(field_id(
                    Field::new("_error", DataType::Utf8, true),
                    ids::ERROR,
                ));
                for f in &self.fields {
                    fields.push(field_id(Field::new(&f.name, f.ty.arrow(), true), f.id));
                }
            }
        }
        Arc::new(ArrowSchema::new(fields))
    }

    /// The Iceberg schema JSON (table metadata `schemas[]`, and the manifests' `schema`).
    pub fn iceberg(&self) -> Value {
        let f = |id: i32, name: &str, required: bool, ty: Value| json!({"id": id, "name": name, "required": required, "type": ty});
        let mut fields = vec![
            f(ids::PARTITION, "partition", true, json!("int")),
            f(ids::OFFSET, "offset", true, json!("long")),
            f(ids::TIMESTAMP, "timestamp", true, json!("timestamptz")),
            f(ids::KEY, "key", false, json!("binary")),
            f(
                ids::HEADERS,
                "headers",
                false,
                json!({
                    "type": "list",
                    "element-id": ids::HEADER_ELEMENT,
                    "element-required": true,
                    "element": {"type": "struct", "fields": [
                        f(ids::HEADER_KEY, "key", true, json!("string")),
                        f(ids::HEADER_VALUE, "value", false, json!("binary")),
                    ]},
                }),
            ),
        ];
        match self.format {
            ValueFormat::Raw => fields.push(f(ids::VALUE, "value", false, json!("binary"))),
            ValueFormat::Json => {
                fields.push(f(ids::VALUE, "_raw", false, json!("binary")));
                fields.push(f(ids::ERROR, "_error", false, json!("string")));
                for c in &self.fields {
                    fields.push(f(c.id, &c.name, false, json!(c.ty.iceberg())));
                }
            }
        }
        json!({"type": "struct", "schema-id": self.schema_id, "fields": fields})
    }

    /// Reads back a schema this module wrote ([`TableSchema::iceberg`]); `None` if it is not one.
    pub fn from_iceberg(v: &Value) -> Option<TableSchema> {
        let schema_id = i32::try_from(v.get("schema-id")?.as_i64()?).ok()?;
        let fields = v.get("fields")?.as_array()?;
        let format = if fields
            .iter()
            .any(|f| f.get("name").and_then(Value::as_str) == Some("_error"))
        {
            ValueFormat::Json
        } else {
            ValueFormat::Raw
        };
        let mut out = TableSchema {
            schema_id,
            format,
            fields: Vec::new(),
        };
        for f in fields {
            let id = i32::try_from(f.get("id")?.as_i64()?).ok()?;
            if id < ids::FIRST_FIELD {
                continue;
            }
            let name = f.get("name")?.as_str()?.to_string();
            let key = match name.strip_prefix("value_") {
                Some(k) if SYSTEM_COLUMNS.contains(&k) => k.to_string(),
                _ => name.clone(),
            };
            let ty = ColumnType::from_iceberg(f.get("type")?.as_str()?)?;
            out.fields.push(FieldColumn { id, name, key, ty });
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(vals: &[&str]) -> Vec<ParsedValue> {
        vals.iter()
            .map(|v| parse_json(Some(v.as_bytes())))
            .collect()
    }

    #[test]
    fn new_fields_become_columns_with_the_widest_type_seen() {
        let s = TableSchema::new(ValueFormat::Json);
        let v = parsed(&[
            r#"{"a": 1, "b": "x", "c": null, "offset": 3}"#,
            r#"{"a": 2.5, "d": {"n": 1}, "e": true}"#,
            r#"{"e": 7}"#,
            "[1]",
        ]);
        let s1 = s.evolve(&v).unwrap();
        let cols: Vec<(i32, &str, ColumnType)> = s1
            .fields
            .iter()
            .map(|f| (f.id, f.name.as_str(), f.ty))
            .collect();
        assert_eq!(
            cols,
            vec![
                (11, "a", ColumnType::Double),
                (12, "b", ColumnType::String),
                (13, "d", ColumnType::String),
                (14, "e", ColumnType::String),
                (15, "value_offset", ColumnType::Long),
            ]
        );
        assert_eq!(s1.schema_id, 1);
        assert_eq!(s1.evolve(&v), None, "nothing new the second time");
        let back = TableSchema::from_iceberg(&s1.iceberg()).unwrap();
        assert_eq!(back, s1);
        let s2 = s1.evolve(&parsed(&[r#"{"f": 1}"#])).unwrap();
        assert_eq!((s2.schema_id, s2.fields[5].id), (2, 16));
        assert_eq!(s2.last_column_id(), 16);
    }

    #[test]
    fn malformed_values_say_why() {
        assert_eq!(
            parse_json(Some(b"42")),
            ParsedValue::Malformed("not a JSON object (number)".into())
        );
        assert!(
            matches!(parse_json(Some(b"{oops")), ParsedValue::Malformed(m) if m.starts_with("not JSON"))
        );
        assert_eq!(parse_json(None), ParsedValue::Absent);
    }
}

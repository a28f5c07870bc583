//! Records to one Arrow record batch under a [`TableSchema`].

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, ListBuilder, StringBuilder, StructBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow_schema::DataType;
use serde_json::Value;

use crate::schema::{ColumnType, FieldColumn, ParsedValue, TableSchema, ValueFormat};
use crate::{TableError, TableRecord};

/// A record batch and how many of its records carry an `_error` (JSON tables).
#[derive(Debug)]
pub struct BuiltBatch {
    /// The rows, columns as [`TableSchema::arrow`] lays them out.
    pub batch: RecordBatch,
    /// Rows whose `_error` column is set.
    pub malformed: u64,
}

/// Builds the record batch of `records` under `schema`. `parsed[i]` is `records[i]`'s value as
/// [`crate::schema::parse_json`] read it (ignored, and may be empty, for raw tables). The
/// schema must already hold every field the values have ([`TableSchema::evolve`]); a field it
/// lacks is left out.
pub fn build_batch(
    schema: &TableSchema,
    records: &[TableRecord],
    parsed: &[ParsedValue],
) -> Result<BuiltBatch, TableError> {
    let n = records.len();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(
            records.iter().map(|r| r.partition),
        )),
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|r| r.offset),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| r.timestamp_ms.saturating_mul(1000)),
            )
            .with_timezone("+00:00"),
        ),
        Arc::new(BinaryArray::from_iter(
            records.iter().map(|r| r.key.as_deref()),
        )),
        headers_column(records),
    ];
    let mut malformed = 0;
    match schema.format {
        ValueFormat::Raw => cols.push(Arc::new(BinaryArray::from_iter(
            records.iter().map(|r| r.value.as_deref()),
        ))),
        ValueFormat::Json => {
            let mut errors: Vec<Option<String>> = parsed
                .iter()
                .map(|p| match p {
                    ParsedValue::Malformed(why) => Some(why.clone()),
                    _ => None,
                })
                .collect();
            errors.resize(n, None);
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                fields.push(field_column(f, parsed, &mut errors));
            }
            malformed = errors.iter().filter(|e| e.is_some()).count() as u64;
            cols.push(Arc::new(BinaryArray::from_iter(
                records
                    .iter()
                    .zip(&errors)
                    .map(|(r, e)| e.as_ref().and(r.value.as_deref())),
            )));
            cols.push(Arc::new(StringArray::from_iter(errors.iter())));
            cols.extend(fields);
        }
    }
    let batch = RecordBatch::try_new(schema.arrow(), cols)?;
    Ok(BuiltBatch { batch, malformed })
}

fn headers_column(records: &[TableRecord]) -> ArrayRef {
    let arrow = TableSchema::new(ValueFormat::Raw).arrow();
    let DataType::List(element) = arrow.field(4).data_type().clone() else {
        unreachable!("headers is a list")
    };
    let DataType::Struct(fields) = element.data_type().clone() else {
        unreachable!("a header is a struct")
    };
    let entries = StructBuilder::new(
        fields.clone(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(BinaryBuilder::new()),
        ],
    );
    let mut list = ListBuilder::new(entries).with_field(element.clone());
    for r in records {
        if r.headers.is_empty() {
            list.append_null();
            continue;
        }
        let s = list.values();
        for (k, v) in &r.headers {
            s.field_builder::<StringBuilder>(0)
                .expect("key builder")
                .append_value(k);
            s.field_builder::<BinaryBuilder>(1)
                .expect("value builder")
                .append_option(v.as_deref());
            s.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

/// One JSON field's column; a value that does not fit its type is left null and its record's
/// error set (unless it already has one).
fn field_column(
    f: &FieldColumn,
    parsed: &[ParsedValue],
    errors: &mut [Option<String>],
) -> ArrayRef {
    match f.ty {
        ColumnType::Boolean => Arc::new(BooleanArray::from(convert(
            f,
            parsed,
            errors,
            Value::as_bool,
        ))),
        ColumnType::Long => Arc::new(Int64Array::from(convert(f, parsed, errors, Value::as_i64))),
        ColumnType::Double => Arc::new(Float64Array::from(convert(
            f,
            parsed,
            errors,
            Value::as_f64,
        ))),
        ColumnType::String => Arc::new(StringArray::from_iter(convert(f, parsed, errors, |v| {
            Some(match v {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            })
        }))),
    }
}

/// Per record: field `f` of its value through `conv`; null where the field is absent or null,
/// and where `conv` refuses it (the record's error then says why).
fn convert<'a, T>(
    f: &FieldColumn,
    parsed: &'a [ParsedValue],
    errors: &mut [Option<String>],
    conv: impl Fn(&'a Value) -> Option<T>,
) -> Vec<Option<T>> {
    parsed
        .iter()
        .zip(errors.iter_mut())
        .map(|(p, error)| {
            let ParsedValue::Object(m) = p else {
                return None;
            };
            let v = m.get(&f.key).filter(|v| !v.is_null())?;
            let out = conv(v);
            if out.is_none() && error.is_none() {
                *error = Some(format!(
                    "field {:?}: {} does not fit column type {:?}",
                    f.key, v, f.ty
                ));
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::parse_json;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;
    use bytes::Bytes;

    fn rec(offset: i64, value: &str) -> TableRecord {
        TableRecord {
            partition: 1,
            offset,
            timestamp_ms: 1_000 + offset,
            key: None,
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![],
        }
    }

    #[test]
    fn json_fields_fill_columns_and_misfits_are_flagged() {
        let recs = vec![
            rec(0, r#"{"n": 1, "x": 1.5}"#),
            rec(1, r#"{"n": 2.5}"#),
            rec(2, "not json"),
            rec(3, r#"{"x": 2}"#),
        ];
        let parsed: Vec<_> = recs
            .iter()
            .map(|r| parse_json(r.value.as_deref()))
            .collect();
        let schema = TableSchema::new(ValueFormat::Json)
            .evolve(&parsed[..1])
            .unwrap();
        let built = build_batch(&schema, &recs, &parsed).unwrap();
        let b = &built.batch;
        assert_eq!(b.num_rows(), 4);
        assert_eq!(built.malformed, 2);
        let n = b.column_by_name("n").unwrap().as_primitive::<Int64Type>();
        assert_eq!(
            n.iter().collect::<Vec<_>>(),
            vec![Some(1), None, None, None]
        );
        let x = b.column_by_name("x").unwrap().as_primitive::<Float64Type>();
        assert_eq!(
            x.iter().collect::<Vec<_>>(),
            vec![Some(1.5), None, None, Some(2.0)]
        );
        let err = b.column_by_name("_error").unwrap().as_string::<i32>();
        assert!(err.value(1).contains("does not fit column type Long"));
        assert!(err.value(2).starts_with("not JSON"));
        assert!(err.is_null(0) && err.is_null(3));
        let raw = b.column_by_name("_raw").unwrap().as_binary::<i32>();
        assert_eq!(raw.value(2), b"not json");
        assert!(raw.is_null(0));
    }
}

//! The JSON form of criteria, the API's. Shapes:
//!
//! ```json
//! {"and": [...]}   {"or": [...]}   {"not": {...}}
//! {"field": "country", "op": "in", "values": ["FR", "DE"]}
//! {"field": "points", "op": "gte", "value": 10}
//! {"field": "renewal_date", "op": "eq", "value": {"days_from_today": 0}}
//! {"field": "created_at", "op": "in_last_days", "days": 7}
//! {"field": "score", "op": "between", "values": [1, 5]}
//! {"visited": "/pricing", "count": {"at_least": 6}, "window": {"last_days": 30}}
//! {"sessions": {"at_least": 3}, "window": {"last_days": 30}}
//! {"performed": "signup", "count": {"at_least": 2}}
//! {"email": "opened", "window": {"last_days": 30}}
//! {"member_of": 3}
//! {"contact_type": "known"}
//! ```
//!
//! Values are JSON strings, numbers and booleans; dates are written
//! `{"date": "2024-01-31"}`, instants `{"datetime": "2024-01-31T10:00:00Z"}`
//! and relative dates `{"days_from_today": -3}` (a plain string is also
//! accepted for a date field). Errors carry the JSON pointer of the node.

use serde_json::{Map, Value, json};

use crate::criteria::text::MAX_DEPTH;
use crate::criteria::{Count, CountOp, Criteria, EmailCondition, FieldOp, Operand, Schema, Window, validate_node};
use crate::error::{Error, Location, Result};
use crate::ids::SegmentId;
use crate::model::ContactKind;
use crate::time::{format_instant, parse_date, parse_instant};

pub fn to_json(criteria: &Criteria) -> Value {
    match criteria {
        Criteria::And(children) => {
            json!({ "and": children.iter().map(to_json).collect::<Vec<_>>() })
        }
        Criteria::Or(children) => json!({ "or": children.iter().map(to_json).collect::<Vec<_>>() }),
        Criteria::Not(inner) => json!({ "not": to_json(inner) }),
        Criteria::Field { field, op } => {
            let mut node = Map::new();
            node.insert("field".into(), json!(field));
            let (name, extra): (&str, Option<(&str, Value)>) = match op {
                FieldOp::Eq(v) => ("eq", Some(("value", operand_json(v)))),
                FieldOp::Ne(v) => ("ne", Some(("value", operand_json(v)))),
                FieldOp::Lt(v) => ("lt", Some(("value", operand_json(v)))),
                FieldOp::Le(v) => ("lte", Some(("value", operand_json(v)))),
                FieldOp::Gt(v) => ("gt", Some(("value", operand_json(v)))),
                FieldOp::Ge(v) => ("gte", Some(("value", operand_json(v)))),
                FieldOp::Between(a, b) => ("between", Some(("values", json!([operand_json(a), operand_json(b)])))),
                FieldOp::In(values) => ("in", Some(("values", Value::Array(values.iter().map(operand_json).collect())))),
                FieldOp::NotIn(values) => ("not_in", Some(("values", Value::Array(values.iter().map(operand_json).collect())))),
                FieldOp::Contains(text) => ("contains", Some(("value", json!(text)))),
                FieldOp::StartsWith(text) => ("starts_with", Some(("value", json!(text)))),
                FieldOp::EndsWith(text) => ("ends_with", Some(("value", json!(text)))),
                FieldOp::IsEmpty => ("is_empty", None),
                FieldOp::IsNotEmpty => ("is_not_empty", None),
                FieldOp::InLastDays(days) => ("in_last_days", Some(("days", json!(days)))),
                FieldOp::MoreThanDaysAgo(days) => ("more_than_days_ago", Some(("days", json!(days)))),
            };
            node.insert("op".into(), json!(name));
            if let Some((key, value)) = extra {
                node.insert(key.into(), value);
            }
            Value::Object(node)
        }
        Criteria::Visited { url, count, window } => behaviour("visited", json!(url), *count, *window),
        Criteria::Performed { event, count, window } => behaviour("performed", json!(event), *count, *window),
        Criteria::Email { kind, count, window } => behaviour("email", json!(kind.key()), *count, *window),
        Criteria::Sessions { count, window } => {
            let mut node = Map::new();
            node.insert("sessions".into(), count_json(*count));
            if let Window::LastDays(days) = window {
                node.insert("window".into(), json!({ "last_days": days }));
            }
            Value::Object(node)
        }
        Criteria::MemberOf(id) => json!({ "member_of": id.0 }),
        Criteria::Kind(kind) => json!({ "contact_type": kind.key() }),
    }
}

fn behaviour(key: &str, subject: Value, count: Count, window: Window) -> Value {
    let mut node = Map::new();
    node.insert(key.into(), subject);
    if count != Count::AT_LEAST_ONE {
        node.insert("count".into(), count_json(count));
    }
    if let Window::LastDays(days) = window {
        node.insert("window".into(), json!({ "last_days": days }));
    }
    Value::Object(node)
}

fn count_json(count: Count) -> Value {
    json!({ count.op.key(): count.n })
}

fn operand_json(operand: &Operand) -> Value {
    match operand {
        Operand::Text(text) => json!(text),
        Operand::Number(n) => json!(n),
        Operand::Bool(flag) => json!(flag),
        Operand::Date(date) => json!({ "date": date.to_string() }),
        Operand::DateTime(at) => json!({ "datetime": format_instant(*at) }),
        Operand::DaysFromToday(days) => json!({ "days_from_today": days }),
    }
}

/// Parses and validates the JSON form.
pub fn from_json(value: &Value, schema: &dyn Schema, segment_exists: &dyn Fn(SegmentId) -> bool) -> Result<Criteria> {
    let criteria = node(value, "", schema, segment_exists, 0)?.normalized();
    if criteria.node_count() > super::MAX_NODES {
        return Err(Error::invalid(format!("criteria have more than {} conditions", super::MAX_NODES)));
    }
    Ok(criteria)
}

fn at(path: &str) -> Location {
    Location::Json(if path.is_empty() { "/".to_owned() } else { path.to_owned() })
}

fn fail(path: &str, message: impl Into<String>) -> Error {
    Error::invalid(message).at(at(path))
}

fn node(value: &Value, path: &str, schema: &dyn Schema, exists: &dyn Fn(SegmentId) -> bool, depth: usize) -> Result<Criteria> {
    if depth > MAX_DEPTH {
        return Err(fail(path, format!("criteria are nested more than {MAX_DEPTH} levels deep")));
    }
    let Some(object) = value.as_object() else {
        return Err(fail(path, "expected an object such as {\"field\": …} or {\"and\": […]}"));
    };
    let children = |key: &str| -> Result<Vec<Criteria>> {
        let list = object[key].as_array().ok_or_else(|| fail(&format!("{path}/{key}"), format!("`{key}` must be an array")))?;
        list.iter().enumerate().map(|(i, child)| node(child, &format!("{path}/{key}/{i}"), schema, exists, depth + 1)).collect()
    };
    let leaf = if object.contains_key("and") {
        only_keys(object, path, &["and"])?;
        return Ok(Criteria::And(children("and")?));
    } else if object.contains_key("or") {
        only_keys(object, path, &["or"])?;
        return Ok(Criteria::Or(children("or")?));
    } else if let Some(inner) = object.get("not") {
        only_keys(object, path, &["not"])?;
        return Ok(Criteria::Not(Box::new(node(inner, &format!("{path}/not"), schema, exists, depth + 1)?)));
    } else if object.contains_key("field") {
        field_node(object, path)?
    } else if let Some(url) = object.get("visited") {
        only_keys(object, path, &["visited", "count", "window"])?;
        let url = string(url, &format!("{path}/visited"))?;
        Criteria::Visited { url, count: count(object, path)?, window: window(object, path)? }
    } else if let Some(event) = object.get("performed") {
        only_keys(object, path, &["performed", "count", "window"])?;
        let event = string(event, &format!("{path}/performed"))?;
        Criteria::Performed { event, count: count(object, path)?, window: window(object, path)? }
    } else if let Some(kind) = object.get("email") {
        only_keys(object, path, &["email", "count", "window"])?;
        let raw = string(kind, &format!("{path}/email"))?;
        let kind = EmailCondition::parse(&raw).ok_or_else(|| {
            let kinds: Vec<&str> = EmailCondition::ALL.iter().map(|(_, key)| *key).collect();
            fail(&format!("{path}/email"), format!("unknown email event `{raw}`: use one of {}", kinds.join(", ")))
        })?;
        Criteria::Email { kind, count: count(object, path)?, window: window(object, path)? }
    } else if let Some(sessions) = object.get("sessions") {
        only_keys(object, path, &["sessions", "window"])?;
        Criteria::Sessions { count: count_value(sessions, &format!("{path}/sessions"))?, window: window(object, path)? }
    } else if let Some(id) = object.get("member_of") {
        only_keys(object, path, &["member_of"])?;
        let id = id
            .as_u64()
            .filter(|id| *id <= u64::from(u32::MAX))
            .ok_or_else(|| fail(&format!("{path}/member_of"), "`member_of` must be a segment id (a whole number)"))?;
        Criteria::MemberOf(SegmentId(id as u32))
    } else if let Some(kind) = object.get("contact_type") {
        only_keys(object, path, &["contact_type"])?;
        match kind.as_str() {
            Some("known") => Criteria::Kind(ContactKind::Known),
            Some("anonymous") => Criteria::Kind(ContactKind::Anonymous),
            _ => {
                return Err(fail(&format!("{path}/contact_type"), "`contact_type` must be \"known\" or \"anonymous\""));
            }
        }
    } else {
        return Err(fail(
            path,
            "unknown condition: use one of and, or, not, field, visited, sessions, performed, email, member_of, contact_type",
        ));
    };
    validate_node(leaf, schema, exists).map_err(|err| match err.location {
        None | Some(Location::Field(_)) => Error { location: Some(at(path)), ..err },
        Some(_) => err,
    })
}

fn only_keys(object: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<()> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(extra) => Err(fail(path, format!("unexpected key `{extra}` here (allowed: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn string(value: &Value, path: &str) -> Result<String> {
    value.as_str().map(str::to_owned).ok_or_else(|| fail(path, "expected a string"))
}

fn days(value: Option<&Value>, path: &str) -> Result<u32> {
    value
        .and_then(Value::as_u64)
        .filter(|d| *d <= u64::from(super::MAX_DAYS))
        .map(|d| d as u32)
        .ok_or_else(|| fail(path, format!("expected a whole number of days up to {}", super::MAX_DAYS)))
}

fn count(object: &Map<String, Value>, path: &str) -> Result<Count> {
    match object.get("count") {
        None => Ok(Count::AT_LEAST_ONE),
        Some(value) => count_value(value, &format!("{path}/count")),
    }
}

fn count_value(value: &Value, path: &str) -> Result<Count> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| fail(path, "a count is an object with one key: at_least, more_than, at_most, fewer_than or exactly"))?;
    let (key, n) = object.iter().next().expect("one key");
    let op =
        CountOp::ALL.iter().find(|(_, name, _)| name == key).map(|(op, _, _)| *op).ok_or_else(|| {
            fail(path, format!("unknown count `{key}`: use at_least, more_than, at_most, fewer_than or exactly"))
        })?;
    let n = n
        .as_u64()
        .filter(|n| *n <= u64::from(u32::MAX))
        .ok_or_else(|| fail(&format!("{path}/{key}"), "expected a whole number"))?;
    Ok(Count { op, n: n as u32 })
}

fn window(object: &Map<String, Value>, path: &str) -> Result<Window> {
    match object.get("window") {
        None | Some(Value::Null) => Ok(Window::Ever),
        Some(Value::String(ever)) if ever == "ever" => Ok(Window::Ever),
        Some(Value::Object(w)) if w.len() == 1 && w.contains_key("last_days") => {
            Ok(Window::LastDays(days(w.get("last_days"), &format!("{path}/window/last_days"))?))
        }
        Some(_) => Err(fail(&format!("{path}/window"), "a window is {\"last_days\": N} or \"ever\"")),
    }
}

fn field_node(object: &Map<String, Value>, path: &str) -> Result<Criteria> {
    let field = string(&object["field"], &format!("{path}/field"))?;
    let op_name = object.get("op").and_then(Value::as_str).ok_or_else(|| fail(&format!("{path}/op"), "`op` is missing"))?;
    let value = || operand(object.get("value"), &format!("{path}/value"));
    let values = |exact: Option<usize>| -> Result<Vec<Operand>> {
        let list = object
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| fail(&format!("{path}/values"), "`values` must be an array"))?;
        if let Some(n) = exact
            && list.len() != n
        {
            return Err(fail(&format!("{path}/values"), format!("`values` must have exactly {n} entries")));
        }
        list.iter().enumerate().map(|(i, v)| operand(Some(v), &format!("{path}/values/{i}"))).collect()
    };
    let text = || string(object.get("value").unwrap_or(&Value::Null), &format!("{path}/value"));
    let (op, keys): (FieldOp, &[&str]) = match op_name {
        "eq" => (FieldOp::Eq(value()?), &["field", "op", "value"]),
        "ne" => (FieldOp::Ne(value()?), &["field", "op", "value"]),
        "lt" => (FieldOp::Lt(value()?), &["field", "op", "value"]),
        "lte" => (FieldOp::Le(value()?), &["field", "op", "value"]),
        "gt" => (FieldOp::Gt(value()?), &["field", "op", "value"]),
        "gte" => (FieldOp::Ge(value()?), &["field", "op", "value"]),
        "between" => {
            let mut pair = values(Some(2))?;
            let high = pair.pop().expect("two");
            (FieldOp::Between(pair.pop().expect("two"), high), &["field", "op", "values"])
        }
        "in" => (FieldOp::In(values(None)?), &["field", "op", "values"]),
        "not_in" => (FieldOp::NotIn(values(None)?), &["field", "op", "values"]),
        "contains" => (FieldOp::Contains(text()?), &["field", "op", "value"]),
        "starts_with" => (FieldOp::StartsWith(text()?), &["field", "op", "value"]),
        "ends_with" => (FieldOp::EndsWith(text()?), &["field", "op", "value"]),
        "is_empty" => (FieldOp::IsEmpty, &["field", "op"]),
        "is_not_empty" => (FieldOp::IsNotEmpty, &["field", "op"]),
        "in_last_days" => (FieldOp::InLastDays(days(object.get("days"), &format!("{path}/days"))?), &["field", "op", "days"]),
        "more_than_days_ago" => {
            (FieldOp::MoreThanDaysAgo(days(object.get("days"), &format!("{path}/days"))?), &["field", "op", "days"])
        }
        other => {
            return Err(fail(
                &format!("{path}/op"),
                format!(
                    "unknown op `{other}`: use eq, ne, lt, lte, gt, gte, between, in, not_in, contains, starts_with, ends_with, is_empty, is_not_empty, in_last_days or more_than_days_ago"
                ),
            ));
        }
    };
    only_keys(object, path, keys)?;
    Ok(Criteria::Field { field, op })
}

fn operand(value: Option<&Value>, path: &str) -> Result<Operand> {
    match value {
        Some(Value::String(text)) => Ok(Operand::Text(text.clone())),
        Some(Value::Number(n)) => {
            n.as_f64().filter(|f| f.is_finite()).map(Operand::Number).ok_or_else(|| fail(path, "number out of range"))
        }
        Some(Value::Bool(flag)) => Ok(Operand::Bool(*flag)),
        Some(Value::Object(object)) if object.len() == 1 => {
            let (key, inner) = object.iter().next().expect("one key");
            match (key.as_str(), inner) {
                ("date", Value::String(raw)) => parse_date(raw).map(Operand::Date).map_err(|e| e.at(at(path))),
                ("datetime", Value::String(raw)) => parse_instant(raw).map(Operand::DateTime).map_err(|e| e.at(at(path))),
                ("days_from_today", Value::Number(n)) => n
                    .as_i64()
                    .filter(|d| d.unsigned_abs() <= u64::from(super::MAX_DAYS))
                    .map(|d| Operand::DaysFromToday(d as i32))
                    .ok_or_else(|| fail(path, "`days_from_today` must be a whole number")),
                _ => Err(fail(
                    path,
                    "a typed value is {\"date\": \"YYYY-MM-DD\"}, {\"datetime\": \"…\"} or {\"days_from_today\": N}",
                )),
            }
        }
        None => Err(fail(path, "a value is missing")),
        Some(_) => Err(fail(path, "expected a string, a number, a boolean or a typed date value")),
    }
}

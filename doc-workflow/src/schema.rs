//! The DCSA eBL 3.0 `TransportDocument` rules as data: the JSON Schema in
//! `doc-workflow/schema/transport-document-3.0.json`, written from the standard's OpenAPI
//! definition (`schema/from-openapi.py`), embedded in the binary and checked with the
//! `jsonschema` crate.
//!
//! What it is not: Silkline's own rules (party codes, the document's reference, the status the
//! content may carry, the dates of an issued bill, at most one original, containers that cargo
//! items name); those need the ledger's context or compare fields with each other, and
//! [`content`](crate::content) checks them in Rust.
//!
//! Every replica runs this on the apply path, so its answer must be a function of the document
//! alone: the schema is compiled from bytes inside the binary (the crate's features that fetch
//! references are off, so nothing is read from disk or network), and the problems are sorted
//! before they are returned, so the order the validator happens to find them in never reaches a
//! block.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
use serde_json::Value;

use crate::content::ContentProblem;

/// The schema's text, as shipped in the binary.
pub const SCHEMA_JSON: &str = include_str!("../schema/transport-document-3.0.json");

/// The DCSA eBL release the schema was written from.
pub const DCSA_EBL_VERSION: &str = "3.0.4";

/// The parsed schema, for turning a keyword's location back into the rule it states.
fn schema_json() -> &'static Value {
    static JSON: OnceLock<Value> = OnceLock::new();
    JSON.get_or_init(|| serde_json::from_str(SCHEMA_JSON).expect("the embedded schema is JSON"))
}

/// The compiled schema. Compiled once per process: it is the same bytes on every replica.
fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            // `format: date` and `date-time` are rules in DCSA's schema, not annotations.
            .should_validate_formats(true)
            // DCSA's patterns are all regular: the linear-time engine, so no document can make
            // a replica backtrack for long.
            .with_pattern_options(PatternOptions::regex())
            .build(schema_json())
            .expect("the embedded schema compiles")
    })
}

/// Every way `document` breaks the standard's schema, each with the JSON pointer of the field
/// (of the missing field itself, for a required one), sorted by pointer and message. Empty when
/// the document is valid.
pub fn problems(document: &Value) -> Vec<ContentProblem> {
    let mut problems: Vec<ContentProblem> = validator()
        .iter_errors(document)
        .map(|error| problem(&error))
        .collect();
    problems.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
    problems.dedup();
    problems
}

/// `true` when `document` satisfies the schema.
pub fn is_valid(document: &Value) -> bool {
    validator().is_valid(document)
}

fn problem(error: &ValidationError<'_>) -> ContentProblem {
    let at = error.instance_path().as_str().to_owned();
    let rule = rule_comment(error.schema_path().as_str());
    let with_rule = |message: String| match rule {
        Some(rule) => format!("{message} ({rule})"),
        None => message,
    };
    let (path, message) = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            (
                format!("{at}/{}", escape_pointer(name)),
                with_rule("is required".to_owned()),
            )
        }
        ValidationErrorKind::Type { kind } => (at, format!("must be {}", type_name(kind))),
        ValidationErrorKind::MaxLength { limit } => (
            at,
            format!(
                "is {} characters long; at most {limit} are allowed",
                error.instance().as_str().map_or(0, |s| s.chars().count())
            ),
        ),
        ValidationErrorKind::MinLength { limit } => {
            (at, format!("must be at least {limit} characters long"))
        }
        ValidationErrorKind::Pattern { pattern } => {
            (at, format!("does not match the pattern {pattern}"))
        }
        ValidationErrorKind::Enum { options } => (at, format!("must be one of {}", list(options))),
        ValidationErrorKind::Constant { expected_value } => {
            (at, with_rule(format!("must be {expected_value}")))
        }
        ValidationErrorKind::Format { format } => (at, format!("must be {}", format_name(format))),
        ValidationErrorKind::Minimum { limit } => (at, format!("must be at least {limit}")),
        ValidationErrorKind::Maximum { limit } => (at, format!("must be at most {limit}")),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            (at, format!("must be greater than {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            (at, format!("must be less than {limit}"))
        }
        ValidationErrorKind::MinItems { limit } => {
            (at, format!("must have at least {limit} item(s)"))
        }
        ValidationErrorKind::MaxItems { limit } => (
            at,
            format!("has too many items; at most {limit} are allowed"),
        ),
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
            let ways = alternatives(error.schema_path().as_str());
            let message = if ways.is_empty() {
                "matches none of the forms the standard allows".to_owned()
            } else {
                format!("needs one of {}", ways.join(", "))
            };
            (at, with_rule(message))
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            let ways = alternatives(error.schema_path().as_str());
            let message = if ways.is_empty() {
                "matches more than one of the forms the standard allows".to_owned()
            } else {
                format!(
                    "gives more than one of {}; give exactly one",
                    ways.join(", ")
                )
            };
            (at, with_rule(message))
        }
        ValidationErrorKind::Not { schema } => {
            let fields = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| list_names(names))
                .unwrap_or_default();
            let message = if fields.is_empty() {
                "is a form the standard does not allow".to_owned()
            } else {
                format!("must not give {fields}")
            };
            (at, with_rule(message))
        }
        _ => (at, error.to_string()),
    };
    ContentProblem { path, message }
}

/// RFC 6901: `~` and `/` inside a member name.
fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn type_name(kind: &TypeKind) -> String {
    let article = |t: String| match t.as_str() {
        "array" | "integer" | "object" => format!("an {t}"),
        "null" => t,
        _ => format!("a {t}"),
    };
    match kind {
        TypeKind::Single(t) => article(t.to_string()),
        TypeKind::Multiple(set) => {
            let names: Vec<String> = set.iter().map(|t| article(t.to_string())).collect();
            names.join(" or ")
        }
    }
}

fn format_name(format: &str) -> String {
    match format {
        "date" => "a calendar date yyyy-mm-dd".to_owned(),
        "date-time" => "an RFC 3339 date and time".to_owned(),
        other => format!("a valid {other}"),
    }
}

fn list(options: &Value) -> String {
    match options.as_array() {
        Some(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        None => options.to_string(),
    }
}

fn list_names(names: &[Value]) -> String {
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    names.join(" and ")
}

/// The schema node a keyword location points at (`/$defs/PortOfLoading/allOf/0/anyOf`).
fn schema_node(location: &str) -> Option<&'static Value> {
    schema_json().pointer(location)
}

/// The `required` member names of each alternative of the `anyOf`/`oneOf` at `location`.
fn alternatives(location: &str) -> Vec<String> {
    let Some(Value::Array(options)) = schema_node(location) else {
        return Vec::new();
    };
    options
        .iter()
        .filter_map(|option| option.get("required")?.as_array())
        .map(|names| list_names(names))
        .filter(|names| !names.is_empty())
        .collect()
}

/// The `$comment` of the nearest schema node enclosing `location`: the standard's prose a
/// conditional was written from, so a problem quotes the rule it breaks.
fn rule_comment(location: &str) -> Option<&'static str> {
    let mut at = location;
    // Bounded by the location's depth: each step drops one segment.
    while let Some((parent, _)) = at.rsplit_once('/') {
        if let Some(comment) = schema_node(parent)
            .and_then(|node| node.get("$comment"))
            .and_then(Value::as_str)
        {
            // The root's comment describes the file, not a rule.
            return (!parent.is_empty()).then_some(comment);
        }
        at = parent;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_schema_compiles_and_is_a_2020_12_schema() {
        assert!(jsonschema::meta::is_valid(schema_json()));
        let _ = validator();
        assert_eq!(
            schema_json()["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }

    #[test]
    fn required_fields_are_reported_at_their_own_pointer() {
        let found = problems(&json!({}));
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"/transportDocumentStatus"), "{paths:?}");
        assert!(paths.contains(&"/transports"), "{paths:?}");
        assert!(found.iter().all(|p| p.message == "is required"));
    }

    #[test]
    fn the_rule_a_conditional_was_written_from_is_quoted() {
        let found = problems(&json!({
            "transportDocumentTypeCode": "SWB",
            "isToOrder": true,
        }));
        let to_order = found.iter().find(|p| p.path == "/isToOrder").unwrap();
        assert!(to_order.message.starts_with("must be false"), "{to_order}");
        assert!(to_order.message.contains("Sea Waybill") || to_order.message.contains("SWB"));
    }

    /// The schema's regular-expression engine and the hand-written check that `DocumentRef`
    /// and `ContainerNumber` use read DCSA's `^\S(?:.*\S)?$` alike.
    #[test]
    fn the_reference_pattern_agrees_with_the_hand_written_check() {
        for text in [
            "A",
            "A B",
            "A/B",
            "A\tB",
            "\u{85}A",
            "A\u{0}B",
            " A",
            "A ",
            "A\nB",
            "A\rB",
            "A\u{2028}B",
            "\u{feff}A",
            "A\u{3000}",
            "\u{a0}",
            "Ö",
        ] {
            let refused = problems(&json!({"transportDocumentReference": text}))
                .iter()
                .any(|p| p.path == "/transportDocumentReference");
            assert_eq!(
                refused,
                !crate::codes::is_dcsa_text(text),
                "{text:?}: the schema and is_dcsa_text disagree"
            );
        }
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(escape_pointer("a/b~c"), "a~1b~0c");
    }
}

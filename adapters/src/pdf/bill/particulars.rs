//! The working copy of the content the boxes take their values from, and what remains of it
//! for "Further particulars": every scalar no box took, with its path in words.

use serde_json::Value;

/// Deepest nesting "Further particulars" prints; content is at most 16 deep
/// (`doc_workflow::content::CONTENT_DEPTH_MAX`).
const DEPTH_MAX: usize = 16;

/// A working copy of the content from which the boxes take what they print.
pub(super) struct Particulars {
    rest: Value,
}

impl Particulars {
    pub(super) fn new(content: &Value) -> Particulars {
        Particulars {
            rest: content.clone(),
        }
    }

    /// Takes the scalar at `pointer` as printed: strings as they are, numbers in JSON notation,
    /// booleans as yes or no. An object or array is left for "Further particulars".
    pub(super) fn text(&mut self, pointer: &str) -> Option<String> {
        let slot = self.rest.pointer_mut(pointer)?;
        let text = match &*slot {
            Value::Object(_) | Value::Array(_) | Value::Null => return None,
            scalar => printed(scalar),
        };
        *slot = Value::Null;
        Some(text)
    }

    /// Takes a boolean.
    pub(super) fn flag(&mut self, pointer: &str) -> Option<bool> {
        let slot = self.rest.pointer_mut(pointer)?;
        let value = slot.as_bool()?;
        *slot = Value::Null;
        Some(value)
    }

    /// Takes an array of scalars (or one scalar) as lines.
    pub(super) fn texts(&mut self, pointer: &str) -> Vec<String> {
        if let Some(one) = self.text(pointer) {
            return vec![one];
        }
        (0..self.len(pointer))
            .filter_map(|i| self.text(&format!("{pointer}/{i}")))
            .collect()
    }

    /// The length of the array at `pointer`; 0 when there is none.
    pub(super) fn len(&self, pointer: &str) -> usize {
        self.rest
            .pointer(pointer)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    /// Every scalar no box took, as `(path, value)`, in document order; a
    /// `{"value", "unit"}` pair on one line.
    pub(super) fn remaining(mut self) -> Vec<(String, String)> {
        prune(&mut self.rest);
        let mut out = Vec::new();
        flatten(&self.rest, "", &mut out, 0);
        out
    }
}

fn printed(scalar: &Value) -> String {
    match scalar {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Removes nulls and emptied objects; an emptied array element stays as null, so the others
/// keep their numbers.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !prune(v));
            map.is_empty()
        }
        Value::Array(items) => {
            let mut empty = true;
            for item in items.iter_mut() {
                if prune(item) {
                    *item = Value::Null;
                } else {
                    empty = false;
                }
            }
            empty
        }
        _ => false,
    }
}

fn flatten(value: &Value, path: &str, out: &mut Vec<(String, String)>, depth: usize) {
    let join = |name: String| {
        if path.is_empty() {
            name
        } else {
            format!("{path} / {name}")
        }
    };
    if depth > DEPTH_MAX {
        out.push((path.to_owned(), "(nested too deep to print)".to_owned()));
        return;
    }
    match value {
        Value::Null => {}
        Value::Object(map) => {
            if let (2, Some(v), Some(Value::String(unit))) =
                (map.len(), map.get("value"), map.get("unit"))
                && !v.is_object()
                && !v.is_array()
            {
                out.push((path.to_owned(), format!("{} {unit}", printed(v))));
                return;
            }
            for (key, item) in map {
                flatten(item, &join(label(key)), out, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{path} {}", i + 1), out, depth + 1);
            }
        }
        scalar => out.push((path.to_owned(), printed(scalar))),
    }
}

/// A DCSA field name as words: `UNLocationCode` -> `UN location code`, `vesselName` ->
/// `Vessel name`; acronyms keep their capitals.
pub(super) fn label(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    words.push(current);
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let acronym = word.len() > 1 && word.chars().all(|c| !c.is_ascii_lowercase());
            if acronym {
                word.clone()
            } else if i == 0 {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            } else {
                word.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_split_camel_case_and_keep_acronyms() {
        assert_eq!(label("UNLocationCode"), "UN location code");
        assert_eq!(label("vesselName"), "Vessel name");
        assert_eq!(label("HSCodes"), "HS codes");
        assert_eq!(label("ISOEquipmentCode"), "ISO equipment code");
        assert_eq!(label("POBox"), "PO box");
        assert_eq!(
            label("numberOfOriginalsWithCharges"),
            "Number of originals with charges"
        );
    }

    #[test]
    fn what_no_box_took_remains_with_its_path() {
        let mut p = Particulars::new(&json!({
            "a": "x",
            "items": [{"b": 1, "c": true}, {"b": 2}],
            "weight": {"value": "10.5", "unit": "KGM"},
            "typeOfPerson": "ORG",
            "empty": null,
        }));
        assert_eq!(p.text("/a").as_deref(), Some("x"));
        assert_eq!(p.text("/items/0/b").as_deref(), Some("1"));
        assert_eq!(p.text("/items/1/b").as_deref(), Some("2"));
        // A taken value is gone: taking it again gives nothing.
        assert_eq!(p.text("/a"), None);
        // An object is not a scalar: it stays.
        assert_eq!(p.text("/weight"), None);
        assert_eq!(
            p.remaining(),
            [
                ("Items 1 / C".to_owned(), "yes".to_owned()),
                ("Type of person".to_owned(), "ORG".to_owned()),
                ("Weight".to_owned(), "10.5 KGM".to_owned()),
            ]
        );
    }
}

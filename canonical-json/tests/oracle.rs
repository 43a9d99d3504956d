//! The writer against `serde_json_canonicalizer`, the library it replaces on the hot path:
//! byte for byte on RFC 8785's own examples and on generated values.

use proptest::prelude::*;
use serde_json::{Value, json};

fn oracle(value: &Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).expect("finite values canonicalize")
}

#[test]
fn rfc_8785_examples() {
    // Section 3.2.2 (numbers, strings, literals) and 3.2.3 (member order by UTF-16 units).
    let input: Value = serde_json::from_str(
        r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],
            "string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals":[null,true,false]}"#,
    )
    .unwrap();
    assert_eq!(
        canonical_json::to_string(&input),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
    let sorting: Value = serde_json::from_str(
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh",
            "1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
    )
    .unwrap();
    let keys: Vec<String> = {
        let text = canonical_json::to_string(&sorting);
        let reparsed: Vec<(String, Value)> =
            serde_json::from_str::<serde_json::Map<String, Value>>(&text)
                .unwrap()
                .into_iter()
                .collect();
        // Recover the written order from the text itself (a Map would re-sort it).
        let mut order: Vec<(usize, String)> = reparsed
            .into_iter()
            .map(|(k, _)| (text.find(&serde_json::to_string(&k).unwrap()).unwrap(), k))
            .collect();
        order.sort();
        order.into_iter().map(|(_, k)| k).collect()
    };
    assert_eq!(
        keys,
        [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}"
        ],
        "RFC 8785 section 3.2.3's order: the emoji (surrogates) sorts before U+FB33"
    );
    assert_eq!(canonical_json::to_vec(&sorting), oracle(&sorting));
}

#[test]
fn integers_are_doubles_as_in_ecmascript() {
    for value in [
        json!(0),
        json!(-0.0),
        json!(9007199254740993u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e21),
        json!(1e-7),
        json!(123456789012345680000.0),
    ] {
        assert_eq!(canonical_json::to_vec(&value), oracle(&value), "{value}");
    }
}

#[test]
fn is_canonical_accepts_only_the_canonical_bytes() {
    assert!(
        canonical_json::is_canonical(br#"{"a":1,"b":[true]}"#)
            .unwrap()
            .is_some()
    );
    assert!(
        canonical_json::is_canonical(br#"{"b":[true],"a":1}"#)
            .unwrap()
            .is_none()
    );
    assert!(
        canonical_json::is_canonical(br#"{"a":1.0}"#)
            .unwrap()
            .is_none()
    );
    assert!(
        canonical_json::is_canonical(br#"{"a": 1}"#)
            .unwrap()
            .is_none()
    );
    assert!(canonical_json::is_canonical(b"{").is_err());
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_]{0,8}",
        // Control characters, BMP letters, the U+E000.. range and supplementary characters: where
        // byte order and UTF-16 order part.
        proptest::collection::vec(
            prop_oneof![
                Just('\u{1}'),
                Just('"'),
                Just('\\'),
                Just('\u{7f}'),
                Just('\u{e9}'),
                Just('\u{20ac}'),
                Just('\u{e000}'),
                Just('\u{ffee}'),
                Just('\u{1f600}'),
                Just('\u{10ffff}'),
                proptest::char::any(),
            ],
            0..5
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        key().prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn writes_what_the_reference_library_writes(v in value()) {
        prop_assert_eq!(canonical_json::to_vec(&v), oracle(&v));
    }

    #[test]
    fn the_canonical_form_is_canonical(v in value()) {
        let bytes = canonical_json::to_vec(&v);
        let reparsed = canonical_json::is_canonical(&bytes).unwrap();
        prop_assert!(reparsed.is_some());
        prop_assert_eq!(canonical_json::to_vec(&reparsed.unwrap()), bytes);
    }
}

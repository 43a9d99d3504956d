//! RFC 8785 canonicalization vectors (sections 3.2.2, 3.2.3 and appendix B).

use pki::jcs::{CanonicalError, canonicalize, parse_canonical};
use serde_json::Value;

fn canon(json: &str) -> String {
    canonicalize(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
}

#[test]
fn rfc8785_section_3_2_2_sample() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canon(input), expected);
}

#[test]
fn rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let out = canon(input);
    let value: serde_json::Map<String, Value> = serde_json::from_str(&out).unwrap();
    let _ = value;
    let order: Vec<&str> = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    .to_vec();
    let positions: Vec<usize> = order.iter().map(|v| out.find(v).unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "UTF-16 order: {out}"
    );
}

#[test]
fn rfc8785_appendix_b_number_serialization() {
    let cases: [(u64, &str); 9] = [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
    ];
    for (bits, expected) in cases {
        let v = serde_json::Number::from_f64(f64::from_bits(bits)).unwrap();
        assert_eq!(
            canonicalize(&Value::Number(v)).unwrap(),
            expected,
            "{bits:#x}"
        );
    }
    for (input, expected) in [
        ("1e23", "1e+23"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("1E30", "1e+30"),
        ("100", "100"),
    ] {
        assert_eq!(canon(input), expected, "{input}");
    }
}

#[test]
fn parse_canonical_accepts_exactly_the_canonical_bytes() {
    parse_canonical(br#"{"a":[1,2],"b":"x"}"#).unwrap();
    for non_canonical in [
        &br#"{"b":"x","a":[1,2]}"#[..],
        br#"{"a": [1,2],"b":"x"}"#,
        br#"{"a":[1,2],"b":"\u0078"}"#,
        br#"{"a":[1.0,2],"b":"x"}"#,
    ] {
        assert!(matches!(
            parse_canonical(non_canonical),
            Err(CanonicalError::NotCanonical)
        ));
    }
    assert!(matches!(
        parse_canonical(b"{"),
        Err(CanonicalError::NotJson(_))
    ));
}

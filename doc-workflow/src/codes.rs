//! Hand-written checks for the code formats a transport document uses: container references
//! (and whether they are ISO 6346 numbers), UN/LOCODEs, ISO 8601 calendar dates and DCSA's free
//! text pattern. Hand-written because the crate takes no dependency for a dozen lines, and none
//! that could read a clock.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest container reference: DCSA eBL 3.0 `equipmentReference` maxLength (an ISO 6346
/// number is 11 characters).
pub const CONTAINER_NUMBER_CHARS_MAX: usize = 11;

/// A container as a transport document names it: DCSA's `equipmentReference`, at most 11
/// characters with no whitespace at either end (pattern `^\S(?:.*\S)?$`), e.g. `CSQU3054383`.
///
/// Identity is the exact text: the bill's containers, its cargo release's and the gate's must
/// be the same string, character for character. Whether the text is also a well-formed ISO 6346
/// number with the right check digit is a separate question ([`ContainerNumber::iso6346`]): the
/// standard does not ask it, and DCSA's own examples carry numbers whose check digit is wrong,
/// so a failed check is reported as a warning, never a refusal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerNumber(String);

/// Why a container reference was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerNumberError {
    #[error("is empty")]
    Empty,
    #[error("is {chars} characters long; at most {CONTAINER_NUMBER_CHARS_MAX} are allowed")]
    TooLong { chars: usize },
    #[error("must not start or end with whitespace nor hold a line break")]
    Whitespace,
}

/// Why a container reference is not an ISO 6346 container number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Iso6346Error {
    #[error("is not 3 letters, U, J or Z, 6 digits and a check digit (11 characters)")]
    Format,
    #[error("has check digit {found} but ISO 6346 gives {expected}")]
    CheckDigit { found: u32, expected: u32 },
}

impl ContainerNumber {
    pub fn new(value: impl Into<String>) -> Result<Self, ContainerNumberError> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 {
            return Err(ContainerNumberError::Empty);
        }
        if chars > CONTAINER_NUMBER_CHARS_MAX {
            return Err(ContainerNumberError::TooLong { chars });
        }
        if !is_dcsa_text(&value) {
            return Err(ContainerNumberError::Whitespace);
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a well-formed ISO 6346 container number with a correct check digit: an
    /// owner code of three capital letters, the category letter `U`, `J` or `Z`, six digits and
    /// the check digit.
    pub fn iso6346(&self) -> Result<(), Iso6346Error> {
        let bytes = self.0.as_bytes();
        let well_formed = bytes.len() == 11
            && bytes[..3].iter().all(u8::is_ascii_uppercase)
            && matches!(bytes[3], b'U' | b'J' | b'Z')
            && bytes[4..].iter().all(u8::is_ascii_digit);
        if !well_formed {
            return Err(Iso6346Error::Format);
        }
        let expected = iso6346_check_digit(&bytes[..10]);
        let found = u32::from(bytes[10] - b'0');
        if found != expected {
            return Err(Iso6346Error::CheckDigit { found, expected });
        }
        Ok(())
    }
}

/// ECMAScript's `\s` (ECMA-262 WhiteSpace and LineTerminator), which DCSA's patterns use.
pub fn is_ecma_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// ECMAScript's line terminators, which `.` does not match.
fn is_ecma_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// DCSA's pattern for free text, `^\S(?:.*\S)?$`, read as ECMAScript reads it: not empty, no
/// whitespace first or last, and no line break anywhere (`.` matches anything but a line
/// terminator).
pub fn is_dcsa_text(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().last()) else {
        return false;
    };
    !is_ecma_whitespace(first)
        && !is_ecma_whitespace(last)
        && !value.chars().any(is_ecma_line_terminator)
}

/// ISO 6346 check digit of the first ten characters (already known to be well formed): letters
/// count 10 upwards skipping multiples of 11, each position is weighted by 2^i, and the sum is
/// taken modulo 11 and then modulo 10 (a remainder of 10 reads as 0).
fn iso6346_check_digit(first_ten: &[u8]) -> u32 {
    let sum: u32 = first_ten
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let value = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                letter_value(b)
            };
            value << i
        })
        .sum();
    sum % 11 % 10
}

fn letter_value(letter: u8) -> u32 {
    let mut value = 10;
    for _ in b'A'..letter {
        value += 1;
        if value % 11 == 0 {
            value += 1;
        }
    }
    value
}

impl TryFrom<String> for ContainerNumber {
    type Error = ContainerNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ContainerNumber> for String {
    fn from(value: ContainerNumber) -> String {
        value.0
    }
}

impl fmt::Display for ContainerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A UN/LOCODE: two country letters and three characters of `[A-Z2-9]` (the UNECE code list
/// uses digits 2-9 only, so they cannot be confused with O and I).
pub fn is_un_locode(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'9').contains(c))
}

/// An ISO 8601 calendar date `yyyy-mm-dd` that exists (leap years included), years 1900-9999.
pub fn is_iso_date(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1900 && (1..=days_in_month).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso6346_check_digits() {
        for good in [
            "CSQU3054383",
            "MSKU9070323",
            "TGHU1234567",
            "CARU1000003",
            "CARU1000019",
        ] {
            assert_eq!(
                ContainerNumber::new(good).unwrap().iso6346(),
                Ok(()),
                "{good}"
            );
        }
        let check = |s: &str| ContainerNumber::new(s).unwrap().iso6346();
        assert_eq!(
            check("CSQU3054384"),
            Err(Iso6346Error::CheckDigit {
                found: 4,
                expected: 3
            })
        );
        // DCSA's dangerous-goods example: a valid equipment reference, a wrong check digit.
        assert!(matches!(
            check("HLXU1234567"),
            Err(Iso6346Error::CheckDigit { .. })
        ));
        assert_eq!(check("CSQX3054383"), Err(Iso6346Error::Format));
        assert_eq!(check("csqu3054383"), Err(Iso6346Error::Format));
        assert_eq!(check("CSQU305438"), Err(Iso6346Error::Format));
    }

    #[test]
    fn container_references_are_what_dcsa_allows_compared_exactly() {
        assert!(ContainerNumber::new("HLXU1234567").is_ok());
        assert!(ContainerNumber::new("TRAILER 7").is_ok());
        assert_eq!(
            ContainerNumber::new("ABCDEFGHIJKL"),
            Err(ContainerNumberError::TooLong { chars: 12 })
        );
        assert_eq!(ContainerNumber::new(""), Err(ContainerNumberError::Empty));
        assert_eq!(
            ContainerNumber::new(" CSQU305438"),
            Err(ContainerNumberError::Whitespace)
        );
        assert_eq!(
            ContainerNumber::new("CSQU\n3054"),
            Err(ContainerNumberError::Whitespace)
        );
        assert_ne!(
            ContainerNumber::new("csqu3054383").unwrap(),
            ContainerNumber::new("CSQU3054383").unwrap()
        );
    }

    #[test]
    fn dcsa_text_reads_the_pattern_as_ecmascript_does() {
        assert!(is_dcsa_text("A"));
        assert!(is_dcsa_text("A B/C\tD"));
        assert!(is_dcsa_text("\u{85}x"));
        for bad in [
            "",
            " A",
            "A ",
            "A\nB",
            "A\rB",
            "A\u{2028}B",
            "\u{feff}A",
            "A\u{3000}",
        ] {
            assert!(!is_dcsa_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn letter_values_skip_multiples_of_eleven() {
        assert_eq!(letter_value(b'A'), 10);
        assert_eq!(letter_value(b'B'), 12);
        assert_eq!(letter_value(b'L'), 23);
        assert_eq!(letter_value(b'V'), 34);
        assert_eq!(letter_value(b'Z'), 38);
    }

    #[test]
    fn locodes() {
        assert!(is_un_locode("NLRTM"));
        assert!(is_un_locode("SGSIN"));
        assert!(is_un_locode("US2AB"));
        assert!(!is_un_locode("NLRT1"));
        assert!(!is_un_locode("nlrtm"));
        assert!(!is_un_locode("NLRTMX"));
    }

    #[test]
    fn dates() {
        assert!(is_iso_date("2024-02-29"));
        assert!(!is_iso_date("2023-02-29"));
        assert!(!is_iso_date("1900-02-29"));
        assert!(is_iso_date("2000-02-29"));
        assert!(!is_iso_date("2024-13-01"));
        assert!(!is_iso_date("2024-04-31"));
        assert!(!is_iso_date("2024-4-30"));
        assert!(!is_iso_date("2024-04-3x"));
    }
}

//! Identifiers and the acting identity: small validated newtypes, so that a string that is not a
//! party code or a document reference cannot reach the engine.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest party code. 35 characters is the UN/EDIFACT party identifier length, which fits LEIs
/// (20), SCACs (4) and DCSA party codes.
pub const PARTY_CODE_CHARS_MAX: usize = 35;

/// Longest transport document reference: DCSA eBL 3.0 `transportDocumentReference` maxLength.
pub const DOCUMENT_REF_CHARS_MAX: usize = 20;

/// Why an identifier was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {chars} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        chars: usize,
        max: usize,
    },
    #[error("{what} contains {found:?}; only A-Z, a-z, 0-9 and {extra} are allowed")]
    BadCharacter {
        what: &'static str,
        found: char,
        extra: &'static str,
    },
    #[error("{what} must not start or end with whitespace nor hold a line break")]
    Whitespace { what: &'static str },
}

fn check(what: &'static str, value: &str, max: usize, extra: &'static str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { what });
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(IdError::TooLong { what, chars, max });
    }
    match value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)))
    {
        Some(found) => Err(IdError::BadCharacter { what, found, extra }),
        None => Ok(()),
    }
}

/// A transport document reference as DCSA eBL 3.0 allows it: 1 to 20 characters matching
/// `^\S(?:.*\S)?$` (ECMAScript), so inner spaces, `/` and any other printable character too.
fn check_reference(value: &str) -> Result<(), IdError> {
    const WHAT: &str = "document reference";
    if value.is_empty() {
        return Err(IdError::Empty { what: WHAT });
    }
    let chars = value.chars().count();
    if chars > DOCUMENT_REF_CHARS_MAX {
        return Err(IdError::TooLong {
            what: WHAT,
            chars,
            max: DOCUMENT_REF_CHARS_MAX,
        });
    }
    if !crate::codes::is_dcsa_text(value) {
        return Err(IdError::Whitespace { what: WHAT });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                $check(value.as_str())?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A party's stable code on the network (an LEI, a DCSA party code, a SCAC...): 1 to 35
    /// characters of `[A-Za-z0-9._:-]`. Title and possession are held by parties.
    PartyCode,
    |value: &str| check("party code", value, PARTY_CODE_CHARS_MAX, ".-_:")
);

string_newtype!(
    /// A `transportDocumentReference`: whatever DCSA eBL 3.0 allows, 1 to 20 characters with no
    /// whitespace at either end and no line break (`^\S(?:.*\S)?$`). It may hold `/`, spaces,
    /// `%` or a NUL: [`DocumentId`]'s text stays unambiguous because a party code holds no `/`,
    /// and the ledger escapes what its keys need (`ledger::chain::state::keys`).
    DocumentRef,
    check_reference
);

/// A transport document's identity: the issuing carrier's party code and the reference the
/// carrier gave it (DOMAIN.md section 2: `(carrierCode, transportDocumentReference)`; Silkline
/// names the carrier by its party code, see the `content` module).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentId {
    pub carrier: PartyCode,
    pub reference: DocumentRef,
}

impl DocumentId {
    pub fn new(carrier: PartyCode, reference: DocumentRef) -> Self {
        Self { carrier, reference }
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.carrier, self.reference)
    }
}

/// Which key space a document lives in. A cargo release shares its bill's [`DocumentId`] but is a
/// separate record, so releasing cargo never touches the bill (DOMAIN.md section 3: nothing may
/// follow `SURRENDERED_FOR_DELIVERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DocumentClass {
    /// Bills of lading and sea waybills.
    TransportDocument,
    /// Cargo releases (delivery orders).
    CargoRelease,
}

impl DocumentClass {
    pub fn code(self) -> &'static str {
        match self {
            DocumentClass::TransportDocument => "TRANSPORT_DOCUMENT",
            DocumentClass::CargoRelease => "CARGO_RELEASE",
        }
    }
}

/// The key a document is stored under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentKey {
    pub class: DocumentClass,
    pub id: DocumentId,
}

impl DocumentKey {
    pub fn transport_document(id: DocumentId) -> Self {
        Self {
            class: DocumentClass::TransportDocument,
            id,
        }
    }

    pub fn cargo_release(id: DocumentId) -> Self {
        Self {
            class: DocumentClass::CargoRelease,
            id,
        }
    }
}

impl fmt::Display for DocumentKey {
    /// `CLASS/carrier/reference`; unambiguous because neither the class nor the carrier's party
    /// code may contain `/` (the reference, last, may).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.class.code(), self.id)
    }
}

/// Milliseconds since the Unix epoch, stamped into the block by the ledger. The engine never
/// reads a clock: every replica applies the same block with the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockTime(pub u64);

impl BlockTime {
    pub fn ms(self) -> u64 {
        self.0
    }
}

/// A network role (DOMAIN.md section 1). The ledger derives an actor's roles from the network
/// configuration: a member's own party has the member's role; onboarded parties are `Trader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Carrier,
    Port,
    Bank,
    /// Reads everything, writes nothing.
    Observer,
    Trader,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Carrier,
        Role::Port,
        Role::Bank,
        Role::Observer,
        Role::Trader,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Carrier => "CARRIER",
            Role::Port => "PORT",
            Role::Bank => "BANK",
            Role::Observer => "OBSERVER",
            Role::Trader => "TRADER",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who is acting: the party named by the signing user's certificate, with the roles the network
/// configuration gives it. The ledger has already verified the signature; the engine trusts this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub party: PartyCode,
    pub roles: BTreeSet<Role>,
}

impl Actor {
    pub fn new(party: PartyCode, roles: impl IntoIterator<Item = Role>) -> Self {
        Self {
            party,
            roles: roles.into_iter().collect(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_codes_are_validated() {
        assert!(PartyCode::new("CARRIER").is_ok());
        assert!(PartyCode::new("LEI:5493001KJTIIGC8Y1R12").is_ok());
        assert_eq!(
            PartyCode::new(""),
            Err(IdError::Empty { what: "party code" })
        );
        assert!(matches!(
            PartyCode::new("A B"),
            Err(IdError::BadCharacter { found: ' ', .. })
        ));
        assert!(matches!(
            PartyCode::new("X".repeat(36)),
            Err(IdError::TooLong { chars: 36, .. })
        ));
        assert!(PartyCode::new("X".repeat(35)).is_ok());
    }

    #[test]
    fn references_are_what_dcsa_allows() {
        for good in [
            "BL-0001",
            "A/B",
            "bad ref",
            "HHL 718/00 #2",
            "Ö-€ 1",
            "A\u{0}B",
            "%41",
        ] {
            assert!(DocumentRef::new(good).is_ok(), "{good:?}");
        }
        assert!(DocumentRef::new("X".repeat(20)).is_ok());
        assert!(matches!(
            DocumentRef::new("X".repeat(21)),
            Err(IdError::TooLong { chars: 21, .. })
        ));
        for bad in [" A", "A ", "A\nB", "A\u{2028}B", "\u{a0}A"] {
            assert_eq!(
                DocumentRef::new(bad),
                Err(IdError::Whitespace {
                    what: "document reference"
                }),
                "{bad:?}"
            );
        }
        let parsed: Result<DocumentRef, _> = serde_json::from_str("\"A\\nB\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn keys_display_unambiguously() {
        let id = DocumentId::new(
            PartyCode::new("CARRIER").unwrap(),
            DocumentRef::new("BL1").unwrap(),
        );
        assert_eq!(
            DocumentKey::cargo_release(id).to_string(),
            "CARGO_RELEASE/CARRIER/BL1"
        );
    }
}

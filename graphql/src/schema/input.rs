//! Arguments: the enums queries take, and the parsing of the strings they pass (party codes,
//! document keys, container numbers, page cursors), refused with `BAD_REQUEST` and the argument's name.

use async_graphql::Enum;
use doc_workflow::{
    ContainerNumber, DocumentClass, DocumentId, DocumentKey, DocumentRef, PartyCode,
};

use super::Api;
use crate::error::{BAD_REQUEST, UNAVAILABLE, api_error};

pub(super) fn parse_party(field: &str, code: &str) -> async_graphql::Result<PartyCode> {
    PartyCode::new(code).map_err(|e| api_error(BAD_REQUEST, format!("{field}: {e}")))
}

/// A container number in ISO 6346 form. A malformed number says nothing about the ledger, so
/// refusing it reveals nothing. The check digit is not held against it: a bill may list a
/// number whose digit does not match (content validation warns of it), and its container must
/// still be found at the gate.
pub(super) fn parse_container(number: &str) -> async_graphql::Result<ContainerNumber> {
    ContainerNumber::new(number).map_err(|e| api_error(BAD_REQUEST, format!("container: {e}")))
}

pub(super) fn parse_key(
    class: DocumentClassArg,
    carrier: &str,
    reference: &str,
) -> async_graphql::Result<DocumentKey> {
    let carrier = parse_party("carrierCode", carrier)?;
    let reference = DocumentRef::new(reference)
        .map_err(|e| api_error(BAD_REQUEST, format!("reference: {e}")))?;
    Ok(DocumentKey {
        class: class.into(),
        id: DocumentId::new(carrier, reference),
    })
}

/// A page cursor as `documents` issues it (`nextCursor`: the last key of the page, as
/// `CLASS/carrier/reference`). Anything else is refused rather than read as a position in the
/// index, which would answer a wrong or empty page as if it were the real one.
pub(super) fn parse_cursor(cursor: &str) -> async_graphql::Result<&str> {
    let refused = || {
        api_error(
            BAD_REQUEST,
            "after: not a cursor this API issued; pass the `nextCursor` of the previous page",
        )
    };
    let mut parts = cursor.splitn(3, '/');
    let (Some(class), Some(carrier), Some(reference)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(refused());
    };
    let class = match class {
        "TRANSPORT_DOCUMENT" => DocumentClass::TransportDocument,
        "CARGO_RELEASE" => DocumentClass::CargoRelease,
        _ => return Err(refused()),
    };
    let (Ok(carrier), Ok(reference)) = (PartyCode::new(carrier), DocumentRef::new(reference))
    else {
        return Err(refused());
    };
    let key = DocumentKey {
        class,
        id: DocumentId::new(carrier, reference),
    };
    // Only the one spelling the ledger writes.
    if key.to_string() != cursor {
        return Err(refused());
    }
    Ok(cursor)
}

/// Which kind of document a key names.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DocumentClassArg {
    /// Bills of lading and sea waybills.
    TransportDocument,
    /// Cargo releases (delivery orders), keyed by the bill they release.
    CargoRelease,
}

impl From<DocumentClassArg> for DocumentClass {
    fn from(c: DocumentClassArg) -> DocumentClass {
        match c {
            DocumentClassArg::TransportDocument => DocumentClass::TransportDocument,
            DocumentClassArg::CargoRelease => DocumentClass::CargoRelease,
        }
    }
}

/// How fresh a read must be.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum Consistency {
    /// Reflects every transaction acknowledged anywhere before the query (Raft ReadIndex: one
    /// round trip to the leader's quorum).
    #[default]
    Linearizable,
    /// This node's applied state as it is, without asking the leader: may lag by a block.
    Local,
}

pub(super) async fn linearize(api: &Api, consistency: Consistency) -> async_graphql::Result<()> {
    if consistency == Consistency::Linearizable {
        api.client
            .linearizable()
            .await
            .map_err(|e| api_error(UNAVAILABLE, e.to_string()))?;
    }
    Ok(())
}

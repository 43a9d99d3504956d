//! The store layout: every key of the ledger's sled tree, and which of them the state hash
//! covers. Nothing here reads or writes the store; it only spells keys.
//!
//! One sled tree; every key starts with a keyspace tag. `<doc>` is a document key's display form
//! (`CLASS/carrier/reference`) and `<party>`, `<STATUS>` are codes; none of them can contain
//! `\0`, so `\0` ends a variable-length component and prefix scans are exact.
//!
//! | key | value |
//! |---|---|
//! | `m:applied`, `m:tip`, `m:genesis` | applied index (u64 BE), [`Tip`], genesis JSON |
//! | `doc/<doc>` | `DocumentState`, RFC 8785 canonical JSON, zstd-compressed ([`crate::codec`]), its content's text stored apart ([`crate::records::StoredDocument`]) |
//! | `dct/<content sha256 hex>` | a document's content, RFC 8785 canonical JSON, zstd-compressed: written once, never rewritten by the transfers that rewrite `doc/` |
//! | `his/<doc>\0<sequence u64 BE>` | [`HistoryEntry`], zstd-compressed, its `jws` stored without its header ([`crate::records::StoredJws`]) |
//! | `jwh/<SHA-256 of a JWS header segment>` | the header segment (base64url text): each signer's `x5c` once, not in every history entry |
//! | `dpt/<doc>` | every party that is or was party to the document |
//! | `sta/<STATUS>\0<doc>`, `pty/<party>\0<doc>`, `pst/<party>\0<STATUS>\0<doc>` | indexes |
//! | `non/<party>\0<nonce>`, `nex/<notAfter u64 BE><party>\0<nonce>` | nonce, its expiry |
//! | `txn/<tx hash>` | [`TxRecord`] |
//! | `blk/<height u64 BE>` | [`Block`](crate::Block) |
//! | `crl/<member>`, `par/<party>` | [`CrlRecord`], [`PartyRecord`] |
//! | `nod/<raft id u64 BE>` | [`NodeRecord`] of a node added, promoted or removed by governance |
//! | `sum/<content sha256 hex>\0<doc>` | index: documents by content checksum (verification) |
//! | `mem/<member>` | [`MemberRecord`] of a member admitted, removed or changed since genesis |
//! | `cfg/consortium` | [`ConsortiumRecord`]: version, pause, parameters, workflow versions (absent: genesis's) |
//! | `prp/<proposal id>` | [`ProposalRecord`] |
//! | `dwv/<doc>` | the workflow version a document runs under (u32 BE); absent: version 1 |
//! | `ctr/<container number>\0<doc>` | index: cargo releases by container (the gate check) |
//! | `pch/<transportDocumentChecksum>` | [`PintChainRecord`]: a bill's DCSA PINT transfer chain as this network holds it |
//! | `pxo/<doc>` | [`ExportRecord`]: the bill's last transfer to another platform |
//! | `pxq/<doc>` | index: transfers to other platforms not yet answered (the senders' outbox) |
//! | `pim/<doc>` | the carrier's signed PINT issuance manifest of a bill issued here (compact JWS) |
//! | `pdo/<sha256 hex>\0<doc>` | the bytes of a supporting document a transfer to another platform carries, by checksum, until the answer |
//!
//! The records are in [`crate::records`]; who writes them, and in one batch per block, is
//! [`crate::apply`].

use doc_workflow::{ContainerNumber, DocumentKey, PartyCode, Status};

#[cfg(doc)]
use crate::consortium::{ConsortiumRecord, MemberRecord, ProposalRecord};
#[cfg(doc)]
use crate::records::{
    CrlRecord, ExportRecord, HistoryEntry, NodeRecord, PartyRecord, PintChainRecord, Tip, TxRecord,
};

pub const APPLIED: &[u8] = b"m:applied";
pub const TIP: &[u8] = b"m:tip";
pub const GENESIS: &[u8] = b"m:genesis";
pub const META: &[u8] = b"m:";
pub const DOC: &[u8] = b"doc/";
pub const HISTORY: &[u8] = b"his/";
pub const JWS_HEADER: &[u8] = b"jwh/";
pub const CONTENT: &[u8] = b"dct/";
pub const STATUS: &[u8] = b"sta/";
pub const PARTY_DOCS: &[u8] = b"pty/";
pub const PARTY_STATUS: &[u8] = b"pst/";
pub const NONCE_EXPIRY: &[u8] = b"nex/";
pub const BLOCK: &[u8] = b"blk/";
pub const TX: &[u8] = b"txn/";
pub const CRL: &[u8] = b"crl/";
pub const PARTY: &[u8] = b"par/";
pub const CHECKSUM: &[u8] = b"sum/";
pub const NODE: &[u8] = b"nod/";
pub const MEMBER: &[u8] = b"mem/";
pub const CONSORTIUM: &[u8] = b"cfg/consortium";
pub const PROPOSAL: &[u8] = b"prp/";
pub const CONTAINER: &[u8] = b"ctr/";
pub const PINT_CHAIN: &[u8] = b"pch/";
pub const PINT_EXPORT: &[u8] = b"pxo/";
pub const PINT_OUTBOX: &[u8] = b"pxq/";
pub const PINT_ISSUANCE_MANIFEST: &[u8] = b"pim/";
pub const PINT_OUTGOING_DOCUMENT: &[u8] = b"pdo/";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A document key as it appears inside store keys: `CLASS/carrier/reference`, with `%` and
/// NUL written `%25` and `%00`. A DCSA reference may hold any character but a line break,
/// NUL included, and NUL ends a document's part of a history key (`history_prefix`): left
/// as it is, reference `A` would own reference `A<NUL>B`'s history. Neither character was
/// allowed in a reference before, so no stored key changes.
pub fn doc_text(key: &DocumentKey) -> String {
    let text = key.to_string();
    if !text.contains(['%', '\0']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

pub fn doc(key: &DocumentKey) -> Vec<u8> {
    cat(&[DOC, doc_text(key).as_bytes()])
}
pub fn doc_from_suffix(suffix: &[u8]) -> Vec<u8> {
    cat(&[DOC, suffix])
}
pub fn history_prefix(key: &DocumentKey) -> Vec<u8> {
    cat(&[HISTORY, doc_text(key).as_bytes(), b"\0"])
}
pub fn history(key: &DocumentKey, sequence: u64) -> Vec<u8> {
    cat(&[&history_prefix(key), &sequence.to_be_bytes()])
}
/// A document content's canonical text by its SHA-256 (lowercase hex).
pub fn content(sha256_hex: &str) -> Vec<u8> {
    cat(&[CONTENT, sha256_hex.as_bytes()])
}
/// A JWS header segment by its SHA-256.
pub fn jws_header(digest: &[u8; 32]) -> Vec<u8> {
    cat(&[JWS_HEADER, digest])
}
pub fn parties_ever(key: &DocumentKey) -> Vec<u8> {
    cat(&[b"dpt/", doc_text(key).as_bytes()])
}
/// Documents by their content's SHA-256 (lowercase hex).
pub fn checksum_prefix(sha256_hex: &str) -> Vec<u8> {
    cat(&[CHECKSUM, sha256_hex.as_bytes(), b"\0"])
}
pub fn by_checksum(sha256_hex: &str, key: &DocumentKey) -> Vec<u8> {
    cat(&[&checksum_prefix(sha256_hex), doc_text(key).as_bytes()])
}
/// Cargo releases that grant (or granted) a right for a container. An ISO 6346 number is 11
/// letters and digits, so it holds no `\0`.
pub fn container_prefix(container: &ContainerNumber) -> Vec<u8> {
    cat(&[CONTAINER, container.as_str().as_bytes(), b"\0"])
}
pub fn by_container(container: &ContainerNumber, key: &DocumentKey) -> Vec<u8> {
    cat(&[&container_prefix(container), doc_text(key).as_bytes()])
}
pub fn status_prefix(status: Status) -> Vec<u8> {
    cat(&[STATUS, status.code().as_bytes(), b"\0"])
}
pub fn by_status(status: Status, key: &DocumentKey) -> Vec<u8> {
    cat(&[&status_prefix(status), doc_text(key).as_bytes()])
}
pub fn party_prefix(party: &PartyCode) -> Vec<u8> {
    cat(&[PARTY_DOCS, party.as_str().as_bytes(), b"\0"])
}
pub fn by_party(party: &PartyCode, key: &DocumentKey) -> Vec<u8> {
    cat(&[&party_prefix(party), doc_text(key).as_bytes()])
}
pub fn party_status_prefix(party: &PartyCode, status: Status) -> Vec<u8> {
    cat(&[
        PARTY_STATUS,
        party.as_str().as_bytes(),
        b"\0",
        status.code().as_bytes(),
        b"\0",
    ])
}
pub fn by_party_status(party: &PartyCode, status: Status, key: &DocumentKey) -> Vec<u8> {
    cat(&[
        &party_status_prefix(party, status),
        doc_text(key).as_bytes(),
    ])
}
pub fn nonce(party: &PartyCode, nonce: &str) -> Vec<u8> {
    cat(&[b"non/", party.as_str().as_bytes(), b"\0", nonce.as_bytes()])
}
pub fn nonce_expiry(not_after_ms: u64, party: &PartyCode, nonce: &str) -> Vec<u8> {
    cat(&[
        NONCE_EXPIRY,
        &not_after_ms.to_be_bytes(),
        party.as_str().as_bytes(),
        b"\0",
        nonce.as_bytes(),
    ])
}
pub fn tx(hash: &crate::Hash32) -> Vec<u8> {
    cat(&[TX, &hash.0])
}
pub fn block(height: u64) -> Vec<u8> {
    cat(&[BLOCK, &height.to_be_bytes()])
}
pub fn crl(member: &PartyCode) -> Vec<u8> {
    cat(&[CRL, member.as_str().as_bytes()])
}
pub fn party(code: &PartyCode) -> Vec<u8> {
    cat(&[PARTY, code.as_str().as_bytes()])
}
pub fn node(raft_id: u64) -> Vec<u8> {
    cat(&[NODE, &raft_id.to_be_bytes()])
}
pub fn member(code: &PartyCode) -> Vec<u8> {
    cat(&[MEMBER, code.as_str().as_bytes()])
}
pub fn proposal(id: &crate::Hash32) -> Vec<u8> {
    cat(&[PROPOSAL, &id.0])
}
pub fn doc_workflow_version(key: &DocumentKey) -> Vec<u8> {
    cat(&[b"dwv/", doc_text(key).as_bytes()])
}
/// A bill's PINT chain, by its transport document checksum (lowercase hex: no `\0`).
pub fn pint_chain(document_checksum: &str) -> Vec<u8> {
    cat(&[PINT_CHAIN, document_checksum.as_bytes()])
}
pub fn pint_export(key: &DocumentKey) -> Vec<u8> {
    cat(&[PINT_EXPORT, doc_text(key).as_bytes()])
}
pub fn pint_outbox(key: &DocumentKey) -> Vec<u8> {
    cat(&[PINT_OUTBOX, doc_text(key).as_bytes()])
}
pub fn pint_issuance_manifest(key: &DocumentKey) -> Vec<u8> {
    cat(&[PINT_ISSUANCE_MANIFEST, doc_text(key).as_bytes()])
}
/// A supporting document of a bill's transfer to another platform: content-addressed (its
/// SHA-256, lowercase hex, no `\0`), then the bill whose transfer carries it, so that each
/// transfer's answer removes its own.
pub fn pint_outgoing_document(checksum: &str, key: &DocumentKey) -> Vec<u8> {
    cat(&[
        PINT_OUTGOING_DOCUMENT,
        checksum.as_bytes(),
        b"\0",
        doc_text(key).as_bytes(),
    ])
}
/// Whether a key is part of the hashed replicated state. Left out: meta; the blocks, which
/// carry the state hash themselves; and the transaction records, an index of the blocks
/// whose outcomes the block hash already covers (and whose messages must stay rewordable).
pub fn is_hashed(key: &[u8]) -> bool {
    !key.starts_with(META) && !key.starts_with(BLOCK) && !key.starts_with(TX)
}

#[cfg(test)]
mod tests {
    use doc_workflow::{DocumentId, DocumentRef};

    use super::*;

    fn bill(reference: &str) -> DocumentKey {
        DocumentKey::transport_document(DocumentId::new(
            PartyCode::new("CARRIER").unwrap(),
            DocumentRef::new(reference).unwrap(),
        ))
    }

    #[test]
    fn a_documents_history_prefix_covers_no_other_document() {
        for (a, b) in [
            ("A", "A\0B"),
            ("A", "A/B"),
            ("A B", "A B%"),
            ("A%00", "A\0"),
        ] {
            let (a, b) = (bill(a), bill(b));
            assert!(!history(&b, 1).starts_with(&history_prefix(&a)), "{a} {b}");
            assert!(!history(&a, 1).starts_with(&history_prefix(&b)), "{a} {b}");
            assert_ne!(doc(&a), doc(&b));
        }
    }

    #[test]
    fn references_that_were_allowed_before_keep_their_keys() {
        assert_eq!(
            doc(&bill("SLK-ORDER-001.a_1")),
            b"doc/TRANSPORT_DOCUMENT/CARRIER/SLK-ORDER-001.a_1"
        );
        assert_eq!(
            doc(&bill("A%\0/B")),
            b"doc/TRANSPORT_DOCUMENT/CARRIER/A%25%00/B"
        );
    }
}

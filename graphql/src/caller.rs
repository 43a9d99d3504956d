//! Who is asking, and what they may read.
//!
//! The caller is the client certificate of the TLS connection, checked against the ledger's
//! trust store (the members' CAs and their current revocation lists) when the connection is
//! made. A user or admin certificate acts for its party; a node certificate for its member's
//! own party. Members with the `OBSERVER` role (regulators, auditors) read everything.

use std::collections::BTreeSet;

use doc_workflow::PartyCode;
use ledger::chain::{Genesis, MemberRole};
use pki::{Identity, IdentityKind};

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The party the certificate acts for.
    pub party: PartyCode,
    /// The member whose CA issued it.
    pub member: PartyCode,
    /// User, admin or node.
    pub kind: IdentityKind,
    /// Whether the member observes the whole network.
    pub observer: bool,
    /// SHA-256 of the client certificate, lowercase hex (for logs).
    pub fingerprint: String,
}

impl Caller {
    /// The caller an identity verified by the trust store is, on the network `genesis` describes.
    /// `None` if the identity names a party code the workflow cannot use (never for
    /// certificates of this network's profile).
    pub fn of(identity: &Identity, genesis: &Genesis) -> Option<Caller> {
        let member = PartyCode::new(identity.member.as_str()).ok()?;
        let party = match identity.kind {
            // A node speaks for its member.
            IdentityKind::Node => member.clone(),
            _ => PartyCode::new(identity.party.as_str()).ok()?,
        };
        let observer = genesis
            .member(&member)
            .is_some_and(|m| m.role == MemberRole::Observer);
        Some(Caller {
            party,
            member,
            kind: identity.kind,
            observer,
            fingerprint: identity.fingerprint.to_string(),
        })
    }

    /// Whether the caller may read a document whose parties (ever) are `parties_ever`. An empty
    /// set is a document that does not exist: nobody reads it, observers included.
    pub fn may_read(&self, parties_ever: &BTreeSet<PartyCode>) -> bool {
        !parties_ever.is_empty() && (self.observer || parties_ever.contains(&self.party))
    }
}

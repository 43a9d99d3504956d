//! The checks every node runs on every transaction, at the block's time, and their refusal
//! codes.
//!
//! Order (each step assumes the ones before it passed; the first failure is the outcome):
//!
//! 1. `DUPLICATE`: the same envelope bytes already committed (checked by `apply`, first, so a
//!    resubmission always points at its original).
//! 2. Envelope size ([`ENVELOPE_BYTES_MAX`](super::tx::ENVELOPE_BYTES_MAX)): `ENVELOPE_EMPTY`, `ENVELOPE_TOO_LARGE`.
//! 3. JWS structure and signature (`pki`): `MALFORMED_ENVELOPE`, `BAD_SIGNATURE`.
//! 4. The signer's certificate chains to a member CA, valid at block time, not revoked by the
//!    member's current CRL (`pki::TrustStore`): `UNKNOWN_ISSUER`, `CERTIFICATE_EXPIRED`,
//!    `CERTIFICATE_NOT_YET_VALID`, `CERTIFICATE_REVOKED`, `CERTIFICATE_INVALID`.
//! 5. The payload is a transaction: `MALFORMED_TRANSACTION`.
//! 6. Certificate kind: users and admins sign document commands and `PINT_SEND`, admins sign
//!    governance, node certificates sign the other PINT transactions (an envelope received,
//!    one dispatched, a receipt) and nothing else: `WRONG_CERTIFICATE_KIND`.
//! 7. The certificate's party exists and its member sponsors it (a bank's CA cannot act for
//!    CARRIER): `UNKNOWN_PARTY`, `PARTY_NOT_SPONSORED`.
//! 8. `WRONG_NETWORK`.
//! 9. Validity window: `MALFORMED_NONCE`, `INVALID_WINDOW` (`notAfter < notBefore`),
//!    `WINDOW_TOO_LONG`, `TRANSACTION_NOT_YET_VALID`, `TRANSACTION_EXPIRED`.
//! 10. Replay (checked by `apply` against the nonce store): `NONCE_REUSED`.
//! 11. The command: `doc_workflow::Refusal::code()` for document commands; for governance
//!     `OBSERVER_CANNOT_SPONSOR`, `PARTY_ALREADY_EXISTS`, `INVALID_PARTY_NAME`, `CRL_INVALID`,
//!     `CRL_WRONG_ISSUER`, `CRL_OUTDATED`, `CRL_NOT_YET_VALID`; membership: `NODE_ALREADY_EXISTS`,
//!     `UNKNOWN_NODE`, `NOT_A_LEARNER`, `NODE_OF_ANOTHER_MEMBER`, `LAST_VOTER`, `INVALID_NODE`,
//!     `TOO_MANY_NODES`; a member's CAs: `INVALID_MEMBER_CA`; by vote: `INVALID_PROPOSAL`,
//!     `STALE_CONFIG_VERSION`, `TOO_MANY_OPEN_PROPOSALS`, `UNKNOWN_PROPOSAL`,
//!     `PROPOSAL_EXPIRED`, `PROPOSAL_SUPERSEDED`, `PROPOSAL_WITHDRAWN`, `PROPOSAL_CLOSED`,
//!     `NOT_ELIGIBLE_TO_VOTE`, `NOT_THE_PROPOSER`; a document command while paused:
//!     `NETWORK_PAUSED`.
//!
//! All of it is a pure function of the envelope, the state and the block time.

use std::collections::BTreeMap;

use doc_workflow::{PartyCode, Refusal};

use super::Hash32;
use super::block::{Outcome, TxLocation};
use super::records::PartyRecord;
use super::signatures::SignatureCheck;
use super::tx::{Pint, Transaction, TxBody, VALIDITY_WINDOW_MS_MAX, nonce_is_well_formed};

pub use super::trust::{CrlInfo, Envelope, Signatory, Trust, identity_refusal};
pub use pki::identity::IdentityKind;

/// The code of a resubmitted, already committed transaction.
pub const DUPLICATE: &str = "DUPLICATE";

/// Refusals that no committed write can turn into an acceptance: they follow from the
/// envelope's bytes, the network's identity, fixed bounds and the clock alone. A node refuses
/// such a transaction at precheck without first catching up with the leader
/// (`LedgerClient::submit`), so that junk costs the network no ReadIndex round.
pub const STATELESS_REFUSALS: [&str; 10] = [
    "ENVELOPE_EMPTY",
    "ENVELOPE_TOO_LARGE",
    "MALFORMED_ENVELOPE",
    "BAD_SIGNATURE",
    "WRONG_NETWORK",
    "MALFORMED_NONCE",
    "INVALID_WINDOW",
    "WINDOW_TOO_LONG",
    "TRANSACTION_NOT_YET_VALID",
    "TRANSACTION_EXPIRED",
];

/// Why a transaction was refused. Each variant has a stable [`code`](TxRefusal::code) and a
/// message naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRefusal {
    #[error("the same signed transaction already committed at block {} position {}", original.height, original.position)]
    Duplicate { original: TxLocation },
    #[error("the envelope is empty")]
    EnvelopeEmpty,
    #[error("the envelope is {bytes} bytes; at most {max} are accepted")]
    EnvelopeTooLarge { bytes: usize, max: usize },
    #[error("the envelope is not a valid JWS compact serialization: {0}")]
    MalformedEnvelope(String),
    #[error("the JWS signature does not verify: {0}")]
    BadSignature(String),
    #[error("the signer's certificate does not chain to a member CA of this network: {0}")]
    UnknownIssuer(String),
    #[error("the signer's certificate expired before the block time: {0}")]
    CertificateExpired(String),
    #[error("the signer's certificate is not yet valid at the block time: {0}")]
    CertificateNotYetValid(String),
    #[error("the signer's certificate is revoked by its member's current CRL: {0}")]
    CertificateRevoked(String),
    #[error("the signer's certificate is not acceptable: {0}")]
    CertificateInvalid(String),
    #[error("the payload is not a transaction: {0}")]
    MalformedTransaction(String),
    #[error("a {kind} certificate cannot sign this transaction; it needs {required}")]
    WrongCertificateKind {
        kind: IdentityKind,
        required: &'static str,
    },
    #[error("the certificate names party {party}, which is not on this network")]
    UnknownParty { party: PartyCode },
    #[error(
        "member {member} does not sponsor party {party} (its sponsor is {sponsor}); its CA cannot act for it"
    )]
    PartyNotSponsored {
        party: PartyCode,
        member: PartyCode,
        sponsor: PartyCode,
    },
    #[error("the transaction is for network {got:?}, this is {expected:?}")]
    WrongNetwork { got: String, expected: String },
    #[error("the nonce must be {min} to {max} characters of [A-Za-z0-9_-]", min = super::tx::NONCE_CHARS_MIN, max = super::tx::NONCE_CHARS_MAX)]
    MalformedNonce,
    #[error("notAfter ({not_after_ms}) is before notBefore ({not_before_ms})")]
    InvalidWindow {
        not_before_ms: u64,
        not_after_ms: u64,
    },
    #[error("the validity window is {window_ms} ms; at most {max_ms} ms are allowed")]
    WindowTooLong { window_ms: u64, max_ms: u64 },
    #[error("the transaction is valid from {not_before_ms}; the block time is {time_ms}")]
    NotYetValid { not_before_ms: u64, time_ms: u64 },
    #[error("the transaction expired at {not_after_ms}; the block time is {time_ms}")]
    Expired { not_after_ms: u64, time_ms: u64 },
    #[error("the nonce was already used by transaction {original} within its validity window")]
    NonceReused { original: Hash32 },
    #[error("{0}")]
    Workflow(Refusal),
    #[error("member {member} is an observer: observers sponsor no parties")]
    ObserverCannotSponsor { member: PartyCode },
    #[error("party {party} already exists")]
    PartyAlreadyExists { party: PartyCode },
    #[error("a party name is 1 to {max} characters without surrounding spaces (got {chars})")]
    InvalidPartyName { chars: usize, max: usize },
    #[error("the CRL is not acceptable: {0}")]
    CrlInvalid(String),
    #[error("the CRL is not issued and signed by member {member}'s CA: {reason}")]
    CrlWrongIssuer { member: PartyCode, reason: String },
    #[error("the CRL's thisUpdate ({given_ms}) is older than the current CRL's ({current_ms})")]
    CrlOutdated { current_ms: u64, given_ms: u64 },
    #[error("the CRL's thisUpdate ({this_update_ms}) is after the block time ({time_ms})")]
    CrlNotYetValid { this_update_ms: u64, time_ms: u64 },
    #[error("raft id {raft_id} or node id {node_id} is already (or was) a node of the network")]
    NodeAlreadyExists { raft_id: u64, node_id: String },
    #[error("node {raft_id} is not a node of the network")]
    UnknownNode { raft_id: u64 },
    #[error("node {raft_id} is not a learner: only a learner is promoted")]
    NotALearner { raft_id: u64 },
    #[error("node {raft_id} belongs to member {owner}; member {member} changes only its own nodes")]
    NodeOfAnotherMember {
        raft_id: u64,
        owner: PartyCode,
        member: PartyCode,
    },
    #[error(
        "removing voter {raft_id} would leave {remaining} voters; at least {min} must remain so that one failed node does not stop the ledger"
    )]
    LastVoter {
        raft_id: u64,
        remaining: usize,
        min: usize,
    },
    #[error("the node is not acceptable: {0}")]
    InvalidNode(String),
    #[error("the network already has {max} nodes")]
    TooManyNodes { max: usize },
    #[error("document actions are paused by a consortium vote; governance goes on")]
    NetworkPaused,
    #[error("the proposal is not valid: {0}")]
    InvalidProposal(String),
    #[error(
        "the proposal was written against configuration version {given}; the configuration is at version {current}"
    )]
    StaleConfigVersion { given: u64, current: u64 },
    #[error("member {member} already has {max} open proposals")]
    TooManyOpenProposals { member: PartyCode, max: usize },
    #[error("no proposal {id} on this network")]
    UnknownProposal { id: Hash32 },
    #[error("proposal {id} is {}, not open", state.code())]
    ProposalNotOpen {
        id: Hash32,
        state: crate::consortium::ProposalState,
    },
    #[error(
        "member {member} is not eligible to vote on proposal {id} (removed, or the member it removes)"
    )]
    NotEligibleToVote { member: PartyCode, id: Hash32 },
    #[error("proposal {id} is {proposer}'s; only its proposer withdraws it")]
    NotTheProposer { id: Hash32, proposer: PartyCode },
    #[error("the CA certificate change is not acceptable: {0}")]
    InvalidMemberCa(String),
    /// A bill crossing platforms (DCSA PINT): `code` names the rule (`HELD_ON_OTHER_PLATFORM`,
    /// `PINT_UNKNOWN_PLATFORM`, or the `PINT_...` rule of an envelope's check).
    #[error("{reason}")]
    Pint { code: &'static str, reason: String },
}

impl TxRefusal {
    /// The stable SCREAMING_SNAKE code recorded in the block.
    pub fn code(&self) -> &'static str {
        match self {
            TxRefusal::Duplicate { .. } => DUPLICATE,
            TxRefusal::EnvelopeEmpty => "ENVELOPE_EMPTY",
            TxRefusal::EnvelopeTooLarge { .. } => "ENVELOPE_TOO_LARGE",
            TxRefusal::MalformedEnvelope(_) => "MALFORMED_ENVELOPE",
            TxRefusal::BadSignature(_) => "BAD_SIGNATURE",
            TxRefusal::UnknownIssuer(_) => "UNKNOWN_ISSUER",
            TxRefusal::CertificateExpired(_) => "CERTIFICATE_EXPIRED",
            TxRefusal::CertificateNotYetValid(_) => "CERTIFICATE_NOT_YET_VALID",
            TxRefusal::CertificateRevoked(_) => "CERTIFICATE_REVOKED",
            TxRefusal::CertificateInvalid(_) => "CERTIFICATE_INVALID",
            TxRefusal::MalformedTransaction(_) => "MALFORMED_TRANSACTION",
            TxRefusal::WrongCertificateKind { .. } => "WRONG_CERTIFICATE_KIND",
            TxRefusal::UnknownParty { .. } => "UNKNOWN_PARTY",
            TxRefusal::PartyNotSponsored { .. } => "PARTY_NOT_SPONSORED",
            TxRefusal::WrongNetwork { .. } => "WRONG_NETWORK",
            TxRefusal::MalformedNonce => "MALFORMED_NONCE",
            TxRefusal::InvalidWindow { .. } => "INVALID_WINDOW",
            TxRefusal::WindowTooLong { .. } => "WINDOW_TOO_LONG",
            TxRefusal::NotYetValid { .. } => "TRANSACTION_NOT_YET_VALID",
            TxRefusal::Expired { .. } => "TRANSACTION_EXPIRED",
            TxRefusal::NonceReused { .. } => "NONCE_REUSED",
            TxRefusal::Workflow(r) => r.code(),
            TxRefusal::ObserverCannotSponsor { .. } => "OBSERVER_CANNOT_SPONSOR",
            TxRefusal::PartyAlreadyExists { .. } => "PARTY_ALREADY_EXISTS",
            TxRefusal::InvalidPartyName { .. } => "INVALID_PARTY_NAME",
            TxRefusal::CrlInvalid(_) => "CRL_INVALID",
            TxRefusal::CrlWrongIssuer { .. } => "CRL_WRONG_ISSUER",
            TxRefusal::CrlOutdated { .. } => "CRL_OUTDATED",
            TxRefusal::CrlNotYetValid { .. } => "CRL_NOT_YET_VALID",
            TxRefusal::NodeAlreadyExists { .. } => "NODE_ALREADY_EXISTS",
            TxRefusal::UnknownNode { .. } => "UNKNOWN_NODE",
            TxRefusal::NotALearner { .. } => "NOT_A_LEARNER",
            TxRefusal::NodeOfAnotherMember { .. } => "NODE_OF_ANOTHER_MEMBER",
            TxRefusal::LastVoter { .. } => "LAST_VOTER",
            TxRefusal::InvalidNode(_) => "INVALID_NODE",
            TxRefusal::TooManyNodes { .. } => "TOO_MANY_NODES",
            TxRefusal::NetworkPaused => "NETWORK_PAUSED",
            TxRefusal::InvalidProposal(_) => "INVALID_PROPOSAL",
            TxRefusal::StaleConfigVersion { .. } => "STALE_CONFIG_VERSION",
            TxRefusal::TooManyOpenProposals { .. } => "TOO_MANY_OPEN_PROPOSALS",
            TxRefusal::UnknownProposal { .. } => "UNKNOWN_PROPOSAL",
            TxRefusal::ProposalNotOpen { state, .. } => match state {
                crate::consortium::ProposalState::Expired => "PROPOSAL_EXPIRED",
                crate::consortium::ProposalState::Superseded => "PROPOSAL_SUPERSEDED",
                crate::consortium::ProposalState::Withdrawn => "PROPOSAL_WITHDRAWN",
                _ => "PROPOSAL_CLOSED",
            },
            TxRefusal::NotEligibleToVote { .. } => "NOT_ELIGIBLE_TO_VOTE",
            TxRefusal::NotTheProposer { .. } => "NOT_THE_PROPOSER",
            TxRefusal::InvalidMemberCa(_) => "INVALID_MEMBER_CA",
            TxRefusal::Pint { code, .. } => code,
        }
    }

    /// The outcome recorded in the block.
    pub fn into_outcome(self) -> Outcome {
        let original = match &self {
            TxRefusal::Duplicate { original } => Some(*original),
            _ => None,
        };
        Outcome::Refused {
            code: self.code().to_owned(),
            message: self.to_string(),
            original,
        }
    }
}

/// A transaction that passed every check up to the replay check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub tx: Transaction,
    pub signer: Signatory,
    /// The party the signer acts for (the certificate's party), as the network knows it.
    pub party: PartyRecord,
    /// The envelope as text (JWS compact is ASCII), kept in the document history.
    pub jws: String,
    /// The certificates of the signer's `x5c` after its leaf, as the envelope carried them:
    /// where `UPDATE_REVOCATIONS` finds a member's issuing intermediate, the signer of its
    /// users' revocation list. Taken from the parse these checks verified, so that nothing
    /// after them parses the envelope again.
    pub presented_cas: Vec<pki::CertificateDer<'static>>,
}

/// Who a certificate may act for: the party it names (`signer_party`), if that party is on the
/// network (`parties`, as of the block or the state asked) and its sponsor is the member whose
/// CA issued the certificate (`signer_member`), so that a bank's CA cannot act for CARRIER.
///
/// The one rule for every use of a certificate: step 7 of [`check`] for transactions, and the
/// API for the reads, writes and subscriptions of a client certificate (a node certificate
/// names its member's own party).
pub fn acting_party<'p>(
    parties: &'p BTreeMap<PartyCode, PartyRecord>,
    signer_party: &PartyCode,
    signer_member: &PartyCode,
) -> Result<&'p PartyRecord, TxRefusal> {
    let party = parties
        .get(signer_party)
        .ok_or_else(|| TxRefusal::UnknownParty {
            party: signer_party.clone(),
        })?;
    if party.sponsor != *signer_member {
        return Err(TxRefusal::PartyNotSponsored {
            party: party.code.clone(),
            member: signer_member.clone(),
            sponsor: party.sponsor.clone(),
        });
    }
    Ok(party)
}

/// Steps 3 to 9 of the module docs (step 2 is [`Envelope::parse`]): everything that depends on the envelope, the
/// configuration and the block time, but not on the nonce store or the documents.
pub(crate) fn check(
    jws: &str,
    parsed: pki::jws::ParsedJws,
    signature: SignatureCheck<'_>,
    trust: &Trust,
    parties: &BTreeMap<PartyCode, PartyRecord>,
    network_id: &str,
    time_ms: u64,
) -> Result<Checked, TxRefusal> {
    // `verify` consumes the parse; the CA certificates are kept for a CRL update to name its
    // issuer by (a user's chain holds one or two: a small copy beside a signature check).
    let presented_cas = parsed.chain.iter().skip(1).cloned().collect();
    let (signer, payload) = trust.verify(parsed, signature, time_ms)?;
    let tx = Transaction::from_payload(&payload)
        .map_err(|e| TxRefusal::MalformedTransaction(e.to_string()))?;

    match (&tx.body, signer.kind) {
        (TxBody::Document { .. }, IdentityKind::User | IdentityKind::Admin) => {}
        (TxBody::Governance(_), IdentityKind::Admin) => {}
        (TxBody::Pint(Pint::Send { .. }), IdentityKind::User | IdentityKind::Admin) => {}
        (TxBody::Pint(Pint::Send { .. }), kind) => {
            return Err(TxRefusal::WrongCertificateKind {
                kind,
                required: "a user or admin certificate",
            });
        }
        (TxBody::Pint(_), IdentityKind::Node) => {}
        (TxBody::Pint(_), kind) => {
            return Err(TxRefusal::WrongCertificateKind {
                kind,
                required: "a node certificate",
            });
        }
        (TxBody::Document { .. }, kind) => {
            return Err(TxRefusal::WrongCertificateKind {
                kind,
                required: "a user or admin certificate",
            });
        }
        (TxBody::Governance(_), kind) => {
            return Err(TxRefusal::WrongCertificateKind {
                kind,
                required: "an admin certificate",
            });
        }
    }

    let party = acting_party(parties, &signer.party, &signer.member)?;
    // Governance acts for the admin's member: the admin must act for the member's own party.
    if matches!(tx.body, TxBody::Governance(_)) && party.code != signer.member {
        return Err(TxRefusal::WrongCertificateKind {
            kind: signer.kind,
            required: "an admin certificate of the member's own party",
        });
    }

    if tx.network != network_id {
        return Err(TxRefusal::WrongNetwork {
            got: tx.network.clone(),
            expected: network_id.to_owned(),
        });
    }
    if !nonce_is_well_formed(&tx.nonce) {
        return Err(TxRefusal::MalformedNonce);
    }
    if tx.not_after_ms < tx.not_before_ms {
        return Err(TxRefusal::InvalidWindow {
            not_before_ms: tx.not_before_ms,
            not_after_ms: tx.not_after_ms,
        });
    }
    let window_ms = tx.not_after_ms - tx.not_before_ms;
    if window_ms > VALIDITY_WINDOW_MS_MAX {
        return Err(TxRefusal::WindowTooLong {
            window_ms,
            max_ms: VALIDITY_WINDOW_MS_MAX,
        });
    }
    if time_ms < tx.not_before_ms {
        return Err(TxRefusal::NotYetValid {
            not_before_ms: tx.not_before_ms,
            time_ms,
        });
    }
    if time_ms > tx.not_after_ms {
        return Err(TxRefusal::Expired {
            not_after_ms: tx.not_after_ms,
            time_ms,
        });
    }
    Ok(Checked {
        tx,
        signer,
        party: party.clone(),
        jws: jws.to_owned(),
        presented_cas,
    })
}

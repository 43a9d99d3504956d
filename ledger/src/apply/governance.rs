//! A governance transaction, signed by a member's admin: `ONBOARD_PARTY`,
//! `UPDATE_REVOCATIONS`, and membership (`ADD_NODE` as a learner, `PROMOTE_NODE`,
//! `REMOVE_NODE`, each only for a node of the signing admin's member). Each changes the
//! block's copy of the configuration (parties, CRLs and the trust store built from them, nodes)
//! and writes the record it changed into the block's [`Work`].
//!
//! What this module is not: it does not change Raft's configuration. The node set it records is
//! the membership the ledger prescribes; the replication core acts on it after the block
//! commits.

use std::sync::Arc;

use doc_workflow::{DocumentKey, PartyCode, Role};

use super::{TxContext, Work, proposals};
use crate::genesis::{MemberRole, NODES_MAX};
use crate::records::{CrlRecord, NodeRecord, NodeRole, PartyRecord, encode};
use crate::state::{Gov, Rules};
use crate::tx::{Governance, PARTY_NAME_CHARS_MAX};
use crate::validate::{Checked, IdentityKind, Trust, TxRefusal};
use crate::{ChainError, keys};

/// Fewest voters a `REMOVE_NODE` may leave: with 3 voters one node can fail and the ledger
/// still commits (a quorum of 2). A network that has fewer (a dev network of 1 or 2) cannot
/// shrink at all; a removed voter is replaced by adding and promoting a node first. This also
/// keeps removals from ever reaching 0 voters, which no Raft cluster survives.
pub const VOTERS_MIN: usize = 3;

impl Rules {
    pub(super) fn apply_governance(
        &self,
        work: &mut Work<'_>,
        ctx: TxContext,
        checked: &Checked,
        command: &Governance,
    ) -> Result<Result<Vec<DocumentKey>, TxRefusal>, ChainError> {
        debug_assert_eq!(checked.signer.kind, IdentityKind::Admin);
        let member_code = checked.signer.member.clone();
        let member = work
            .gov()
            .members
            .get(&member_code)
            .cloned()
            .expect("validated: the signer's chain reaches an active member's CA");
        match command {
            Governance::Propose {
                actions,
                description,
                base_config_version,
                expires_at,
            } => {
                return proposals::propose(
                    work,
                    ctx,
                    &member_code,
                    actions,
                    description,
                    *base_config_version,
                    *expires_at,
                );
            }
            Governance::Vote { proposal, approve } => {
                return proposals::vote(work, ctx, &member_code, proposal, *approve);
            }
            Governance::Withdraw { proposal } => {
                return proposals::withdraw(work, ctx, &member_code, proposal);
            }
            Governance::AddCa { ca_certificate_pem } => {
                return proposals::add_ca(work, ctx, &member_code, ca_certificate_pem);
            }
            Governance::RetireCa { fingerprint } => {
                return proposals::retire_ca(work, ctx, &member_code, fingerprint);
            }
            Governance::OnboardParty { code, name } => {
                if member.role == MemberRole::Observer {
                    return Ok(Err(TxRefusal::ObserverCannotSponsor {
                        member: member_code,
                    }));
                }
                if super::pint::is_foreign_code(code.as_str()) {
                    return Ok(Err(TxRefusal::Pint {
                        code: "RESERVED_PARTY_CODE",
                        reason: format!(
                            "{code} has the form PLATFORM:code, which names a party of another eBL platform"
                        ),
                    }));
                }
                if work.gov().parties.contains_key(code) {
                    return Ok(Err(TxRefusal::PartyAlreadyExists {
                        party: code.clone(),
                    }));
                }
                let chars = name.chars().count();
                if chars == 0 || chars > PARTY_NAME_CHARS_MAX || name.trim() != name {
                    return Ok(Err(TxRefusal::InvalidPartyName {
                        chars,
                        max: PARTY_NAME_CHARS_MAX,
                    }));
                }
                let record = PartyRecord {
                    code: code.clone(),
                    name: name.clone(),
                    sponsor: member_code,
                    role: Role::Trader,
                    since_height: ctx.location.height,
                };
                work.put(keys::party(code), encode(&record));
                work.gov_mut().parties.insert(code.clone(), record);
            }
            Governance::UpdateRevocations { crl } => {
                let current = work.gov().crls.get(&member_code).map(|c| c.this_update_ms);
                // The admin's x5c after its leaf, as validation parsed and verified it: where a
                // member's issuing intermediate, the signer of its users' revocation list, is
                // found.
                let presented: Vec<&[u8]> =
                    checked.presented_cas.iter().map(|c| c.as_ref()).collect();
                let info = match work.gov().trust.check_crl_update(
                    &member_code,
                    crl,
                    &presented,
                    current,
                    ctx.time_ms,
                ) {
                    Ok(info) => info,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let record = CrlRecord {
                    member: member_code.clone(),
                    der_base64: crl.clone(),
                    this_update_ms: info.this_update_ms,
                    since_height: ctx.location.height,
                };
                work.put(keys::crl(&member_code), encode(&record));
                let gov = work.gov_mut();
                gov.crls.insert(member_code, record);
                let trust = Trust::new(&gov.members, &gov.crls).map_err(ChainError::Trust)?;
                gov.trust = Arc::new(trust);
            }
            Governance::AddNode {
                raft_id,
                node_id,
                address,
            } => {
                if *raft_id == 0 {
                    return Ok(Err(TxRefusal::InvalidNode(
                        "raft id 0 is reserved by Raft".into(),
                    )));
                }
                if let Err(e) = pki::NodeId::new(node_id.as_str()) {
                    return Ok(Err(TxRefusal::InvalidNode(e)));
                }
                if let Err(why) = replication::transport::split_host_port(address) {
                    return Ok(Err(TxRefusal::InvalidNode(format!(
                        "address {address:?} is not a host:port: {why}"
                    ))));
                }
                let nodes = &work.gov().nodes;
                if nodes.contains_key(raft_id)
                    || nodes
                        .values()
                        .any(|n| n.node_id.as_deref() == Some(node_id.as_str()))
                {
                    return Ok(Err(TxRefusal::NodeAlreadyExists {
                        raft_id: *raft_id,
                        node_id: node_id.clone(),
                    }));
                }
                let current = nodes
                    .values()
                    .filter(|n| n.role != NodeRole::Removed)
                    .count();
                if current >= NODES_MAX {
                    return Ok(Err(TxRefusal::TooManyNodes { max: NODES_MAX }));
                }
                let record = NodeRecord {
                    raft_id: *raft_id,
                    node_id: Some(node_id.clone()),
                    address: address.clone(),
                    member: member_code,
                    role: NodeRole::Learner,
                    since_height: ctx.location.height,
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
            Governance::PromoteNode { raft_id } => {
                let record = match own_node(work.gov(), *raft_id, &member_code) {
                    Ok(r) => r,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if record.role != NodeRole::Learner {
                    return Ok(Err(TxRefusal::NotALearner { raft_id: *raft_id }));
                }
                let record = NodeRecord {
                    role: NodeRole::Voter,
                    since_height: ctx.location.height,
                    ..record
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
            Governance::RemoveNode { raft_id } => {
                let record = match own_node(work.gov(), *raft_id, &member_code) {
                    Ok(r) => r,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if record.role == NodeRole::Voter {
                    let voters = work
                        .gov()
                        .nodes
                        .values()
                        .filter(|n| n.role == NodeRole::Voter)
                        .count();
                    let min = VOTERS_MIN.min(voters);
                    if voters - 1 < min {
                        return Ok(Err(TxRefusal::LastVoter {
                            raft_id: *raft_id,
                            remaining: voters - 1,
                            min,
                        }));
                    }
                }
                let record = NodeRecord {
                    role: NodeRole::Removed,
                    since_height: ctx.location.height,
                    ..record
                };
                work.put(keys::node(*raft_id), encode(&record));
                work.gov_mut().nodes.insert(*raft_id, record);
            }
        }
        Ok(Ok(Vec::new()))
    }
}

/// The node `raft_id`, if it is a current (not removed) node of `member`.
fn own_node(gov: &Gov, raft_id: u64, member: &PartyCode) -> Result<NodeRecord, TxRefusal> {
    let record = match gov.nodes.get(&raft_id) {
        Some(r) if r.role != NodeRole::Removed => r,
        _ => return Err(TxRefusal::UnknownNode { raft_id }),
    };
    if &record.member != member {
        return Err(TxRefusal::NodeOfAnotherMember {
            raft_id,
            owner: record.member.clone(),
            member: member.clone(),
        });
    }
    Ok(record.clone())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use pki::dev::{ConsortiumSpec, generate_consortium};
    use pki::identity::IdentityKind as Kind;
    use serde_json::json;

    use super::*;
    use crate::block::TxLocation;
    use crate::signatures::SignatureCheck;
    use crate::tx::TxBody;
    use crate::validate::{self, Envelope};
    use crate::{Genesis, LedgerState};

    /// When the consortium's certificates start being valid (2026-01-01T00:00:00Z).
    const T0_S: i64 = 1_767_225_600;
    const NETWORK: &str = "silkline-test";
    const HOUR_MS: u64 = 3_600_000;

    /// `UPDATE_REVOCATIONS` by a member that issues from an intermediate finds the list's
    /// issuer among the CA certificates validation parsed and verified, not by parsing the
    /// envelope's text again: with that text gone, the update still applies. (Before, a parse
    /// that failed here became an empty chain, and the list was refused `CRL_WRONG_ISSUER`.)
    #[test]
    fn a_crl_update_names_its_issuer_from_what_validation_parsed() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut spec = ConsortiumSpec::dev(3);
        spec.members
            .iter_mut()
            .find(|m| m.code.as_str() == "CARRIER")
            .expect("CARRIER")
            .intermediate = true;
        let mut consortium = generate_consortium(&spec, &dir.path().join("pki"), T0_S)?;
        let nodes = consortium
            .manifest()
            .identities
            .iter()
            .filter(|i| i.kind == Kind::Node)
            .count();
        let addresses: Vec<String> = (0..nodes)
            .map(|n| format!("127.0.0.1:{}", 7101 + n))
            .collect();
        let genesis_ms = (T0_S as u64 + 60) * 1000;
        let genesis = Genesis::of_dev_consortium(&consortium, NETWORK, &addresses, genesis_ms)?;
        let state = LedgerState::open(dir.path().join("state"), &genesis)?;

        let t = genesis_ms + 10_000;
        let crl = consortium.revoke("shipper", (t / 1000) as i64)?;
        let payload = json!({
            "network": NETWORK,
            "nonce": format!("{:032x}", 1),
            "notBefore": t - HOUR_MS,
            "notAfter": t + HOUR_MS,
            "governance": {"action": "UPDATE_REVOCATIONS", "crl": STANDARD.encode(&crl)},
        });
        let envelope = pki::jws::sign(&payload, &consortium.signer("carrier-admin")?)?;
        let Envelope { tx_hash, parsed } = Envelope::parse(envelope.as_bytes());
        let (jws, parsed) = parsed?;
        let gov = &state.gov;
        let mut checked = validate::check(
            jws,
            parsed,
            SignatureCheck::Apply,
            &gov.trust,
            &gov.parties,
            NETWORK,
            t,
        )?;
        assert!(
            !checked.presented_cas.is_empty(),
            "CARRIER's admin presents its intermediate"
        );
        checked.jws = String::new();
        let TxBody::Governance(command) = checked.tx.body.clone() else {
            panic!("a governance transaction: {:?}", checked.tx.body);
        };

        let mut work = Work::new(&state.tree, gov);
        let ctx = TxContext {
            tx_hash,
            time_ms: t,
            location: TxLocation {
                height: 1,
                position: 0,
            },
        };
        let result = state
            .rules
            .apply_governance(&mut work, ctx, &checked, &command)?;
        assert_eq!(result, Ok(Vec::new()));
        let carrier = PartyCode::new("CARRIER").unwrap();
        assert_eq!(
            work.gov().crls.get(&carrier).map(|c| c.since_height),
            Some(1)
        );
        Ok(())
    }
}

//! The query root: reads of documents, blocks, transactions, the network and this node.

use std::sync::Arc;

use async_graphql::{Context, Json, Object};
use doc_workflow::{RightStatus, Status};
use ledger::Outcome;
use ledger::client::Submitted;
use ledger::state::PAGE_SIZE_MAX;

use super::block::BlockOut;
use super::consortium::{ConsortiumOut, ProposalOut};
use super::document::{Document, DocumentPage, Verification, key_of, visible_document};
use super::input::{
    Consistency, DocumentClassArg, linearize, parse_container, parse_cursor, parse_key, parse_party,
};
use super::network::{Member, Network, NodeInfo, Party, network_node, role_code};
use super::outcome::SubmitResult;
use super::release::{ContainerRelease, ReleasePage, gate_check, visible_rights};
use super::{RECENT_BLOCKS_MAX, api, caller, code_of, gate_time};
use crate::cost::{budget, list_cost};
use crate::error::{BAD_REQUEST, FORBIDDEN, api_error, internal, not_found};

/// Reads.
pub struct Query;

#[Object]
impl Query {
    /// One document with its full history. A document the caller is not party to is answered
    /// exactly like one that does not exist (`NOT_FOUND`).
    async fn document(
        &self,
        ctx: &Context<'_>,
        carrier_code: String,
        reference: String,
        #[graphql(default_with = "DocumentClassArg::TransportDocument")] class: DocumentClassArg,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<Document> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        let key = parse_key(class, &carrier_code, &reference)?;
        linearize(api, consistency).await?;
        match visible_document(api.reader(), caller, &key)? {
            Some(state) => Ok(Document { state }),
            None => Err(not_found(&format!("document {key}"))),
        }
    }

    /// Documents the caller's party is or was party to, optionally in one status, in key order.
    /// Observers may list any party's documents (`party`), or all documents in a `status`.
    /// `after` is the `nextCursor` of the previous page; anything else is refused
    /// (`BAD_REQUEST`).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn documents(
        &self,
        ctx: &Context<'_>,
        party: Option<String>,
        status: Option<String>,
        after: Option<String>,
        #[graphql(default = 20)] first: usize,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<DocumentPage> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        if first == 0 || first > PAGE_SIZE_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("first must be between 1 and {PAGE_SIZE_MAX}"),
            ));
        }
        let status = match status {
            Some(code) => Some(Status::from_code(&code).ok_or_else(|| {
                api_error(BAD_REQUEST, format!("status: unknown status `{code}`"))
            })?),
            None => None,
        };
        let party = match party {
            Some(p) => Some(parse_party("party", &p)?),
            None => None,
        };
        let after = after.as_deref().map(parse_cursor).transpose()?;
        if let Some(p) = &party
            && *p != caller.party
            && !caller.observer
        {
            return Err(api_error(
                FORBIDDEN,
                "only observers may list another party's documents",
            ));
        }
        linearize(api, consistency).await?;
        let reader = api.reader();
        let page = match (party, status) {
            (Some(p), s) => reader.documents_by_party(&p, s, after, first),
            (None, Some(s)) if caller.observer => reader.documents_by_status(s, after, first),
            (None, s) => reader.documents_by_party(&caller.party, s, after, first),
        }
        .map_err(internal)?;
        Ok(DocumentPage {
            documents: page
                .documents
                .into_iter()
                .map(|state| Document { state })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The gate check: may `haulier` (default: the haulier the right names, or its holder) with
    /// truck `truck` collect `container` now? For the terminal, the holder, the nominated
    /// haulier, the carrier and observers; anyone else, and a container no release names, gets
    /// `mayCollect: false`, `reason: NOT_RELEASED` and nothing more. A malformed number is
    /// refused (`BAD_REQUEST`).
    async fn container_release(
        &self,
        ctx: &Context<'_>,
        container: String,
        haulier: Option<String>,
        truck: Option<String>,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<ContainerRelease> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        let number = parse_container(&container)?;
        let haulier = haulier.map(|h| parse_party("haulier", &h)).transpose()?;
        linearize(api, consistency).await?;
        let reader = api.reader();
        gate_check(
            reader,
            caller,
            &number,
            haulier.as_ref(),
            truck.as_deref(),
            gate_time(reader),
        )
    }

    /// The release rights the caller may see (its terminal's, those it holds or is nominated
    /// for; observers all), optionally only those in `status` (`RELEASED`, `COLLECTED`,
    /// `REVOKED`). A page reads `first` of the caller's cargo releases, so it may hold more or
    /// fewer rights than `first`; `after` is the previous page's `nextCursor` (null: done).
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn releases(
        &self,
        ctx: &Context<'_>,
        status: Option<String>,
        after: Option<String>,
        #[graphql(default = 20)] first: usize,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<ReleasePage> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        if first == 0 || first > PAGE_SIZE_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("first must be between 1 and {PAGE_SIZE_MAX}"),
            ));
        }
        let status = match status {
            Some(code) => Some(RightStatus::from_code(&code).ok_or_else(|| {
                api_error(
                    BAD_REQUEST,
                    format!("status: `{code}` is not RELEASED, COLLECTED or REVOKED"),
                )
            })?),
            None => None,
        };
        // Cargo releases are RELEASED until their last container leaves, then COMPLETED, when
        // every right is COLLECTED: rights in any other status are all in RELEASED documents.
        // The cursor names the document status it pages through (`RELEASED:` or `COMPLETED:`,
        // then the document key), so one listing can walk both.
        let phases: &[Status] = match status {
            Some(RightStatus::Released | RightStatus::Revoked) => &[Status::Released],
            _ => &[Status::Released, Status::Completed],
        };
        let (phase, after) = match after.as_deref() {
            None => (0, None),
            Some(cursor) => {
                let refused = || api_error(BAD_REQUEST, "after: not a cursor this listing issued");
                let (doc_status, key) = cursor.split_once(':').ok_or_else(refused)?;
                let phase = phases
                    .iter()
                    .position(|s| s.code() == doc_status)
                    .ok_or_else(refused)?;
                let key = if key.is_empty() {
                    None
                } else {
                    Some(parse_cursor(key)?)
                };
                (phase, key)
            }
        };
        linearize(api, consistency).await?;
        let reader = api.reader();
        let at = gate_time(reader);
        let doc_status = phases[phase];
        let page = if caller.observer {
            reader.documents_by_status(doc_status, after, first)
        } else {
            reader.documents_by_party(&caller.party, Some(doc_status), after, first)
        }
        .map_err(internal)?;
        let mut releases = Vec::new();
        for state in &page.documents {
            releases.extend(visible_rights(caller, state, status, at));
        }
        let next_cursor = match (page.next_cursor, phases.get(phase + 1)) {
            (Some(key), _) => Some(format!("{}:{key}", doc_status.code())),
            (None, Some(next)) => Some(format!("{}:", next.code())),
            (None, None) => None,
        };
        Ok(ReleasePage {
            releases,
            next_cursor,
        })
    }

    /// The block at `height` (1 is the first after genesis).
    async fn block(&self, ctx: &Context<'_>, height: u64) -> async_graphql::Result<BlockOut> {
        caller(ctx)?;
        match api(ctx).reader().block(height).map_err(internal)? {
            Some(block) => Ok(BlockOut {
                block: Arc::new(block),
            }),
            None => Err(not_found(&format!("block {height}"))),
        }
    }

    /// The most recent blocks, newest first.
    #[graphql(
        complexity = "list_cost(usize::try_from(last).unwrap_or(usize::MAX), child_complexity)"
    )]
    async fn blocks(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] last: u64,
    ) -> async_graphql::Result<Vec<BlockOut>> {
        caller(ctx)?;
        if last == 0 || last > RECENT_BLOCKS_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("last must be between 1 and {RECENT_BLOCKS_MAX}"),
            ));
        }
        let reader = api(ctx).reader();
        let tip = reader.tip().height;
        let mut out = Vec::new();
        for height in (tip.saturating_sub(last - 1).max(1)..=tip).rev() {
            if let Some(block) = reader.block(height).map_err(internal)? {
                out.push(BlockOut {
                    block: Arc::new(block),
                });
            }
        }
        Ok(out)
    }

    /// The recorded outcome of a transaction, by hash, if it touched a document the caller
    /// may see (observers: any).
    async fn transaction(
        &self,
        ctx: &Context<'_>,
        tx_hash: String,
    ) -> async_graphql::Result<SubmitResult> {
        let caller = caller(ctx)?;
        let reader = api(ctx).reader();
        let hash = ledger::Hash32::from_hex(&tx_hash)
            .map_err(|_| api_error(BAD_REQUEST, "txHash: 64 lowercase hex characters"))?;
        let Some(record) = reader.transaction(&hash).map_err(internal)? else {
            return Err(not_found(&format!("transaction {tx_hash}")));
        };
        let visible = caller.observer
            || match &record.outcome {
                Outcome::Committed { documents } => {
                    let mut any = false;
                    for key in documents {
                        if caller.may_read(&reader.parties_ever(key).map_err(internal)?) {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                Outcome::Refused { .. } => false,
            };
        if !visible {
            return Err(not_found(&format!("transaction {tx_hash}")));
        }
        Ok(SubmitResult::from(Submitted {
            tx_hash: hash,
            location: Some(record.location),
            time_ms: Some(record.time_ms),
            outcome: record.outcome,
        }))
    }

    /// Whether the ledger holds exactly this content: pass the DCSA transport document's JSON
    /// (`document`) or its SHA-256 over RFC 8785 canonical JSON (`checksum`), not both.
    // Its `documents` are priced as one: one content is one document in practice, and no
    // argument says how many match. Their PDFs and large values are bounded at run time by the
    // request's budget instead (`crate::cost::RequestBudget`).
    async fn verify_document(
        &self,
        ctx: &Context<'_>,
        document: Option<Json<serde_json::Value>>,
        checksum: Option<String>,
        #[graphql(default)] consistency: Consistency,
    ) -> async_graphql::Result<Verification> {
        let caller = caller(ctx)?;
        let api = api(ctx);
        let checksum = match (document, checksum) {
            (Some(Json(doc)), None) => adapters::dcsa::checksum(&doc),
            (None, Some(sum)) => {
                let sum = sum.to_ascii_lowercase();
                if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(api_error(
                        BAD_REQUEST,
                        "checksum: 64 hex characters (SHA-256)",
                    ));
                }
                sum
            }
            _ => {
                return Err(api_error(
                    BAD_REQUEST,
                    "pass exactly one of `document` and `checksum`",
                ));
            }
        };
        linearize(api, consistency).await?;
        let reader = api.reader();
        let mut documents = Vec::new();
        for state in reader.documents_by_checksum(&checksum).map_err(internal)? {
            let parties = reader.parties_ever(&key_of(&state)).map_err(internal)?;
            if caller.may_read(&parties) {
                documents.push(Document { state });
            }
        }
        Ok(Verification {
            matches: !documents.is_empty(),
            checksum,
            documents,
        })
    }

    /// The network: members, parties, nodes, the leader, and the nodes' heights as far as this
    /// node knows them (its own always; the others' only while it leads, from its Raft
    /// progress; `NetworkNode.heightSource` says which).
    async fn network(&self, ctx: &Context<'_>) -> async_graphql::Result<Network> {
        caller(ctx)?;
        let api = api(ctx);
        let reader = api.reader();
        let genesis = reader.genesis();
        let status = api.client.status();
        let tip = reader.tip();
        let parties: Vec<Party> = reader
            .parties()
            .into_iter()
            .map(|p| Party {
                code: p.code.as_str().to_owned(),
                name: p.name,
                sponsor: p.sponsor.as_str().to_owned(),
                role: code_of(&p.role),
            })
            .collect();
        // No argument bounds this list (every party ever onboarded): what it weighs counts
        // against the answer's size as soon as it is read.
        budget(ctx)?.charge(
            parties
                .iter()
                .map(Party::json_bytes)
                .fold(0, usize::saturating_add),
        )?;
        Ok(Network {
            id: genesis.network_id.clone(),
            genesis_hash: reader.genesis_hash().to_string(),
            members: reader
                .members()
                .into_iter()
                .filter(|m| m.is_active())
                .map(|m| Member {
                    code: m.code.as_str().to_owned(),
                    name: m.name,
                    role: code_of(&m.role),
                })
                .collect(),
            parties,
            nodes: reader
                .nodes()
                .iter()
                .map(|n| network_node(reader, &status, tip.height, n))
                .collect::<async_graphql::Result<Vec<_>>>()?,
            leader_raft_id: status.leader_id,
            height: tip.height,
            commit_index: status.commit_index,
        })
    }

    /// The current revocation list of `member` (default: the caller's own member) as this
    /// node has applied it: an X.509 CRL, DER, standard base64; null if the member has
    /// published none. A member's next list must keep its entries (`silkline tx revoke`
    /// builds it from this one).
    async fn revocation_list(
        &self,
        ctx: &Context<'_>,
        member: Option<String>,
    ) -> async_graphql::Result<Option<String>> {
        use base64::Engine as _;
        let caller = caller(ctx)?;
        let code = member.unwrap_or_else(|| caller.member.as_str().to_owned());
        let code = pki::MemberCode::new(code)
            .map_err(|e| api_error(BAD_REQUEST, format!("member: {e}")))?;
        let store = api(ctx).reader().trust_store();
        let lists = store
            .revocations(&code)
            .ok_or_else(|| not_found(&format!("member {code}")))?;
        Ok(lists
            .first()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der)))
    }

    /// The consortium's configuration as this node has applied it: its version, whether
    /// document actions are paused, the parameters, every member with its CAs, the workflow
    /// versions.
    async fn consortium(&self, ctx: &Context<'_>) -> async_graphql::Result<ConsortiumOut> {
        caller(ctx)?;
        let reader = api(ctx).reader();
        Ok(ConsortiumOut::of(
            &reader.consortium(),
            reader.members(),
            reader.genesis().platform.clone(),
        ))
    }

    /// The newest workflow version's definitions, as a JSON array (what a workflow upgrade
    /// proposal starts from).
    async fn workflow_definitions(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        caller(ctx)?;
        let reader = api(ctx).reader();
        let consortium = reader.consortium();
        let definitions = match consortium.workflows.last() {
            Some(w) if !w.definitions.is_empty() => &w.definitions,
            _ => &reader.genesis().workflow_definitions,
        };
        serde_json::to_string(definitions).map_err(internal)
    }

    /// Proposals, newest first (at most 100), optionally only those in `state` (`OPEN`,
    /// `ACCEPTED`, `REJECTED`, `WITHDRAWN`, `EXPIRED`, `SUPERSEDED`).
    async fn proposals(
        &self,
        ctx: &Context<'_>,
        state: Option<String>,
    ) -> async_graphql::Result<Vec<ProposalOut>> {
        caller(ctx)?;
        const STATES: [&str; 6] = [
            "OPEN",
            "ACCEPTED",
            "REJECTED",
            "WITHDRAWN",
            "EXPIRED",
            "SUPERSEDED",
        ];
        if let Some(s) = &state
            && !STATES.contains(&s.as_str())
        {
            return Err(api_error(
                BAD_REQUEST,
                format!("state: unknown proposal state `{s}`; one of {STATES:?}"),
            ));
        }
        let views = api(ctx).reader().proposals().map_err(internal)?;
        Ok(views
            .into_iter()
            .filter(|v| state.as_deref().is_none_or(|s| v.state.code() == s))
            .map(ProposalOut::from)
            .collect())
    }

    /// One proposal by its id (the hash of the transaction that made it).
    async fn proposal(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<ProposalOut> {
        caller(ctx)?;
        let hash = ledger::Hash32::from_hex(&id)
            .map_err(|_| api_error(BAD_REQUEST, "id: 64 hex characters"))?;
        match api(ctx).reader().proposal(&hash).map_err(internal)? {
            Some(view) => Ok(ProposalOut::from(view)),
            None => Err(not_found(&format!("proposal {id}"))),
        }
    }

    /// This node: its Raft role and progress, its chain tip.
    async fn node(&self, ctx: &Context<'_>) -> async_graphql::Result<NodeInfo> {
        caller(ctx)?;
        let api = api(ctx);
        let status = api.client.status();
        let tip = api.reader().tip();
        Ok(NodeInfo {
            id: api.node_id.clone(),
            raft_id: status.id,
            role: role_code(status.role).to_owned(),
            leader_raft_id: status.leader_id,
            term: status.term,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            height: tip.height,
            block_hash: tip.hash.to_string(),
            state_hash: tip.state_hash.to_string(),
            voter: status.voters.contains(&status.id),
            voters: status.voters,
            learners: status.learners,
        })
    }
}

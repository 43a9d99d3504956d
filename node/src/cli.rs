//! `silkline tx`, `silkline doc show|verify|container`, `silkline status`: the API from a shell, printing
//! JSON (through [`crate::out`], which a closed stdout does not make panic). `tx revoke` builds
//! the member's next revocation list from the ledger's current one (`pki::revocation`).

use std::path::{Path, PathBuf};

use adapters::dcsa;
use anyhow::{Context as _, bail};
use base64::Engine as _;
use doc_workflow::{
    ContainerNumber, ContentProblem, DocumentId, DocumentRef, PartyCode, ReleaseCondition, Stage,
};
use serde_json::{Value, json};

use crate::client::{ApiClient, Target, data};

/// The actions `silkline tx` takes, as a user names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TxAction {
    Draft,
    Approve,
    Issue,
    Transfer,
    Endorse,
    EndorseToOrder,
    BlankEndorse,
    Sign,
    Reject,
    SurrenderForDelivery,
    SurrenderForAmendment,
    AcceptSurrender,
    RejectSurrender,
    Void,
    /// Release every container of a delivered bill at the terminal `--to PORT`, to the party
    /// entitled to the cargo.
    ReleaseCargo,
    /// The carrier grants a release right per `--container` to `--to PARTY` at `--terminal
    /// PORT` (optionally `--valid-from T --valid-until T`, `--condition C` repeated).
    ReleaseContainer,
    /// The holder nominates `--haulier H` (optionally `--truck REF`,
    /// `--haulier-may-renominate`) for each `--container`.
    NominateHaulier,
    /// The nominated haulier, if allowed, names another `--truck REF`.
    NominateTruck,
    /// The carrier (any) or the terminal (CUSTOMS_CLEARED) marks `--condition C` met.
    MarkCondition,
    /// The carrier revokes unused rights, `--reason TEXT`.
    RevokeRelease,
    /// The terminal records containers leaving (optionally `--truck REF`, `--haulier H`).
    GateOut,
    /// Governance, by a member admin: add a node of the admin's member as a Raft learner.
    AddNode,
    /// Governance: make a learner of the admin's member a voter.
    PromoteNode,
    /// Governance: remove a node of the admin's member.
    RemoveNode,
    /// Governance, by a member admin: revoke certificates its member's CA issued
    /// (`--serial HEX`, `--certificate FILE`, either repeated). Publishes the member's next
    /// revocation list: the current one's entries kept, cRLNumber one past, signed with the
    /// CA's key (`--ca-key FILE`; found in the dev directory with `--network`).
    Revoke,
}

impl TxAction {
    /// Whether the action is a membership change (governance) rather than a document command.
    fn is_membership(self) -> bool {
        matches!(
            self,
            TxAction::AddNode | TxAction::PromoteNode | TxAction::RemoveNode
        )
    }
}

/// `silkline tx` arguments.
#[derive(Debug, clap::Args)]
pub struct TxArgs {
    #[command(flatten)]
    pub target: Target,
    /// What to do.
    #[arg(value_enum)]
    pub action: TxAction,
    /// The document: CARRIER/REFERENCE (for release-cargo, release-container, nominate-haulier,
    /// nominate-truck, mark-condition, revoke-release and gate-out, the bill's); none for
    /// add-node, promote-node, remove-node and revoke.
    #[arg(value_name = "CARRIER/REFERENCE")]
    pub document: Option<String>,
    /// The node's Raft id (add-node, promote-node, remove-node).
    #[arg(long)]
    pub raft_id: Option<u64>,
    /// The node id its TLS certificate names (add-node).
    #[arg(long)]
    pub node_id: Option<String>,
    /// The `ip:port` of its Raft transport (add-node).
    #[arg(long)]
    pub address: Option<String>,
    /// The recipient party (issue, transfer, endorse, endorse-to-order; the port for
    /// release-cargo; the new bill's first possessor for void with --document).
    #[arg(long)]
    pub to: Option<String>,
    /// A DCSA 3.0 transport document (JSON) for draft, issue, or void's replacement.
    #[arg(long = "document", value_name = "FILE")]
    pub document_file: Option<PathBuf>,
    /// The reason code of surrender-for-amendment: SWITCH_TO_PAPER, CHANGE_OF_DESTINATION or
    /// SWITCH_BILL; a free reason for reject.
    #[arg(long)]
    pub reason: Option<String>,
    /// A comment (required by reject-surrender).
    #[arg(long)]
    pub comment: Option<String>,
    /// A container (ISO 6346) the release command names; repeat for several.
    #[arg(long = "container")]
    pub containers: Vec<String>,
    /// The terminal, a PORT party, the containers are collected from (release-container).
    #[arg(long)]
    pub terminal: Option<String>,
    /// The haulier (nominate-haulier; gate-out: the one whose truck presented).
    #[arg(long)]
    pub haulier: Option<String>,
    /// A truck or driver reference (nominate-haulier, nominate-truck, gate-out).
    #[arg(long)]
    pub truck: Option<String>,
    /// Let the nominated haulier change the truck itself (nominate-haulier).
    #[arg(long)]
    pub haulier_may_renominate: bool,
    /// Not collectable before: RFC 3339 UTC (`2026-12-03T23:00:00Z`) or ms since the epoch.
    #[arg(long, value_name = "T")]
    pub valid_from: Option<String>,
    /// Not collectable after: as --valid-from.
    #[arg(long, value_name = "T")]
    pub valid_until: Option<String>,
    /// A release condition: CUSTOMS_CLEARED or FREIGHT_PAID (release-container: repeat for
    /// several; mark-condition: the one met).
    #[arg(long = "condition")]
    pub conditions: Vec<String>,
    /// A certificate's serial number, hex (revoke); repeat for several.
    #[arg(long = "serial", value_name = "HEX")]
    pub serials: Vec<String>,
    /// A certificate to revoke, PEM (its leaf; revoke); repeat for several.
    #[arg(long = "certificate", value_name = "FILE")]
    pub certificates: Vec<PathBuf>,
    /// The private key (PKCS#8 PEM) of the member's CA that signs its revocation list
    /// (revoke). Its certificate is found among the identity's chain and the CA bundle. With
    /// `--network` of a dev network it is found in the dev directory.
    #[arg(long, value_name = "FILE")]
    pub ca_key: Option<PathBuf>,
    /// A revocation list already made by the member's CA (`silkline member revoke` writes
    /// it; PEM or DER) to publish as it is (revoke), instead of --serial/--certificate with
    /// --ca-key: the CA's key then never leaves the member's directory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["serials", "certificates", "ca_key"])]
    pub crl: Option<PathBuf>,
    /// Issue without the carrier's signed PINT issuance manifest (issue). By default, on a
    /// network with a platform code, the carrier's key signs the bill's issuance manifest
    /// beside the ISSUE, for when the bill leaves for another platform.
    #[arg(long)]
    pub no_issuance_manifest: bool,
    /// Print the signed transaction (JWS compact) instead of submitting it, to submit it
    /// another way (curl, another tool).
    #[arg(long)]
    pub sign_only: bool,
}

const SUBMIT: &str = "mutation Submit($envelopes: [String!]!) {
  submitTransactions(envelopes: $envelopes) {
    txHash status code message height position time
    documents { class carrierCode reference }
  }
}";

/// The query `doc show` sends; `silkline bench --workload reads` measures the same.
pub(crate) const DOCUMENT: &str = "query Document($carrier: String!, $reference: String!, $class: DocumentClassArg!) {
  document(carrierCode: $carrier, reference: $reference, class: $class) {
    key { class carrierCode reference }
    kind status mode possessor endorsee shipper consignee sequence createdAt updatedAt checksum
    platformTransfer { stage platform actionCode recipient sender requestedHeight responseCode reason
      documents { name mediaType size checksum } }
    content
    history { sequence txHash height position time actor member signerFingerprint action recipient event signature }
  }
}";

const VERIFY: &str = "query Verify($document: JSON!) {
  verifyDocument(document: $document) {
    matches checksum
    documents {
      key { class carrierCode reference }
      status possessor endorsee
      history { sequence txHash height time actor action recipient event }
    }
  }
}";

const PDF: &str = "query Pdf($carrier: String!, $reference: String!, $paper: Boolean!) {
  document(carrierCode: $carrier, reference: $reference) { pdf(switchToPaper: $paper) }
}";

const DCSA: &str = "query Dcsa($carrier: String!, $reference: String!) {
  document(carrierCode: $carrier, reference: $reference) { dcsa }
}";

const NODE: &str = "{ node { id raftId role leaderRaftId term commitIndex appliedIndex height blockHash stateHash } }";

fn split_document(document: &str) -> anyhow::Result<(&str, &str)> {
    document
        .split_once('/')
        .filter(|(c, r)| !c.is_empty() && !r.is_empty())
        .with_context(|| format!("`{document}`: name the document as CARRIER/REFERENCE"))
}

fn need<'a>(value: &'a Option<String>, flag: &str, action: TxAction) -> anyhow::Result<&'a str> {
    value
        .as_deref()
        .with_context(|| format!("{action:?} needs {flag}"))
}

fn read_json(path: &PathBuf) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Reads at most one byte more than the importer accepts, so that a huge file is reported as too
/// large without being read whole.
fn read_bounded(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let limit = u64::try_from(adapters::dcsa::IMPORT_BYTES_MAX)? + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .with_context(|| format!("read {}", path.display()))?;
    Ok(bytes)
}

/// A `--document` the ledger would accept, and what it is warned of.
struct Imported {
    document: Value,
    /// Allowed but probably mistaken (a container number whose ISO 6346 check digit is wrong):
    /// printed with the outcome, never a reason to refuse.
    warnings: Vec<ContentProblem>,
}

/// The transport document of `--document FILE`, imported as `adapters::dcsa` imports a
/// carrier's DCSA 3.0 JSON: every field checked before anything is signed. A draft (which says
/// `DRAFT`) or an issue (`ISSUED`) is for the document `id` names (the file's reference must be
/// its); a void's replacement (`ISSUED`) names its own. `Ok(None)`: the action carries no
/// document. `Ok(Some(Err(problems)))`: the file is not one the ledger would accept, each
/// problem with its JSON pointer.
fn import_document(
    args: &TxArgs,
    id: &DocumentId,
) -> anyhow::Result<Option<Result<Imported, Vec<ContentProblem>>>> {
    let Some(path) = &args.document_file else {
        return Ok(None);
    };
    let bytes = read_bounded(path)?;
    let imported = match args.action {
        TxAction::Draft => dcsa::parse_transport_document_for(&bytes, id, Stage::Draft),
        TxAction::Issue => dcsa::parse_transport_document_for(&bytes, id, Stage::Issued),
        TxAction::Void => dcsa::parse_transport_document(&bytes, &id.carrier, Stage::Issued),
        other => bail!("{other:?} takes no --document"),
    };
    Ok(Some(imported.map(|(document, valid)| Imported {
        document,
        warnings: valid.warnings,
    })))
}

/// The workflow command an action means (`doc_workflow::Command`'s JSON); `content` is the
/// imported `--document`, if one was given.
fn command(args: &TxArgs, content: Option<Value>) -> anyhow::Result<Value> {
    let a = args.action;
    let content = || content.with_context(|| format!("{a:?} needs --document FILE"));
    Ok(match a {
        TxAction::Draft => json!({"action": "PUBLISH_DRAFT", "content": content()?}),
        TxAction::Approve => json!({"action": "APPROVE_DRAFT"}),
        TxAction::Issue => {
            let mut c = json!({"action": "ISSUE", "issueTo": need(&args.to, "--to PARTY", a)?});
            if args.document_file.is_some() {
                c["content"] = content()?;
            }
            c
        }
        TxAction::Transfer => json!({"action": "TRANSFER", "to": need(&args.to, "--to PARTY", a)?}),
        TxAction::Endorse => json!({"action": "ENDORSE", "to": need(&args.to, "--to PARTY", a)?}),
        TxAction::EndorseToOrder => {
            json!({"action": "ENDORSE_TO_ORDER", "to": need(&args.to, "--to PARTY", a)?})
        }
        TxAction::BlankEndorse => json!({"action": "BLANK_ENDORSE"}),
        TxAction::Sign => json!({"action": "SIGN"}),
        TxAction::Reject => {
            let mut c = json!({"action": "REJECT_TRANSFER"});
            if let Some(r) = args.reason.as_ref().or(args.comment.as_ref()) {
                c["reason"] = json!(r);
            }
            c
        }
        TxAction::SurrenderForDelivery => json!({"action": "SURRENDER_FOR_DELIVERY"}),
        TxAction::SurrenderForAmendment => json!({
            "action": "SURRENDER_FOR_AMENDMENT",
            "reason": need(&args.reason, "--reason SWITCH_TO_PAPER|CHANGE_OF_DESTINATION|SWITCH_BILL", a)?,
        }),
        TxAction::AcceptSurrender => json!({"action": "ACCEPT_SURRENDER"}),
        TxAction::RejectSurrender => json!({
            "action": "REJECT_SURRENDER",
            "comment": need(&args.comment, "--comment TEXT", a)?,
        }),
        TxAction::Void => {
            let mut c = json!({"action": "VOID"});
            if args.document_file.is_some() {
                c["replacement"] = json!({
                    "content": content()?,
                    "issueTo": need(&args.to, "--to PARTY (the new bill's possessor)", a)?,
                });
            }
            c
        }
        TxAction::ReleaseCargo => {
            json!({"action": "RELEASE_CARGO", "port": need(&args.to, "--to PORT", a)?})
        }
        TxAction::ReleaseContainer => {
            let mut c = json!({
                "action": "RELEASE_CONTAINERS",
                "containers": containers(args)?,
                "to": need(&args.to, "--to PARTY", a)?,
                "terminal": need(&args.terminal, "--terminal PORT", a)?,
            });
            if let Some(t) = &args.valid_from {
                c["validFrom"] = json!(parse_time(t)?);
            }
            if let Some(t) = &args.valid_until {
                c["validUntil"] = json!(parse_time(t)?);
            }
            if !args.conditions.is_empty() {
                c["conditions"] = json!(conditions(args)?);
            }
            c
        }
        TxAction::NominateHaulier => {
            let mut c = json!({
                "action": "NOMINATE_HAULIER",
                "containers": containers(args)?,
                "haulier": need(&args.haulier, "--haulier PARTY", a)?,
            });
            if let Some(truck) = &args.truck {
                c["truck"] = json!(truck);
            }
            if args.haulier_may_renominate {
                c["haulierMayRenominate"] = json!(true);
            }
            c
        }
        TxAction::NominateTruck => json!({
            "action": "NOMINATE_TRUCK",
            "containers": containers(args)?,
            "truck": need(&args.truck, "--truck REF", a)?,
        }),
        TxAction::MarkCondition => {
            let [condition] = conditions(args)?[..] else {
                bail!("MarkCondition needs exactly one --condition CUSTOMS_CLEARED|FREIGHT_PAID");
            };
            json!({
                "action": "MARK_CONDITION_MET",
                "containers": containers(args)?,
                "condition": condition,
            })
        }
        TxAction::RevokeRelease => json!({
            "action": "REVOKE_RELEASE",
            "containers": containers(args)?,
            "reason": need(&args.reason, "--reason TEXT", a)?,
        }),
        TxAction::GateOut => {
            let mut c = json!({"action": "GATE_OUT", "containers": containers(args)?});
            if let Some(truck) = &args.truck {
                c["truck"] = json!(truck);
            }
            if let Some(haulier) = &args.haulier {
                c["haulier"] = json!(haulier);
            }
            c
        }
        TxAction::AddNode | TxAction::PromoteNode | TxAction::RemoveNode | TxAction::Revoke => {
            bail!("{a:?} is a governance action, not a document command")
        }
    })
}

/// The `--container`s. One that is not an ISO 6346 number with its check digit is warned of on
/// stderr, not refused: a bill may list such a number (the ledger accepts it with a warning),
/// and its container must still be released and collected.
fn containers(args: &TxArgs) -> anyhow::Result<Vec<String>> {
    if args.containers.is_empty() {
        bail!(
            "{:?} needs --container NUMBER (repeat for several)",
            args.action
        );
    }
    for number in &args.containers {
        parse_container(number)?;
    }
    Ok(args.containers.clone())
}

/// A container reference as the ledger takes it; one that is not an ISO 6346 number with its
/// check digit (owner code, category, serial, check digit) is warned of on stderr.
fn parse_container(number: &str) -> anyhow::Result<ContainerNumber> {
    let container = ContainerNumber::new(number).with_context(|| format!("`{number}`"))?;
    if let Err(e) = container.iso6346() {
        eprintln!("silkline: warning: `{number}`: {e}");
    }
    Ok(container)
}

fn conditions(args: &TxArgs) -> anyhow::Result<Vec<&'static str>> {
    args.conditions
        .iter()
        .map(|c| {
            ReleaseCondition::from_code(c)
                .map(ReleaseCondition::code)
                .with_context(|| format!("`{c}`: a condition is CUSTOMS_CLEARED or FREIGHT_PAID"))
        })
        .collect()
}

/// A time given as ms since the Unix epoch, or as RFC 3339 UTC `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
fn parse_time(text: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || anyhow::anyhow!("`{text}`: a time is ms since the epoch or YYYY-MM-DDTHH:MM:SSZ");
    let t = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let (time, ms) = match time.split_once('.') {
        Some((hms, frac)) => (hms, num(&format!("{frac:0<3}")[..3])?),
        None => (time, 0),
    };
    let h: Vec<&str> = time.split(':').collect();
    let ([y, m, dd], [hh, mm, ss]) = (&d[..], &h[..]) else {
        return Err(bad());
    };
    let (y, m, dd) = (num(y)?, num(m)?, num(dd)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(hh)? * 3_600 + num(mm)? * 60 + num(ss)?;
    u64::try_from(secs * 1_000 + ms).map_err(|_| bad())
}

/// The governance command of a membership action (`ledger::Governance`'s JSON).
fn membership_command(args: &TxArgs) -> anyhow::Result<Value> {
    let a = args.action;
    if args.document.is_some() {
        bail!("{a:?} names no document");
    }
    let raft_id = args
        .raft_id
        .with_context(|| format!("{a:?} needs --raft-id N"))?;
    Ok(match a {
        TxAction::AddNode => json!({
            "action": "ADD_NODE",
            "raftId": raft_id,
            "nodeId": need(&args.node_id, "--node-id ID", a)?,
            "address": need(&args.address, "--address IP:PORT", a)?,
        }),
        TxAction::PromoteNode => json!({"action": "PROMOTE_NODE", "raftId": raft_id}),
        TxAction::RemoveNode => json!({"action": "REMOVE_NODE", "raftId": raft_id}),
        other => bail!("{other:?} is not a membership action"),
    })
}

/// `silkline tx`: prints one JSON object; `Ok(false)` when the ledger refused the transaction,
/// or when `--document` has problems (then nothing is signed or submitted).
pub async fn tx(args: &TxArgs) -> anyhow::Result<bool> {
    if args.action == TxAction::Revoke {
        return revoke(args).await;
    }
    if args.action.is_membership() {
        let governance = membership_command(args)?;
        let client = ApiClient::new(&args.target)?;
        let jws = client.sign(json!({ "governance": governance })).await?;
        return submit(&client, args.sign_only, jws, json!({}), &[]).await;
    }
    let document = args
        .document
        .as_deref()
        .with_context(|| format!("{:?} needs the document CARRIER/REFERENCE", args.action))?;
    let (carrier, reference) = split_document(document)?;
    let id = DocumentId::new(
        PartyCode::new(carrier).with_context(|| format!("`{carrier}`: not a party code"))?,
        DocumentRef::new(reference)
            .with_context(|| format!("`{reference}`: not a document reference"))?,
    );
    let (content, warnings) = match import_document(args, &id)? {
        None => (None, Vec::new()),
        Some(Ok(imported)) => (Some(imported.document), imported.warnings),
        Some(Err(problems)) => {
            let file = args.document_file.as_deref().unwrap_or(Path::new(""));
            crate::out(serde_json::to_string_pretty(&invalid_document(
                file, &problems,
            ))?)?;
            return Ok(false);
        }
    };
    let command = command(args, content)?;
    let client = ApiClient::new(&args.target)?;
    let mut body = json!({
        "document": {"carrier": carrier, "reference": reference},
        "command": command,
    });
    if args.action == TxAction::Issue
        && !args.no_issuance_manifest
        && let Some(manifest) = issuance_manifest(&client, &id, &body["command"]).await?
    {
        body["issuanceManifest"] = json!(manifest);
    }
    let jws = client.sign(body).await?;
    submit(&client, args.sign_only, jws, json!({}), &warnings).await
}

const ISSUANCE_CONTEXT: &str = "{ consortium { platform } network { parties { code name } } }";
const APPROVED_CONTENT: &str = "query Approved($carrier: String!, $reference: String!) {
  document(carrierCode: $carrier, reference: $reference) { content }
}";

/// The carrier's PINT issuance manifest for an `ISSUE` (`command`), signed with this client's
/// key and chain: the checksums of the content being issued (the command's, else the approved
/// draft's) and of the issued-to party as this platform names it (`ledger::pint_party`), as
/// the ledger checks them. `None` on a network without a platform code: no bill leaves it.
async fn issuance_manifest(
    client: &ApiClient,
    id: &DocumentId,
    command: &Value,
) -> anyhow::Result<Option<String>> {
    let response = client.graphql(ISSUANCE_CONTEXT, json!({})).await?;
    let context = data(&response)?;
    let Some(platform) = context["consortium"]["platform"].as_str() else {
        return Ok(None);
    };
    let content = match &command["content"] {
        Value::Null => {
            let response = client
                .graphql(
                    APPROVED_CONTENT,
                    json!({"carrier": id.carrier.as_str(), "reference": id.reference.as_str()}),
                )
                .await?;
            data(&response)
                .with_context(|| {
                    format!("{id}: no --document, and no approved draft to issue (the issuance manifest is signed over the content)")
                })?["document"]["content"]
                .clone()
        }
        content => content.clone(),
    };
    let issue_to = command["issueTo"]
        .as_str()
        .context("an ISSUE names issueTo")?;
    let issue_to =
        PartyCode::new(issue_to).with_context(|| format!("`{issue_to}`: not a party code"))?;
    let name = context["network"]["parties"]
        .as_array()
        .and_then(|parties| parties.iter().find(|p| p["code"] == issue_to.as_str()))
        .and_then(|p| p["name"].as_str())
        .unwrap_or(issue_to.as_str())
        .to_owned();
    let signer = client.pint_signer()?;
    let manifest = pint::sign_issuance_manifest(
        &signer,
        &content,
        &ledger::pint_party(platform, &issue_to, &name),
        None,
    )
    .map_err(|e| anyhow::anyhow!("sign the issuance manifest: {e}"))?;
    Ok(Some(manifest))
}

const REVOCATION_LIST: &str = "{ revocationList }";

/// `silkline tx revoke`: the admin's member's current revocation list, read from the ledger,
/// with the given serials added, signed by the member's CA as the next list (cRLNumber one
/// past, every earlier entry kept), published by `UPDATE_REVOCATIONS` signed by the admin.
/// From then on every node refuses those certificates' transactions (`CERTIFICATE_REVOKED`)
/// and connections.
async fn revoke(args: &TxArgs) -> anyhow::Result<bool> {
    use pki::revocation::Serial;
    if args.document.is_some() {
        bail!("Revoke names no document: give --serial HEX or --certificate FILE");
    }
    if let Some(path) = &args.crl {
        return publish_list(args, path).await;
    }
    if args.serials.is_empty() && args.certificates.is_empty() {
        bail!("Revoke needs --serial HEX or --certificate FILE (repeat either for several)");
    }
    let client = ApiClient::new(&args.target)?;
    let ca = match (&args.ca_key, &args.target.network) {
        (Some(path), _) => {
            let key = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            pki::revocation::RevocationSigner::among(&client.ca_certificates()?, &key)
                .with_context(|| format!("--ca-key {}", path.display()))?
        }
        (None, Some(network)) => {
            let identity = args.target.as_identity.as_deref().unwrap_or_default();
            crate::dev::revocation_signer(network, identity)?
        }
        (None, None) => bail!(
            "Revoke needs --ca-key FILE: the private key of the member's CA that signs its \
             revocation list"
        ),
    };
    let mut serials = Vec::new();
    for hex in &args.serials {
        serials.push(Serial::from_hex(hex)?);
    }
    for path in &args.certificates {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let leaf = pki::pem::certificates(&pem)
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())?
            .into_iter()
            .next()
            .with_context(|| format!("no certificate in {}", path.display()))?;
        if !ca.issued(leaf.as_ref())? {
            bail!(
                "{}: not issued by {}, the CA whose list this is; a member revokes only what \
                 its own CA issued",
                path.display(),
                ca.subject()
            );
        }
        serials.push(Serial::of_certificate(leaf.as_ref())?);
    }
    let response = client.graphql(REVOCATION_LIST, json!({})).await?;
    let current = match &data(&response)?["revocationList"] {
        Value::Null => None,
        Value::String(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .context("the current revocation list is not base64")?,
        ),
        other => bail!("the API answered an unexpected revocation list: {other}"),
    };
    // Set as far back as a transaction's notBefore: a node whose clock is behind this one's
    // would refuse a list from its future (`CRL_NOT_YET_VALID`). It is never set before the
    // current list's, which the ledger would refuse as a rollback (`CRL_OUTDATED`).
    let at_s = i64::try_from(
        crate::client::now_ms().saturating_sub(crate::client::NOT_BEFORE_SLACK_MS) / 1000,
    )?;
    let next = ca.next_list(current.as_deref(), &serials, at_s)?;
    let jws = client
        .sign(json!({"governance": {
            "action": "UPDATE_REVOCATIONS",
            "crl": base64::engine::general_purpose::STANDARD.encode(&next.der),
        }}))
        .await?;
    let extra = json!({
        "crlNumber": next.crl_number,
        "revoked": next.added.iter().map(Serial::to_hex).collect::<Vec<_>>(),
        "revokedTotal": next.revoked.len(),
    });
    submit(&client, args.sign_only, jws, extra, &[]).await
}

/// `silkline tx revoke --crl FILE`: publishes a list the member's CA already made (`silkline
/// member revoke`), as it is. The ledger checks it as any `UPDATE_REVOCATIONS` list: the
/// member's CA signed it and it is newer than the current one (`CRL_OUTDATED` otherwise).
async fn publish_list(args: &TxArgs, path: &Path) -> anyhow::Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let der = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => pki::pem::crl_der(text)
            .map_err(anyhow::Error::msg)
            .with_context(|| path.display().to_string())?,
        _ => bytes,
    };
    let info = pki::inspect_revocation_list(&der).with_context(|| path.display().to_string())?;
    let client = ApiClient::new(&args.target)?;
    let jws = client
        .sign(json!({"governance": {
            "action": "UPDATE_REVOCATIONS",
            "crl": base64::engine::general_purpose::STANDARD.encode(&der),
        }}))
        .await?;
    let extra = json!({
        "crlNumber": info.crl_number,
        "revokedTotal": info.revoked_serials.len(),
    });
    submit(&client, args.sign_only, jws, extra, &[]).await
}

/// Prints the signed transaction (`--sign-only`; the `--document`'s warnings then go to stderr,
/// so that stdout is the JWS alone) or submits it and prints its outcome, with the members of
/// `extra` added and the warnings when there are any.
pub(crate) async fn submit(
    client: &ApiClient,
    sign_only: bool,
    jws: String,
    extra: Value,
    warnings: &[ContentProblem],
) -> anyhow::Result<bool> {
    if sign_only {
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        crate::out(jws)?;
        return Ok(true);
    }
    let response = client
        .graphql(SUBMIT, json!({ "envelopes": [jws] }))
        .await?;
    let result = &data(&response)?["submitTransactions"][0];
    let mut out = json!({
        "status": result["status"],
        "code": result["code"],
        "message": result["message"],
        "height": result["height"],
        "position": result["position"],
        "time": result["time"],
        "tx": result["txHash"],
        "documents": result["documents"],
    });
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    if !warnings.is_empty() {
        out["warnings"] = json!(warnings);
    }
    crate::out(serde_json::to_string_pretty(&out)?)?;
    Ok(result["status"] == "COMMITTED")
}

/// What `silkline tx` prints for a `--document` with problems: the shape of a refusal, with the
/// code the ledger would give (`INVALID_CONTENT`), no transaction, and every problem with its
/// JSON pointer.
fn invalid_document(file: &Path, problems: &[ContentProblem]) -> Value {
    json!({
        "status": "REFUSED",
        "code": "INVALID_CONTENT",
        "message": format!(
            "{}: {} problem(s) in the DCSA transport document; nothing was signed or submitted",
            file.display(),
            problems.len()
        ),
        "height": null,
        "position": null,
        "time": null,
        "tx": null,
        "documents": [],
        "submitted": false,
        "problems": problems,
    })
}

const CONTAINER: &str = "query Container($container: String!, $haulier: String, $truck: String) {
  containerRelease(container: $container, haulier: $haulier, truck: $truck) {
    container mayCollect reason bill carrierCode reference status holder terminal haulier truck
    haulierMayRenominate validFrom validUntil
    conditions { condition met metBy metAt }
    grantedAt collectedAt collectedBy revokedAt revocationReason
  }
}";

/// `silkline doc container`: the gate check -- may `haulier` (default: the nominated one) with
/// `truck` collect `container` now -- printed as JSON.
pub async fn doc_container(
    target: &Target,
    container: &str,
    haulier: Option<&str>,
    truck: Option<&str>,
) -> anyhow::Result<()> {
    parse_container(container)?;
    let client = ApiClient::new(target)?;
    let response = client
        .graphql(
            CONTAINER,
            json!({"container": container, "haulier": haulier, "truck": truck}),
        )
        .await?;
    crate::out(serde_json::to_string_pretty(
        &data(&response)?["containerRelease"],
    )?)?;
    Ok(())
}

/// `silkline doc show`.
pub async fn doc_show(target: &Target, document: &str, cargo_release: bool) -> anyhow::Result<()> {
    let (carrier, reference) = split_document(document)?;
    let client = ApiClient::new(target)?;
    let class = if cargo_release {
        "CARGO_RELEASE"
    } else {
        "TRANSPORT_DOCUMENT"
    };
    let response = client
        .graphql(
            DOCUMENT,
            json!({"carrier": carrier, "reference": reference, "class": class}),
        )
        .await?;
    crate::out(serde_json::to_string_pretty(&data(&response)?["document"])?)?;
    Ok(())
}

/// `silkline doc pdf`: writes the rendering to `out`.
pub async fn doc_pdf(
    target: &Target,
    document: &str,
    out: &PathBuf,
    switch_to_paper: bool,
) -> anyhow::Result<()> {
    let (carrier, reference) = split_document(document)?;
    let client = ApiClient::new(target)?;
    let response = client
        .graphql(
            PDF,
            json!({"carrier": carrier, "reference": reference, "paper": switch_to_paper}),
        )
        .await?;
    let encoded = data(&response)?["document"]["pdf"]
        .as_str()
        .context("the API returned no PDF")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("the PDF is not base64")?;
    std::fs::write(out, &bytes).with_context(|| format!("write {}", out.display()))?;
    crate::out(json!({"file": out, "bytes": bytes.len(), "document": document}))?;
    Ok(())
}

/// `silkline doc export`: the document and its endorsement chain as DCSA JSON.
pub async fn doc_export(target: &Target, document: &str) -> anyhow::Result<()> {
    let (carrier, reference) = split_document(document)?;
    let client = ApiClient::new(target)?;
    let response = client
        .graphql(DCSA, json!({"carrier": carrier, "reference": reference}))
        .await?;
    crate::out(serde_json::to_string_pretty(
        &data(&response)?["document"]["dcsa"],
    )?)?;
    Ok(())
}

/// `silkline doc verify`: `Ok(false)` when the ledger does not hold this content.
pub async fn doc_verify(target: &Target, file: &PathBuf) -> anyhow::Result<bool> {
    let document = read_json(file)?;
    let client = ApiClient::new(target)?;
    let response = client
        .graphql(VERIFY, json!({ "document": document }))
        .await?;
    let result = &data(&response)?["verifyDocument"];
    crate::out(serde_json::to_string_pretty(result)?)?;
    Ok(result["matches"] == true)
}

/// `silkline status`: one JSON object per node of `network.json`, one per line.
pub async fn status(network: &PathBuf, as_identity: Option<&str>) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(network).with_context(|| format!("read {}", network.display()))?;
    let file: Value = serde_json::from_str(&text)?;
    let identity = match as_identity {
        Some(name) => name.to_owned(),
        None => file["identities"][0]["name"]
            .as_str()
            .context("network.json has no identity")?
            .to_owned(),
    };
    let mut all_answered = true;
    for node in file["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let id = node["id"].as_str().unwrap_or_default();
        let Some(endpoint) = node["graphql"].as_str() else {
            crate::out(json!({"id": id, "error": "no GraphQL endpoint"}))?;
            all_answered = false;
            continue;
        };
        let target = Target {
            network: Some(network.clone()),
            as_identity: Some(identity.clone()),
            endpoint: Vec::new(),
            cert: None,
            key: None,
            ca: None,
        };
        let line = match ApiClient::new(&target) {
            Ok(client) => {
                let client = client.with_endpoints(vec![endpoint.to_owned()]);
                match client.graphql(NODE, json!({})).await {
                    Ok(v) => match data(&v) {
                        Ok(d) => {
                            let n = &d["node"];
                            json!({
                                "id": n["id"],
                                "raft_id": n["raftId"],
                                "role": n["role"],
                                "leader_raft_id": n["leaderRaftId"],
                                "term": n["term"],
                                "height": n["height"],
                                "commit_index": n["commitIndex"],
                                "applied_index": n["appliedIndex"],
                                "block_hash": n["blockHash"],
                                "state_hash": n["stateHash"],
                                "graphql": endpoint,
                            })
                        }
                        Err(e) => json!({"id": id, "graphql": endpoint, "error": format!("{e:#}")}),
                    },
                    Err(e) => json!({"id": id, "graphql": endpoint, "error": format!("{e:#}")}),
                }
            }
            Err(e) => json!({"id": id, "error": format!("{e:#}")}),
        };
        if line.get("error").is_some() {
            all_answered = false;
        }
        crate::out(line)?;
    }
    Ok(all_answered)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_parse_as_ms_or_rfc3339_utc() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("2026-12-03T23:00:00Z").unwrap(),
            1_796_338_800_000
        );
        assert_eq!(
            parse_time("2026-12-03T23:00:00.5Z").unwrap(),
            1_796_338_800_500
        );
        assert_eq!(
            adapters::time::iso8601_utc(parse_time("2024-02-29T12:34:56Z").unwrap()),
            "2024-02-29T12:34:56.000Z"
        );
        for bad in [
            "2026-12-03",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "2026-12-03T23:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}

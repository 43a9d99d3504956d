//! `silkline gov`: governance by vote from a shell. A member admin proposes changes to the
//! consortium (`propose ACTION`, printing the proposal id), votes (`vote ID --approve|--reject`),
//! withdraws its own proposal; anyone reads them (`show [ID]`); an admin rotates its own
//! member's CA (`add-ca`, `retire-ca`). Each is one signed governance transaction
//! (`ledger::Governance`), submitted through the API like `silkline tx`; the ledger decides
//! everything (thresholds, eligibility, expiry) on every node.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::client::{ApiClient, Target, data};

/// How long a proposal stays open unless `--expires-in-hours` says otherwise: a week, for
/// members in every time zone to read and vote.
const PROPOSAL_LIFETIME_DEFAULT_HOURS: u64 = 7 * 24;

#[derive(Debug, clap::Subcommand)]
pub enum GovCommand {
    /// Propose a change; prints the outcome with the proposal id (`tx`). The proposal counts
    /// as the proposing member's approval.
    Propose {
        #[command(flatten)]
        target: Target,
        /// What the proposal is for, for the members who vote on it.
        #[arg(long, default_value = "")]
        description: String,
        /// Hours until it can no longer be voted.
        #[arg(long, default_value_t = PROPOSAL_LIFETIME_DEFAULT_HOURS)]
        expires_in_hours: u64,
        #[command(subcommand)]
        action: ProposalActionArg,
        /// Print the signed transaction instead of submitting it.
        #[arg(long)]
        sign_only: bool,
    },
    /// Vote on an open proposal for the admin's member (a later vote replaces an earlier one).
    Vote {
        #[command(flatten)]
        target: Target,
        /// The proposal id.
        id: String,
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        #[arg(long)]
        reject: bool,
    },
    /// Withdraw an open proposal of the admin's member.
    Withdraw {
        #[command(flatten)]
        target: Target,
        id: String,
    },
    /// A proposal (state, votes, tally, expiry) as JSON; without ID, the consortium's
    /// configuration and its proposals.
    Show {
        #[command(flatten)]
        target: Target,
        id: Option<String>,
    },
    /// Add a root CA certificate to the admin's own member (a CA rotation's first step).
    AddCa {
        #[command(flatten)]
        target: Target,
        /// The new CA certificate, PEM.
        #[arg(long = "cert", value_name = "FILE")]
        certificate: PathBuf,
    },
    /// Stop trusting one of the admin's own member's CA certificates (by SHA-256 of its DER,
    /// as `gov show` lists it, or the certificate file).
    RetireCa {
        #[command(flatten)]
        target: Target,
        #[arg(
            long,
            conflicts_with = "certificate",
            required_unless_present = "certificate"
        )]
        fingerprint: Option<String>,
        #[arg(long = "cert", value_name = "FILE")]
        certificate: Option<PathBuf>,
    },
}

/// What a proposal asks for (`ledger::consortium::ProposalAction`).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ProposalActionArg {
    /// Admit a member from its public bundle (`member.json` of `silkline member init`).
    AdmitMember {
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
    },
    /// Remove a member; the parties it sponsors move to `--successor`.
    RemoveMember {
        #[arg(long)]
        code: String,
        #[arg(long)]
        successor: Option<String>,
    },
    /// Emergency: stop trusting one of another member's CA certificates (the only one if it
    /// has one and no `--fingerprint` is given).
    RevokeMemberCa {
        #[arg(long)]
        code: String,
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Emergency: remove another member's node.
    RevokeNode {
        #[arg(long)]
        raft_id: u64,
    },
    /// Set a parameter (`proposalLifetimeMaxMs`, `workflowActivationBlocksMin`).
    SetParameter {
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: u64,
    },
    /// New workflow definitions for documents created from `--activate-at` on: a JSON array
    /// of every definition, or one definition that replaces the one of its kind.
    UpgradeWorkflow {
        #[arg(long, value_name = "FILE")]
        definition: PathBuf,
        #[arg(long)]
        activate_at: u64,
    },
    /// Trust another eBL platform (DCSA PINT) and its signing certificates: for another
    /// Silkline network, its `network.json` `platformCertificates` (its members' root CAs).
    TrustPlatform {
        /// Its 4-character platform code.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// The base URL of its PINT endpoints (for another Silkline network: a node's `pint`
        /// in its `network.json`).
        #[arg(long)]
        url: String,
        /// A PEM file of one or more certificates.
        #[arg(long = "cert", value_name = "FILE", required = true)]
        certs: Vec<PathBuf>,
    },
    /// Stop trusting one of a platform's certificates, or (without `--fingerprint`) the
    /// platform itself.
    DistrustPlatform {
        #[arg(long)]
        code: String,
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Refuse every document action until resumed.
    Pause,
    /// Allow document actions again.
    Resume,
}

const CONSORTIUM: &str = "{ consortium { version paused platform
  platforms { code name url certificateFingerprints sinceHeight }
  parameters { proposalLifetimeMaxMs workflowActivationBlocksMin }
  members { code name role status caFingerprints sinceHeight }
  workflows { version activateAt hash } } }";

const PROPOSAL_FIELDS: &str = "id proposer description actions baseConfigVersion expiresAt
  expiresAtMs createdHeight state votes { member approve }
  tally { eligible approvals rejections threshold } closedHeight reason";

const NETWORK_DEFINITIONS: &str = "{ workflowDefinitions }";

pub async fn run(command: GovCommand) -> anyhow::Result<bool> {
    match command {
        GovCommand::Propose {
            target,
            description,
            expires_in_hours,
            action,
            sign_only,
        } => {
            let client = ApiClient::new(&target)?;
            let consortium = consortium(&client).await?;
            let action = proposal_action(&client, &consortium, &action).await?;
            let version = consortium["version"]
                .as_u64()
                .context("the API answered no configuration version")?;
            let expires_at =
                crate::client::now_ms().saturating_add(expires_in_hours.saturating_mul(3_600_000));
            let jws = client
                .sign(json!({"governance": {
                    "action": "PROPOSE",
                    "actions": [action],
                    "description": description,
                    "baseConfigVersion": version,
                    "expiresAt": expires_at,
                }}))
                .await?;
            crate::cli::submit(&client, sign_only, jws, json!({}), &[]).await
        }
        GovCommand::Vote {
            target,
            id,
            approve,
            reject,
        } => {
            debug_assert!(approve != reject);
            let client = ApiClient::new(&target)?;
            let jws = client
                .sign(json!({"governance": {"action": "VOTE", "proposal": id, "approve": approve}}))
                .await?;
            crate::cli::submit(&client, false, jws, json!({}), &[]).await
        }
        GovCommand::Withdraw { target, id } => {
            let client = ApiClient::new(&target)?;
            let jws = client
                .sign(json!({"governance": {"action": "WITHDRAW", "proposal": id}}))
                .await?;
            crate::cli::submit(&client, false, jws, json!({}), &[]).await
        }
        GovCommand::Show { target, id } => {
            let client = ApiClient::new(&target)?;
            let out = match id {
                Some(id) => {
                    let query = format!(
                        "query P($id: String!) {{ proposal(id: $id) {{ {PROPOSAL_FIELDS} }} }}"
                    );
                    let response = client.graphql(&query, json!({ "id": id })).await?;
                    data(&response)?["proposal"].clone()
                }
                None => {
                    let query = format!("{{ proposals {{ {PROPOSAL_FIELDS} }} }}");
                    let response = client.graphql(&query, json!({})).await?;
                    json!({
                        "consortium": consortium(&client).await?,
                        "proposals": data(&response)?["proposals"],
                    })
                }
            };
            crate::out(serde_json::to_string_pretty(&out)?)?;
            Ok(true)
        }
        GovCommand::AddCa {
            target,
            certificate,
        } => {
            let pem = read(&certificate)?;
            pki::pem::certificates(&pem)
                .map_err(anyhow::Error::msg)
                .with_context(|| certificate.display().to_string())?;
            let client = ApiClient::new(&target)?;
            let jws = client
                .sign(json!({"governance": {"action": "ADD_CA", "caCertificatePem": pem}}))
                .await?;
            crate::cli::submit(&client, false, jws, json!({}), &[]).await
        }
        GovCommand::RetireCa {
            target,
            fingerprint,
            certificate,
        } => {
            let fingerprint = match (fingerprint, certificate) {
                (Some(f), _) => f,
                (None, Some(path)) => fingerprint_of(&read(&path)?)?,
                (None, None) => bail!("retire-ca needs --fingerprint HEX or --cert FILE"),
            };
            let client = ApiClient::new(&target)?;
            let jws = client
                .sign(json!({"governance": {"action": "RETIRE_CA", "fingerprint": fingerprint}}))
                .await?;
            crate::cli::submit(&client, false, jws, json!({}), &[]).await
        }
    }
}

async fn consortium(client: &ApiClient) -> anyhow::Result<Value> {
    let response = client.graphql(CONSORTIUM, json!({})).await?;
    Ok(data(&response)?["consortium"].clone())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

/// SHA-256 of the first certificate of a PEM, lowercase hex.
fn fingerprint_of(pem: &str) -> anyhow::Result<String> {
    let der = pki::pem::certificates(pem)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .next()
        .context("no certificate in the PEM")?;
    Ok(hex::encode(ledger::sha256(der.as_ref())))
}

/// The JSON of one proposal action.
async fn proposal_action(
    client: &ApiClient,
    consortium: &Value,
    action: &ProposalActionArg,
) -> anyhow::Result<Value> {
    Ok(match action {
        ProposalActionArg::AdmitMember { bundle } => admit_member(bundle)?,
        ProposalActionArg::RemoveMember { code, successor } => {
            json!({"type": "REMOVE_MEMBER", "code": code, "successor": successor})
        }
        ProposalActionArg::RevokeMemberCa { code, fingerprint } => {
            let fingerprint = match fingerprint {
                Some(f) => f.clone(),
                None => {
                    let member = consortium["members"]
                        .as_array()
                        .and_then(|ms| ms.iter().find(|m| m["code"] == code.as_str()))
                        .with_context(|| format!("{code} is not a member"))?;
                    match member["caFingerprints"].as_array().map(Vec::as_slice) {
                        Some([only]) => only.as_str().unwrap_or_default().to_owned(),
                        _ => bail!(
                            "{code} has several CA certificates: name one with --fingerprint \
                             (`silkline gov show` lists them)"
                        ),
                    }
                }
            };
            json!({"type": "REVOKE_MEMBER_CA", "code": code, "fingerprint": fingerprint})
        }
        ProposalActionArg::RevokeNode { raft_id } => {
            json!({"type": "REVOKE_NODE", "raftId": raft_id})
        }
        ProposalActionArg::SetParameter { name, value } => {
            json!({"type": "SET_PARAMETER", "name": name, "value": value})
        }
        ProposalActionArg::UpgradeWorkflow {
            definition,
            activate_at,
        } => {
            let given: Value = serde_json::from_str(&read(definition)?)
                .with_context(|| format!("{}: not JSON", definition.display()))?;
            let definitions = match given {
                Value::Array(all) => Value::Array(all),
                Value::Object(one) => {
                    let response = client.graphql(NETWORK_DEFINITIONS, json!({})).await?;
                    let current: Value = serde_json::from_str(
                        data(&response)?["workflowDefinitions"]
                            .as_str()
                            .context("the API answered no workflow definitions")?,
                    )?;
                    let mut all = current.as_array().cloned().unwrap_or_default();
                    all.retain(|d| d["kind"] != one["kind"]);
                    all.push(Value::Object(one));
                    Value::Array(all)
                }
                _ => bail!(
                    "{}: a definition (object) or every definition (array)",
                    definition.display()
                ),
            };
            json!({"type": "UPGRADE_WORKFLOW", "definitions": definitions, "activateAt": activate_at})
        }
        ProposalActionArg::TrustPlatform {
            code,
            name,
            url,
            certs,
        } => {
            let mut certificates = Vec::new();
            for path in certs {
                let pem = read(path)?;
                let ders = pki::pem::certificates(&pem)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                if ders.is_empty() {
                    bail!("{}: no certificate in the PEM", path.display());
                }
                certificates.extend(ders.iter().map(|der| pki::pem::certificate_pem(der)));
            }
            json!({"type": "TRUST_PLATFORM", "code": code, "name": name, "url": url, "certificates": certificates})
        }
        ProposalActionArg::DistrustPlatform { code, fingerprint } => {
            json!({"type": "DISTRUST_PLATFORM", "code": code, "fingerprint": fingerprint})
        }
        ProposalActionArg::Pause => json!({"type": "PAUSE"}),
        ProposalActionArg::Resume => json!({"type": "RESUME"}),
    })
}

/// `ADMIT_MEMBER` from a member's public bundle (`member.json` of `silkline member init`,
/// `pki::member::MemberBundle`, verified first): `code`, `name`, `role`, its CA certificate
/// (`caCertificatePem`) and its current list (`crlPem`, or `initialCrl`, DER in base64).
fn admit_member(bundle: &Path) -> anyhow::Result<Value> {
    let text = read(bundle)?;
    if text.contains("\"bundleVersion\"") {
        let now_s = i64::try_from(crate::client::now_ms() / 1000)?;
        pki::member::MemberBundle::from_json(&text)
            .and_then(|b| b.verify(now_s))
            .with_context(|| format!("{}: not an acceptable member bundle", bundle.display()))?;
    }
    let b: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", bundle.display()))?;
    let field = |names: &[&str]| names.iter().find_map(|n| b[*n].as_str().map(str::to_owned));
    let code = field(&["code"]).with_context(|| format!("{}: no `code`", bundle.display()))?;
    let name = field(&["name"]).with_context(|| format!("{}: no `name`", bundle.display()))?;
    let role = field(&["role"]).with_context(|| format!("{}: no `role`", bundle.display()))?;
    let ca = field(&["caCertificatePem", "caCertificate"])
        .with_context(|| format!("{}: no `caCertificatePem`", bundle.display()))?;
    // A member issuing from an intermediate publishes its first list (the intermediate's)
    // after admission, by `tx revoke`: the ledger takes a list signed by the root here.
    let intermediate = field(&["intermediateCertificatePem"]).is_some();
    let crl = match (field(&["initialCrl"]), field(&["crlPem", "crl"])) {
        _ if intermediate => None,
        (Some(b64), _) => Some(b64),
        (None, Some(pem)) => Some(
            base64::engine::general_purpose::STANDARD
                .encode(pki::pem::crl_der(&pem).map_err(anyhow::Error::msg)?),
        ),
        (None, None) => None,
    };
    Ok(json!({
        "type": "ADMIT_MEMBER", "code": code, "name": name, "role": role,
        "caCertificatePem": ca, "initialCrl": crl,
    }))
}

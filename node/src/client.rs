//! The CLI's side of the API: `silkline tx`, `silkline doc show|verify` and `silkline status`.
//!
//! A client is an identity (certificate chain and key, PEM), the CA bundle it trusts, and one or
//! more GraphQL endpoints: from a dev network's `network.json` (`--network FILE --as NAME`), or
//! given one by one (`--endpoint URL --cert C --key K --ca CA`) for any deployment. Requests go
//! to the first endpoint that answers; a node that does not is skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// How long one request may take: a submission waits for its block (at most
/// `ledger::client::SUBMIT_WAIT_MS`, 15 s) plus a margin.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection attempt to one node may take before the next node is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A transaction's validity window: from a little before now (clocks differ) to an hour after.
/// A revocation list's thisUpdate is set as far back, for the same reason (`cli::revoke`).
pub(crate) const NOT_BEFORE_SLACK_MS: u64 = 5 * 60 * 1000;
const VALIDITY_MS: u64 = 60 * 60 * 1000;

/// Where and as whom to connect, from the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// A dev network's `network.json` (written by `silkline dev up`).
    #[arg(long, requires = "as_identity", conflicts_with_all = ["endpoint", "cert", "key", "ca"])]
    pub network: Option<PathBuf>,
    /// The identity of `network.json` to act as (`carrier`, `shipper`, `bank`, ...).
    #[arg(long = "as", value_name = "IDENTITY")]
    pub as_identity: Option<String>,
    /// A GraphQL endpoint (`https://host:port/graphql`); repeat for fallbacks.
    #[arg(long, requires_all = ["cert", "key", "ca"])]
    pub endpoint: Vec<String>,
    /// The client certificate chain (PEM, leaf first).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PKCS#8 PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The CA bundle (PEM) the nodes' certificates chain to.
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

/// What the endpoints said to one request ([`ApiClient::graphql`]).
enum Asked {
    /// An endpoint answered (with data, or with an error other than `UNAVAILABLE`).
    Answered(Value),
    /// Every endpoint was unavailable or unreachable.
    Unavailable {
        /// The first `UNAVAILABLE` answer with a retry hint (an overloaded node).
        overloaded: Option<Value>,
        /// The last `UNAVAILABLE` answer without one.
        unavailable: Option<Value>,
        /// One line per endpoint, for the error.
        failures: Vec<String>,
    },
}

impl Asked {
    /// The answer the caller gets: an endpoint's, else an overloaded node's (its retry hint is
    /// the caller's to honour), else, when `resendable`, the last hintless `UNAVAILABLE`
    /// answer; otherwise an error naming every endpoint's failure.
    fn answer(self, resendable: bool) -> anyhow::Result<Value> {
        match self {
            Asked::Answered(v) => Ok(v),
            Asked::Unavailable {
                overloaded,
                unavailable,
                failures,
            } => overloaded
                .or(unavailable.filter(|_| resendable))
                .ok_or_else(|| anyhow::anyhow!("no node answered:\n  {}", failures.join("\n  "))),
        }
    }
}

/// A connected API client.
pub struct ApiClient {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// The identity's certificate and key, PEM, for signing.
    cert_pem: String,
    key_pem: String,
    /// The CA bundle, PEM: with the identity's chain, where a member's CA certificate is found.
    ca_pem: String,
    /// The network id transactions name.
    network_id: Option<String>,
}

struct Resolved {
    endpoints: Vec<String>,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    network_id: Option<String>,
}

fn resolve(target: &Target) -> anyhow::Result<Resolved> {
    if let Some(network) = &target.network {
        let name = target
            .as_identity
            .as_deref()
            .context("--network needs --as IDENTITY")?;
        let text = std::fs::read_to_string(network)
            .with_context(|| format!("read {}", network.display()))?;
        let file: Value =
            serde_json::from_str(&text).with_context(|| format!("parse {}", network.display()))?;
        let identities = file["identities"].as_array().cloned().unwrap_or_default();
        let Some(identity) = identities.iter().find(|i| i["name"] == name) else {
            let names: Vec<&str> = identities
                .iter()
                .filter_map(|i| i["name"].as_str())
                .collect();
            bail!(
                "no identity `{name}` in {}; there are: {}",
                network.display(),
                names.join(", ")
            );
        };
        let path = |v: &Value| PathBuf::from(v.as_str().unwrap_or_default());
        let endpoints: Vec<String> = file["nodes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n["graphql"].as_str().map(str::to_owned))
            .collect();
        if endpoints.is_empty() {
            bail!("{} lists no GraphQL endpoint", network.display());
        }
        return Ok(Resolved {
            endpoints,
            cert: path(&identity["cert"]),
            key: path(&identity["key"]),
            ca: path(&file["ca_bundle"]),
            network_id: file["network_id"].as_str().map(str::to_owned),
        });
    }
    match (&target.cert, &target.key, &target.ca) {
        (Some(cert), Some(key), Some(ca)) if !target.endpoint.is_empty() => Ok(Resolved {
            endpoints: target.endpoint.clone(),
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
            network_id: None,
        }),
        _ => bail!(
            "say where to connect: --network FILE --as IDENTITY, or --endpoint URL --cert C --key K --ca CA"
        ),
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

impl ApiClient {
    /// A client for `target`.
    pub fn new(target: &Target) -> anyhow::Result<ApiClient> {
        let r = resolve(target)?;
        let cert_pem = read(&r.cert)?;
        let key_pem = read(&r.key)?;
        let ca_pem = read(&r.ca)?;
        let chain = pki::pem::certificates(&cert_pem)
            .map_err(anyhow::Error::msg)
            .with_context(|| r.cert.display().to_string())?;
        let key_der = pki::pem::private_key_der(&key_pem)
            .map_err(anyhow::Error::msg)
            .with_context(|| r.key.display().to_string())?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in pki::pem::certificates(&ca_pem)
            .map_err(anyhow::Error::msg)
            .with_context(|| r.ca.display().to_string())?
        {
            roots
                .add(ca)
                .with_context(|| format!("a CA of {}", r.ca.display()))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(pki::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(
                chain,
                rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.into()),
            )
            .context("the client certificate and key")?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("the HTTPS client")?;
        Ok(ApiClient {
            http,
            endpoints: r.endpoints,
            cert_pem,
            key_pem,
            ca_pem,
            network_id: r.network_id,
        })
    }

    /// The same client, talking to `endpoints` only.
    pub fn with_endpoints(self, endpoints: Vec<String>) -> ApiClient {
        ApiClient { endpoints, ..self }
    }

    /// The endpoints it talks to, in the order it tries them.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Posts a GraphQL request to the first endpoint that answers; returns the response body
    /// (with `data` and/or `errors`). An unavailable node (no leader, stopping, overloaded) is
    /// worth trying the next one for; when every node is unavailable and one of them said it is
    /// overloaded, its answer is returned, with `extensions.retryAfterMs` for the caller.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        self.ask(query, variables).await.answer(false)
    }

    /// [`graphql`](Self::graphql), except that when every node answered `UNAVAILABLE` and none
    /// of them with a retry hint, the last such answer is returned rather than an error: a
    /// `submitTransactions` answered so had a transaction proposed but not applied within the
    /// node's wait, and sending the same envelopes again is how its caller learns the outcome.
    pub async fn graphql_resendable(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        self.ask(query, variables).await.answer(true)
    }

    async fn ask(&self, query: &str, variables: Value) -> Asked {
        let body = json!({ "query": query, "variables": variables });
        let mut failures = Vec::new();
        let mut overloaded = None;
        let mut unavailable = None;
        for endpoint in &self.endpoints {
            match self.post(endpoint, &body).await {
                Ok(v) if errors_have_code(&v, "UNAVAILABLE") => {
                    failures.push(format!("{endpoint}: unavailable: {}", first_error(&v)));
                    if v["errors"][0]["extensions"]["retryAfterMs"].is_u64() {
                        overloaded.get_or_insert(v);
                    } else {
                        unavailable = Some(v);
                    }
                }
                Ok(v) => return Asked::Answered(v),
                Err(e) => failures.push(format!("{endpoint}: {e:#}")),
            }
        }
        Asked::Unavailable {
            overloaded,
            unavailable,
            failures,
        }
    }

    async fn post(&self, endpoint: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self.http.post(endpoint).json(body).send().await?;
        let status = response.status();
        response
            .json()
            .await
            .with_context(|| format!("HTTP {status}: the body is not JSON"))
    }

    /// The network id: from `network.json`, else asked of the API.
    pub async fn network_id(&self) -> anyhow::Result<String> {
        if let Some(id) = &self.network_id {
            return Ok(id.clone());
        }
        let v = self.graphql("{ network { id } }", json!({})).await?;
        data(&v)?["network"]["id"]
            .as_str()
            .map(str::to_owned)
            .context("the API did not name its network")
    }

    /// This client's signing key and certificate chain.
    pub fn signer(&self) -> anyhow::Result<pki::jws::Signer> {
        pki::jws::Signer::from_pem(&self.key_pem, &self.cert_pem)
            .map_err(|e| anyhow::anyhow!("the signing key: {e}"))
    }

    /// This client's key and certificate chain as a PINT signer (the carrier's issuance
    /// manifest).
    pub fn pint_signer(&self) -> anyhow::Result<pint::Signer> {
        pint::Signer::from_pem(&self.key_pem, &self.cert_pem)
            .map_err(|e| anyhow::anyhow!("the signing key, for PINT: {e}"))
    }

    /// The CA certificates at hand: those of the identity's chain after its leaf (a member's
    /// intermediate), then the CA bundle's (the members' roots).
    pub fn ca_certificates(
        &self,
    ) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
        let mut chain = pki::pem::certificates(&self.cert_pem)
            .map_err(anyhow::Error::msg)
            .context("the identity's certificate chain")?;
        chain.drain(..chain.len().min(1));
        chain.extend(
            pki::pem::certificates(&self.ca_pem)
                .map_err(anyhow::Error::msg)
                .context("the CA bundle")?,
        );
        Ok(chain)
    }

    /// Signs `body` (a transaction without network, nonce and window) as this client's
    /// identity.
    pub async fn sign(&self, body: Value) -> anyhow::Result<String> {
        let network = self.network_id().await?;
        self.sign_with(&self.signer()?, &network, body)
    }

    /// Signs `body` for `network` with `signer`: a fresh nonce, valid from a little before now
    /// to an hour after.
    pub fn sign_with(
        &self,
        signer: &pki::jws::Signer,
        network: &str,
        body: Value,
    ) -> anyhow::Result<String> {
        sign_body(signer, network, body)
    }
}

/// Signs transaction `body` for `network` with `signer`: a fresh nonce, valid from a little
/// before now to an hour after. How the CLI and the node itself (PINT) sign.
pub fn sign_body(signer: &pki::jws::Signer, network: &str, body: Value) -> anyhow::Result<String> {
    let now = now_ms();
    let mut payload = json!({
        "network": network,
        "nonce": nonce(),
        "notBefore": now.saturating_sub(NOT_BEFORE_SLACK_MS),
        "notAfter": now + VALIDITY_MS,
    });
    for (k, v) in body
        .as_object()
        .context("a transaction body is an object")?
    {
        payload[k] = v.clone();
    }
    Ok(pki::jws::sign(&payload, signer)?)
}

/// `data` of a response, or the first error as an `Err`.
pub fn data(v: &Value) -> anyhow::Result<&Value> {
    if v.get("errors").is_some_and(|e| !e.is_null()) {
        bail!("{}", first_error(v));
    }
    v.get("data").context("the response has no data")
}

fn first_error(v: &Value) -> String {
    let e = &v["errors"][0];
    format!(
        "{} ({})",
        e["message"].as_str().unwrap_or("unknown error"),
        e["extensions"]["code"].as_str().unwrap_or("no code")
    )
}

fn errors_have_code(v: &Value, code: &str) -> bool {
    v["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["extensions"]["code"] == code))
}

pub(crate) fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// 128 random bits, hex: unique per party within a validity window.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(hint: Option<u64>) -> Value {
        let mut e = json!({"message": "m", "extensions": {"code": "UNAVAILABLE"}});
        if let Some(ms) = hint {
            e["extensions"]["retryAfterMs"] = json!(ms);
        }
        json!({ "errors": [e] })
    }

    fn all_unavailable(overloaded: Option<Value>, unavailable: Option<Value>) -> Asked {
        Asked::Unavailable {
            overloaded,
            unavailable,
            failures: vec!["https://a: unavailable: m".into()],
        }
    }

    #[test]
    fn only_a_resendable_request_gets_a_hintless_unavailable_answer_back() {
        let hintless = unavailable(None);
        let err = all_unavailable(None, Some(hintless.clone()))
            .answer(false)
            .unwrap_err();
        assert!(err.to_string().contains("no node answered"), "{err}");
        assert_eq!(
            all_unavailable(None, Some(hintless.clone()))
                .answer(true)
                .unwrap(),
            hintless
        );
        // An overloaded node's answer (with its hint) wins either way.
        let hinted = unavailable(Some(100));
        for resendable in [false, true] {
            let got = all_unavailable(Some(hinted.clone()), Some(hintless.clone()))
                .answer(resendable)
                .unwrap();
            assert_eq!(got, hinted);
        }
        assert!(all_unavailable(None, None).answer(true).is_err());
        let data = json!({"data": {}});
        assert_eq!(Asked::Answered(data.clone()).answer(false).unwrap(), data);
    }
}

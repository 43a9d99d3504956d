//! Holes found by outside testing of the API (issue 12), checked on a real dev network over real
//! mutual TLS:
//!
//! - reads skipped the sponsorship check: a certificate of PORT's CA naming SHIPPER (a party
//!   CARRIER sponsors) read SHIPPER's bills; now every request of such a certificate, reads,
//!   writes and subscriptions alike, is refused `FORBIDDEN` with the ledger's reason
//!   `PARTY_NOT_SPONSORED`;
//! - a revoked certificate kept reading on connections opened before the revocation: now the
//!   next request on the same keep-alive connection is refused `CERTIFICATE_REVOKED` and the
//!   connection closed, and an open subscription ends with that error;
//! - connections that never start TLS could hold every connection slot: now one source address
//!   holds at most `HANDSHAKES_PER_SOURCE_MAX` handshakes, more are closed at once, and a client
//!   from another address is served meanwhile.
//!
//! One network for the whole file (a start costs seconds on the test machine): the checks run as
//! phases of one test. The HTTP of the first two phases is written by hand on one TLS stream, so
//! that "the same connection" is a fact of the test, not an assumption about a client's pool.

use crate::common;

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use base64::Engine as _;
use common::{Api, DevNet, doc_body, document_vars, fixture, now_ms, wait_for};
use graphql::server::HANDSHAKES_PER_SOURCE_MAX;
use pki::dev::{Consortium, IdentityEntry, IdentityRequest};
use pki::{IdentityKind, MemberCode, PartyCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A bill CARRIER issues to SHIPPER: what the probes try to read.
const BILL: &str = "SLK-SEC-001";
/// Largest HTTP response the hand-written client reads: the answers here are a few KiB.
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;
/// How long one hand-written request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The subscription of the revocation phase.
const EVENTS: &str = "subscription { documentEvents { height status possessor document { carrierCode reference } } }";

#[test]
fn certificates_are_checked_per_request_and_idle_connections_cannot_stall_the_api() -> Result<()> {
    let _one_at_a_time = common::exclusive();
    let net = DevNet::start(1)?;
    let carrier = net.api("carrier")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    issue_to_shipper(&net, &carrier, BILL)?;

    a_member_cannot_act_for_a_party_it_does_not_sponsor(&net, &carrier, &rt)?;
    a_revocation_closes_connections_opened_before_it(&net, &carrier, &rt)?;
    idle_connections_that_never_start_tls_do_not_stall_the_api(&net, &rt)?;
    Ok(())
}

/// Issue 12, "Reads skip the sponsorship check": PORT's CA issues a user certificate naming
/// SHIPPER. It chains to a member's CA, so the TLS handshake accepts it; but PORT does not
/// sponsor SHIPPER, so the certificate acts for no one: `document`, `documents`, a mutation and
/// a subscription are each refused `FORBIDDEN` with reason `PARTY_NOT_SPONSORED`, and nothing of
/// SHIPPER's bill is shown. SHIPPER's own certificate (CARRIER's CA) still reads it.
fn a_member_cannot_act_for_a_party_it_does_not_sponsor(
    net: &DevNet,
    carrier: &Api,
    rt: &tokio::runtime::Runtime,
) -> Result<()> {
    let shipper = net.api("shipper")?;
    let d = shipper.data(
        0,
        common::DOCUMENT,
        document_vars("CARRIER", BILL, "TRANSPORT_DOCUMENT", "LOCAL"),
    )?;
    ensure!(d["document"]["possessor"] == "SHIPPER", "{d}");

    let mut consortium = Consortium::open(&net.pki_dir())?;
    let impostor = issue_user(&mut consortium, "port-as-shipper", "PORT", "SHIPPER")?;
    let api = api_of(net, &consortium, &impostor)?;
    let probes = [
        (
            common::DOCUMENT,
            document_vars("CARRIER", BILL, "TRANSPORT_DOCUMENT", "LOCAL"),
        ),
        (
            "{ documents(consistency: LOCAL) { documents { reference possessor } } }",
            json!({}),
        ),
        (
            "query($p: String!) { documents(party: $p) { documents { reference } } }",
            json!({"p": "SHIPPER"}),
        ),
        (
            common::SUBMIT,
            json!({"envelopes": [net.sign("carrier", doc_body("CARRIER", BILL, json!({"action": "SIGN"})))?]}),
        ),
    ];
    for (query, variables) in probes {
        let answer = api.query(0, query, variables)?;
        forbidden(&answer, "PARTY_NOT_SPONSORED").with_context(|| query.to_owned())?;
        ensure!(
            !answer.to_string().contains(BILL),
            "the refusal shows the bill: {answer}"
        );
    }

    // A subscription is refused before the WebSocket opens, with the same rule.
    let tls = client_tls(net, &consortium, &impostor)?;
    let refused = rt.block_on(websocket_refusal(tls, net_address(net)?))?;
    forbidden(&refused, "PARTY_NOT_SPONSORED")?;

    // The certificates of CARRIER's own parties are unaffected.
    let d = carrier.data(0, "{ node { height } }", json!({}))?;
    ensure!(d["node"]["height"].as_u64().is_some(), "{d}");
    Ok(())
}

/// Issue 12, "A revoked certificate keeps reading on connections opened before the revocation":
/// a SHIPPER certificate reads its bill on a keep-alive HTTP/1.1 connection and listens to
/// `documentEvents` on a WebSocket; CARRIER's admin commits `UPDATE_REVOCATIONS` revoking it;
/// the next request on the same connection is refused `CERTIFICATE_REVOKED` and the server
/// closes the connection, and the subscription ends with that error.
fn a_revocation_closes_connections_opened_before_it(
    net: &DevNet,
    carrier: &Api,
    rt: &tokio::runtime::Runtime,
) -> Result<()> {
    /// How long a warm-up round waits for the event a live subscription gets at once.
    const ROUND: Duration = Duration::from_secs(3);
    /// Rounds of provoked events until the subscription is live.
    const WARM_UP_ROUNDS_MAX: usize = 20;

    let mut consortium = Consortium::open(&net.pki_dir())?;
    let kept = issue_user(&mut consortium, "shipper-kept-alive", "CARRIER", "SHIPPER")?;
    let tls = client_tls(net, &consortium, &kept)?;
    let address = net_address(net)?;
    let read = json!({
        "query": common::DOCUMENT,
        "variables": document_vars("CARRIER", BILL, "TRANSPORT_DOCUMENT", "LOCAL"),
    });

    // One connection, kept alive.
    let mut connection = rt.block_on(Https::connect(tls, address, None))?;
    let first = rt.block_on(connection.post(&read))?;
    ensure!(
        first.status == 200 && first.body["data"]["document"]["possessor"] == "SHIPPER",
        "{first:?}"
    );
    ensure!(
        !first.closes,
        "the server ends a keep-alive connection: {first:?}"
    );

    // A live subscription: the carrier issues bills to SHIPPER until one is heard of.
    let api = api_of(net, &consortium, &kept)?;
    let mut events = api.subscribe(0, EVENTS)?;
    let mut live = false;
    for round in 0..WARM_UP_ROUNDS_MAX {
        issue_to_shipper(net, carrier, &format!("SLK-SEC-EVENT-{round}"))?;
        if let Some(event) = api.next_event(&mut events, ROUND)? {
            ensure!(
                event["data"]["documentEvents"]["possessor"] == "SHIPPER",
                "{event:#}"
            );
            live = true;
            break;
        }
    }
    ensure!(
        live,
        "the subscription was not live after {WARM_UP_ROUNDS_MAX} rounds"
    );

    // CARRIER's CA revokes the certificate; its admin publishes the list. On this one-node
    // network the answer comes once the node applied the block.
    let crl = consortium.revoke(&kept.name, i64::try_from(now_ms() / 1000)?)?;
    let update = net.sign(
        "carrier-admin",
        json!({"governance": {
            "action": "UPDATE_REVOCATIONS",
            "crl": base64::engine::general_purpose::STANDARD.encode(&crl),
        }}),
    )?;
    let result = &carrier.submit(0, &[update])?[0];
    ensure!(result["status"] == "COMMITTED", "{result:#}");

    // The same connection: refused with the rule, then closed by the server.
    let second = rt.block_on(connection.post(&read))?;
    ensure!(second.status == 403, "{second:?}");
    forbidden(&second.body, "CERTIFICATE_REVOKED")?;
    ensure!(!second.body.to_string().contains("possessor"), "{second:?}");
    ensure!(
        second.closes,
        "the refusal does not close the connection: {second:?}"
    );
    rt.block_on(connection.expect_closed())?;

    // The subscription: the refusal, then its end.
    let last = api
        .next_event(&mut events, common::DEADLINE)?
        .context("the subscription neither ended nor said why")?;
    forbidden(&last, "CERTIFICATE_REVOKED")?;
    match api.next_event(&mut events, common::DEADLINE) {
        Err(e) if format!("{e:#}").contains("ended") || format!("{e:#}").contains("closed") => {}
        other => bail!("the subscription goes on after the refusal: {other:?}"),
    }
    Ok(())
}

/// Issue 12, "1,100 idle TCP connections": connections that never start TLS need no
/// certificate. From 127.0.0.1, `HANDSHAKES_PER_SOURCE_MAX` + `EXTRA` of them are opened: the
/// server holds the first `HANDSHAKES_PER_SOURCE_MAX` (until its handshake timeout) and closes
/// the `EXTRA` others at once, while the held ones are still open; then a client with a valid
/// certificate, from 127.0.0.2, gets its query answered while they are held.
fn idle_connections_that_never_start_tls_do_not_stall_the_api(
    net: &DevNet,
    rt: &tokio::runtime::Runtime,
) -> Result<()> {
    /// Connections beyond the per-source bound.
    const EXTRA: usize = 32;
    let address = net_address(net)?;
    let mut idle: Vec<TcpStream> = Vec::with_capacity(HANDSHAKES_PER_SOURCE_MAX + EXTRA);
    for _ in 0..HANDSHAKES_PER_SOURCE_MAX + EXTRA {
        let stream = TcpStream::connect(address).context("open an idle connection")?;
        stream.set_nonblocking(true)?;
        idle.push(stream);
    }
    // The server accepts them in the order they were opened; it closes a connection over the
    // bound as it accepts it, and the held ones only after its handshake timeout.
    let closed = wait_for(
        "the connections over the per-source bound to be closed",
        || {
            let closed: Vec<usize> = idle
                .iter()
                .enumerate()
                .filter(|(_, s)| closed_by_server(s))
                .map(|(i, _)| i)
                .collect();
            (closed.len() >= EXTRA).then_some(closed)
        },
    )?;
    let expected: Vec<usize> =
        (HANDSHAKES_PER_SOURCE_MAX..HANDSHAKES_PER_SOURCE_MAX + EXTRA).collect();
    ensure!(
        closed == expected,
        "expected exactly the {EXTRA} connections over the bound closed at once, while the first \
         {HANDSHAKES_PER_SOURCE_MAX} are held; closed: {closed:?}"
    );

    // A real client from another source address is served while they are held.
    let consortium = Consortium::open(&net.pki_dir())?;
    let carrier = consortium
        .identity("carrier")
        .context("the dev consortium's carrier")?
        .clone();
    let tls = client_tls(net, &consortium, &carrier)?;
    let other_source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let answer = rt.block_on(async {
        let mut connection = Https::connect(tls, address, Some(other_source)).await?;
        connection
            .post(&json!({"query": "{ node { id height } }"}))
            .await
    })?;
    ensure!(
        answer.status == 200 && answer.body["data"]["node"]["id"] == "node1",
        "{answer:?}"
    );
    let held = idle[..HANDSHAKES_PER_SOURCE_MAX]
        .iter()
        .filter(|s| !closed_by_server(s))
        .count();
    eprintln!(
        "answered from {other_source} with {held} of {HANDSHAKES_PER_SOURCE_MAX} idle connections still held"
    );
    Ok(())
}

// ----- helpers -----------------------------------------------------------------------------

/// CARRIER issues the to-order fixture as `reference` to SHIPPER.
fn issue_to_shipper(net: &DevNet, carrier: &Api, reference: &str) -> Result<()> {
    let mut content = fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(reference);
    let issue = net.sign(
        "carrier",
        doc_body(
            "CARRIER",
            reference,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        ),
    )?;
    let result = &carrier.submit(0, &[issue])?[0];
    ensure!(result["status"] == "COMMITTED", "{result:#}");
    Ok(())
}

/// A user certificate of `member`'s CA naming `party`, valid from an hour ago for a day.
fn issue_user(
    consortium: &mut Consortium,
    name: &str,
    member: &str,
    party: &str,
) -> Result<IdentityEntry> {
    let now_s = i64::try_from(now_ms() / 1000)?;
    Ok(consortium.issue(&IdentityRequest {
        name: name.into(),
        member: MemberCode::new(member).map_err(anyhow::Error::msg)?,
        party: PartyCode::new(party).map_err(anyhow::Error::msg)?,
        party_name: format!("{party}, certified by {member}"),
        kind: IdentityKind::User,
        node_id: None,
        ips: Vec::new(),
        not_before: now_s - 3600,
        not_after: now_s + 24 * 3600,
    })?)
}

fn pem_of(consortium: &Consortium, identity: &IdentityEntry) -> Result<(String, String)> {
    Ok((
        std::fs::read_to_string(consortium.path(&identity.cert))?,
        std::fs::read_to_string(consortium.path(&identity.key))?,
    ))
}

/// The e2e GraphQL client, presenting `identity`'s certificate.
fn api_of(net: &DevNet, consortium: &Consortium, identity: &IdentityEntry) -> Result<Api> {
    let (cert, key) = pem_of(consortium, identity)?;
    Api::new(
        &std::fs::read_to_string(net.ca_bundle())?,
        &cert,
        &key,
        net.endpoints(),
    )
}

/// A rustls client configuration trusting the network's CAs and presenting `identity`'s
/// certificate, speaking HTTP/1.1.
fn client_tls(
    net: &DevNet,
    consortium: &Consortium,
    identity: &IdentityEntry,
) -> Result<Arc<rustls::ClientConfig>> {
    let (cert, key) = pem_of(consortium, identity)?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in pki::pem::certificates(&std::fs::read_to_string(net.ca_bundle())?)
        .map_err(anyhow::Error::msg)?
    {
        roots.add(ca)?;
    }
    let chain = pki::pem::certificates(&cert).map_err(anyhow::Error::msg)?;
    let key = pki::pem::private_key_der(&key).map_err(anyhow::Error::msg)?;
    let mut config = rustls::ClientConfig::builder_with_provider(pki::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Node 0's API address.
fn net_address(net: &DevNet) -> Result<SocketAddr> {
    let endpoint = net.endpoint(0);
    let authority = endpoint
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("not an https URL: {endpoint}"))?;
    authority
        .parse()
        .with_context(|| format!("not an IP address and port: {authority}"))
}

/// Whether the server closed this idle, non-blocking connection (end of stream or reset); an
/// open one has nothing to read.
fn closed_by_server(mut stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Checks a GraphQL answer is the refusal of a certificate that may not act, for `reason`.
fn forbidden(answer: &Value, reason: &str) -> Result<()> {
    let extensions = &answer["errors"][0]["extensions"];
    ensure!(
        extensions["code"] == "FORBIDDEN" && extensions["reason"] == reason,
        "expected FORBIDDEN ({reason}): {answer}"
    );
    ensure!(
        answer.get("data").is_none_or(Value::is_null),
        "a refused request got data: {answer}"
    );
    Ok(())
}

/// Tries to open a subscription WebSocket; the server's refusal (status 403), as JSON.
async fn websocket_refusal(tls: Arc<rustls::ClientConfig>, address: SocketAddr) -> Result<Value> {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let mut request = format!("wss://{address}/graphql").into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        common::GRAPHQL_TRANSPORT_WS
            .parse()
            .context("header value")?,
    );
    let attempt = async {
        let stream = tls_connect(tls, address, None).await?;
        anyhow::Ok(tokio_tungstenite::client_async(request, stream).await)
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await?? {
        Ok(_) => bail!("the WebSocket opened for a certificate that may not act"),
        Err(Error::Http(response)) => {
            ensure!(response.status() == 403, "{response:?}");
            let body = response.body().as_deref().unwrap_or_default();
            serde_json::from_slice(body).context("the refusal's body is not JSON")
        }
        Err(other) => bail!("the WebSocket failed otherwise: {other}"),
    }
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to `address`, from `source` if given.
async fn tls_connect(
    tls: Arc<rustls::ClientConfig>,
    address: SocketAddr,
    source: Option<IpAddr>,
) -> Result<TlsStream> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("bind to {ip}"))?;
    }
    let tcp = socket.connect(address).await?;
    let name = rustls::pki_types::ServerName::from(address.ip());
    Ok(tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?)
}

/// One HTTP/1.1 connection over TLS, written by hand: every request goes over this one stream.
struct Https {
    stream: TlsStream,
    host: String,
}

/// What the hand-written client read.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The server said `Connection: close`.
    closes: bool,
    body: Value,
}

impl Https {
    async fn connect(
        tls: Arc<rustls::ClientConfig>,
        address: SocketAddr,
        source: Option<IpAddr>,
    ) -> Result<Https> {
        let stream = tokio::time::timeout(REQUEST_TIMEOUT, tls_connect(tls, address, source))
            .await
            .context("the TLS handshake timed out")??;
        Ok(Https {
            stream,
            host: address.to_string(),
        })
    }

    /// POSTs `body` to `/graphql` and reads the answer (bodies with a `Content-Length`).
    async fn post(&mut self, body: &Value) -> Result<Answer> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(body))
            .await
            .context("the request timed out")?
    }

    async fn exchange(&mut self, body: &Value) -> Result<Answer> {
        let body = serde_json::to_vec(body)?;
        let head = format!(
            "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(&body).await?;
        self.stream.flush().await?;

        let mut buffer = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        // Bounded by RESPONSE_BYTES_MAX: each turn reads at least one byte or ends.
        let header_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            ensure!(buffer.len() < RESPONSE_BYTES_MAX, "no end of headers");
            let n = self.stream.read(&mut chunk).await?;
            ensure!(n > 0, "the connection closed before an answer");
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&buffer[..header_end])?.to_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .context("no status line")?
            .parse()?;
        let mut length = None;
        let mut closes = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = Some(value.parse::<usize>()?),
                "connection" => closes = value.eq_ignore_ascii_case("close"),
                "transfer-encoding" => bail!("unexpected transfer-encoding {value}: {head}"),
                _ => {}
            }
        }
        let length = length.with_context(|| format!("no content-length: {head}"))?;
        ensure!(length <= RESPONSE_BYTES_MAX, "an answer of {length} bytes");
        // Bounded by `length`.
        while buffer.len() < header_end + length {
            let n = self.stream.read(&mut chunk).await?;
            ensure!(n > 0, "the connection closed inside the body");
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = serde_json::from_slice(&buffer[header_end..header_end + length])
            .context("the body is not JSON")?;
        Ok(Answer {
            status,
            closes,
            body,
        })
    }

    /// Waits for the server to close the connection (end of stream, or a reset), with nothing
    /// more sent.
    async fn expect_closed(&mut self) -> Result<()> {
        let mut chunk = [0u8; 1024];
        let read = tokio::time::timeout(REQUEST_TIMEOUT, self.stream.read(&mut chunk))
            .await
            .context("the server kept the connection open")?;
        match read {
            Ok(0) | Err(_) => Ok(()),
            Ok(n) => bail!("the server sent {n} more bytes instead of closing"),
        }
    }
}

//! The HTTPS listener: rustls with the node's certificate; every client presents a certificate
//! that the ledger's current trust store accepts (a member's CA, not revoked by the member's
//! latest CRL on the ledger, valid now) and that is checked again for every request
//! ([`Session`]); limits on connections, handshakes and request bodies.
//!
//! Routes: `POST /graphql` (queries and mutations), `GET /graphql` (WebSocket subscriptions,
//! `graphql-transport-ws` and `graphql-ws`), `GET /health`.
//!
//! Connection slots: at most [`CONNECTIONS_MAX`] connections at once, of which at most
//! [`HANDSHAKES_MAX`] still in their TLS handshake, at most [`HANDSHAKES_PER_SOURCE_MAX`] of
//! those from one source address; the other [`AUTHENTICATED_RESERVE`] slots only connections
//! whose client certificate was accepted may hold. A connection over a limit is closed as soon
//! as it is accepted, so connections that never start TLS (they need no certificate) can
//! neither queue up in front of real clients nor take the slots of authenticated ones.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::{StatusCode, Version, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures_util::{SinkExt as _, StreamExt as _};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ledger::LedgerReader;
use pki::Purpose;
use pki::tls::{ChainCheck, ClientVerifier, provider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::caller::{Refusal, Session};
use crate::schema::ApiSchema;

/// Largest request body: a full `submitTransactions` (128 envelopes of up to 128 KiB, as JSON
/// strings) is 16 MiB at most; ordinary requests are a few KiB. Beyond it: 413.
pub const REQUEST_BODY_BYTES_MAX: usize = 17 * 1024 * 1024;

/// Connections served at once, WebSockets included: each holds a socket, TLS state and a task.
/// A connection beyond it is closed as soon as it is accepted.
pub const CONNECTIONS_MAX: usize = 1024;

/// Slots of [`CONNECTIONS_MAX`] that only connections whose TLS handshake completed (a client
/// certificate of a member's CA, accepted) may hold. Opening a TCP connection needs no
/// certificate, so without a reserve connections that never start TLS could take every slot;
/// with it, a quarter of the slots stays for clients the node can hold to account.
pub const AUTHENTICATED_RESERVE: usize = 256;

/// Connections at once whose TLS handshake has not completed: the slots outside the reserve.
pub const HANDSHAKES_MAX: usize = CONNECTIONS_MAX - AUTHENTICATED_RESERVE;

/// Connections at once from one source IP address whose TLS handshake has not completed. A
/// client's handshake takes milliseconds, so even a pool of clients opening connections in a
/// burst (`silkline bench` opens one per worker) rarely has more than a few dozen in progress;
/// an address holding more is most likely idling them on purpose. At this bound one address
/// holds a sixth of [`HANDSHAKES_MAX`]: others still get through.
pub const HANDSHAKES_PER_SOURCE_MAX: usize = 128;

/// A TLS handshake not finished in this time is dropped (slowloris). A TLS 1.3 handshake is two
/// round trips plus the client's signature: well under a second on any network a member runs a
/// client on, even across continents (~300 ms round trips). Three seconds leaves room for a
/// loaded client while an idle connection holds a handshake slot three times less long than
/// the former 10 s, so holding the slots costs an attacker three times as many connections per
/// second.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 3_000;

/// Once a connection's certificate may no longer act (revoked, say) or the node is stopping,
/// how long the connection may take to deliver what it still owes its client (the refusal, the
/// end of its subscriptions) before it is dropped: a client that stops reading cannot keep its
/// slot.
pub const CLOSING_DRAIN_MS: u64 = 5_000;

/// After `accept` fails (out of file descriptors, typically), the listener waits this long
/// before accepting again, instead of spinning on the same error.
pub const ACCEPT_ERROR_BACKOFF_MS: u64 = 100;

/// HTTP/2 requests one connection may have in flight at once (hyper's default is 200). A client
/// wanting more parallelism opens more connections, which count against [`CONNECTIONS_MAX`];
/// each stream may carry a request body of up to [`REQUEST_BODY_BYTES_MAX`].
pub const STREAMS_PER_CONNECTION_MAX: u32 = 32;

/// The WebSocket close code for a certificate that may no longer act: graphql-ws's `Forbidden`.
const WS_CLOSE_FORBIDDEN: u16 = 4403;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Checks API clients against the ledger's trust store as it is at each handshake, so a
/// revocation committed on the ledger shuts a certificate out of new connections at once. The
/// store is the ledger's current one, shared, not copied (`pki::trust_store`).
#[derive(Debug)]
struct LedgerClientVerifier {
    reader: LedgerReader,
}

impl ChainCheck for LedgerClientVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let trust = self.reader.trust_store();
        pki::tls::verify_presented(&trust, end_entity, intermediates, now, Purpose::TlsClient)
            .map(|_| ())
            .map_err(|e| {
                tracing::info!(reason = %e, "refused an API client certificate");
                pki::tls::refused(Some(&e.clone()), e)
            })
    }
}

/// The server's rustls configuration: the node's certificate chain and key, client
/// certificates required and checked against `reader`'s current trust store. TLS 1.2 and 1.3
/// (curl and browsers), no session resumption (every connection's certificate is checked
/// against the CRLs as they are then), ALPN for HTTP/2 and HTTP/1.1.
pub fn tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    reader: LedgerReader,
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certificate = Arc::new(std::sync::RwLock::new(pki::tls::certified_key(chain, key)?));
    renewable_tls_config(certificate, reader)
}

/// [`tls_config`] presenting whatever `certificate` holds at each handshake: the node replaces
/// it when its certificate is renewed (SIGHUP), and new connections present the new one.
pub fn renewable_tls_config(
    certificate: pki::tls::SharedCertificate,
    reader: LedgerReader,
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(ClientVerifier(LedgerClientVerifier { reader })))
        .with_cert_resolver(Arc::new(pki::tls::CurrentCertificate(certificate)));
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

// ----- connection slots --------------------------------------------------------------------

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Crowded {
    #[error(
        "its source address already has {HANDSHAKES_PER_SOURCE_MAX} TLS handshakes in progress"
    )]
    Source,
    #[error("{HANDSHAKES_MAX} TLS handshakes are already in progress")]
    Handshakes,
    #[error("{CONNECTIONS_MAX} connections are already open")]
    Connections,
}

#[derive(Debug, Default)]
struct SlotCounts {
    /// Every connection holding a slot.
    connections: usize,
    /// Those whose handshake has not completed.
    handshakes: usize,
    /// Those again, by source address (no entry at zero).
    handshakes_by_source: HashMap<IpAddr, usize>,
}

/// The listener's connection slots.
#[derive(Debug, Default)]
struct Slots {
    counts: Mutex<SlotCounts>,
}

impl Slots {
    fn counts(&self) -> std::sync::MutexGuard<'_, SlotCounts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a connection from `source` that is about to start its TLS handshake.
    fn admit(self: &Arc<Slots>, source: IpAddr) -> Result<Slot, Crowded> {
        let source = source.to_canonical();
        let mut counts = self.counts();
        let from_source = counts
            .handshakes_by_source
            .get(&source)
            .copied()
            .unwrap_or(0);
        if from_source >= HANDSHAKES_PER_SOURCE_MAX {
            return Err(Crowded::Source);
        }
        if counts.handshakes >= HANDSHAKES_MAX {
            return Err(Crowded::Handshakes);
        }
        if counts.connections >= CONNECTIONS_MAX {
            return Err(Crowded::Connections);
        }
        counts.connections += 1;
        counts.handshakes += 1;
        *counts.handshakes_by_source.entry(source).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            source,
            handshaking: true,
        })
    }
}

/// One connection's slot, released when dropped; a handshake slot until
/// [`authenticated`](Slot::authenticated).
#[derive(Debug)]
struct Slot {
    slots: Arc<Slots>,
    source: IpAddr,
    handshaking: bool,
}

impl Slot {
    /// The handshake completed: the connection no longer counts against the handshake limits
    /// and may hold a reserved slot.
    fn authenticated(&mut self) {
        if self.handshaking {
            self.handshaking = false;
            self.slots.counts().release_handshake(self.source);
        }
    }
}

impl SlotCounts {
    fn release_handshake(&mut self, source: IpAddr) {
        self.handshakes = self.handshakes.saturating_sub(1);
        if let Some(n) = self.handshakes_by_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.handshakes_by_source.remove(&source);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        if self.handshaking {
            counts.release_handshake(self.source);
        }
        counts.connections = counts.connections.saturating_sub(1);
    }
}

// ----- routes ------------------------------------------------------------------------------

/// The routes, for a schema. Every request passes [`authorize`] first.
fn router(schema: ApiSchema) -> Router {
    Router::new()
        .route("/graphql", post(graphql_http).get(graphql_ws))
        .route("/health", get(|| async { "ok" }))
        .route_layer(middleware::from_fn(authorize))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(schema)
}

/// Checks the connection's certificate again for each request ([`Session::authorize`]): a
/// refused one is answered 403 with the rule (`FORBIDDEN` and its `reason`), and its connection
/// closes after the answer (HTTP/1.1 `Connection: close`; the connection task shuts HTTP/2
/// down when the session is refused).
async fn authorize(
    Extension(session): Extension<Arc<Session>>,
    version: Version,
    request: Request,
    next: Next,
) -> Response {
    match session.authorize() {
        Ok(_) => next.run(request).await,
        Err(refusal) => refused(&refusal, version),
    }
}

fn refused(refusal: &Refusal, version: Version) -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        axum::Json(refusal.to_response_body()),
    )
        .into_response();
    if version <= Version::HTTP_11 {
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

async fn graphql_http(
    State(schema): State<ApiSchema>,
    Extension(session): Extension<Arc<Session>>,
    body: Bytes,
) -> Response {
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let body = serde_json::json!({
                "errors": [{
                    "message": format!("the body is not a GraphQL request: {e}"),
                    "extensions": {"code": crate::error::BAD_REQUEST},
                }]
            });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let response = schema.execute(request.data(session)).await;
    axum::Json(response).into_response()
}

/// A WebSocket of subscriptions (and queries). The connection keeps its slot while the
/// WebSocket is open. Once its certificate may no longer act (checked at every block), each
/// subscription sends the refusal and ends, then the WebSocket closes with `4403 Forbidden`.
async fn graphql_ws(
    State(schema): State<ApiSchema>,
    Extension(session): Extension<Arc<Session>>,
    Extension(slot): Extension<Arc<Slot>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A WebSocket message is a request: no larger than an HTTP request's body may be.
    upgrade
        .max_message_size(REQUEST_BODY_BYTES_MAX)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let (mut sink, stream) = socket.split();
            let drained = {
                let session = session.clone();
                async move { session.drained().await }
            };
            let mut data = async_graphql::Data::default();
            data.insert(session.clone());
            let input = stream.take_until(drained);
            let mut serve = Box::pin(
                GraphQLWebSocket::new_with_pair(&mut sink, input, schema, protocol)
                    .with_data(data)
                    .serve(),
            );
            let refusal = tokio::select! {
                () = &mut serve => return,
                refusal = session.refused_at_any_block() => refusal,
            };
            // The subscriptions send the refusal and end; then `drained` ends the input and
            // with it `serve`.
            let drain = Duration::from_millis(CLOSING_DRAIN_MS);
            if tokio::time::timeout(drain, &mut serve).await.is_err() {
                return;
            }
            drop(serve);
            let close = Message::Close(Some(CloseFrame {
                code: WS_CLOSE_FORBIDDEN,
                reason: format!("Forbidden: {}", refusal.reason).into(),
            }));
            let _ = tokio::time::timeout(drain, sink.send(close)).await;
        })
}

// ----- the listener ------------------------------------------------------------------------

/// Serves `schema` on `listener` until `shutdown` turns true. Each connection's client
/// certificate becomes the [`Session`] of its requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    schema: ApiSchema,
    reader: LedgerReader,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let routes = router(schema);
    let slots = Arc::new(Slots::default());
    // Ends with `shutdown`; each turn accepts one connection.
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ACCEPT_ERROR_BACKOFF_MS)) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let slot = match slots.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(crowded) => {
                // Debug only: a flood must not become a flood of log lines.
                tracing::debug!(%peer, reason = %crowded, "closed a new API connection at once");
                drop(tcp);
                continue;
            }
        };
        tokio::spawn(connection(
            tcp,
            peer,
            slot,
            acceptor.clone(),
            routes.clone(),
            reader.clone(),
            shutdown.clone(),
        ));
    }
}

/// One connection: the TLS handshake within [`HANDSHAKE_TIMEOUT_MS`], then HTTP until the
/// client leaves, the node stops or the certificate may no longer act.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    mut slot: Slot,
    acceptor: tokio_rustls::TlsAcceptor,
    routes: Router,
    reader: LedgerReader,
    mut shutdown: watch::Receiver<bool>,
) {
    let handshake = tokio::time::timeout(
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        acceptor.accept(tcp),
    );
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    slot.authenticated();
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let session = match Session::open(reader, chain) {
        Ok(session) => Arc::new(session),
        Err(refusal) => {
            tracing::info!(%peer, reason = refusal.reason, "refused an API client after the handshake: {}", refusal.message);
            return;
        }
    };
    let service = TowerToHyperService::new(
        routes
            .layer(Extension(session.clone()))
            .layer(Extension(Arc::new(slot))),
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_concurrent_streams(STREAMS_PER_CONNECTION_MAX);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.changed() => {}
        _ = session.refused() => {}
    }
    // The node is stopping, or a request was refused: finish what is in flight, then close.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_millis(CLOSING_DRAIN_MS), connection).await;
}

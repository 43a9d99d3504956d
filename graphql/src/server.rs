//! The HTTPS listener: rustls with the node's certificate; every client presents a certificate
//! that the ledger's current trust store accepts (a member's CA, not revoked by the member's
//! latest CRL on the ledger, valid now); limits on connections and request bodies.
//!
//! Routes: `POST /graphql` (queries and mutations), `GET /graphql` (WebSocket subscriptions,
//! `graphql-transport-ws` and `graphql-ws`), `GET /health`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ledger::chain::LedgerReader;
use ledger::transport::tls::{SIGNATURE_ALGORITHMS, provider};
use pki::{Purpose, TrustStore};
use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, OtherError, SignatureScheme};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::caller::Caller;
use crate::schema::ApiSchema;

/// Largest request body: a full `submitTransactions` (128 envelopes of up to 128 KiB, as JSON
/// strings) is 16 MiB at most; ordinary requests are a few KiB. Beyond it: 413.
pub const REQUEST_BODY_BYTES_MAX: usize = 17 * 1024 * 1024;

/// Connections served at once; more wait in the kernel's accept queue.
pub const CONNECTIONS_MAX: usize = 1024;

/// A TLS handshake not finished in this time is dropped (slowloris).
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// Verifies API clients against the ledger's trust store as it is at each handshake, so a
/// revocation committed on the ledger shuts a certificate out of new connections at once.
#[derive(Debug)]
struct LedgerClientVerifier {
    reader: LedgerReader,
}

impl LedgerClientVerifier {
    fn identify(
        trust: &TrustStore,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<pki::Identity, pki::IdentityError> {
        let mut chain = Vec::with_capacity(1 + intermediates.len());
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        trust.verify_identity(&chain, now.as_secs(), Purpose::TlsClient)
    }
}

impl ClientCertVerifier for LedgerClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let trust = self.reader.trust_store();
        match Self::identify(&trust, end_entity, intermediates, now) {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(e) => {
                tracing::info!(reason = %e, "refused an API client certificate");
                let error = match e {
                    pki::IdentityError::UnknownIssuer => CertificateError::UnknownIssuer,
                    pki::IdentityError::Expired { .. } => CertificateError::Expired,
                    pki::IdentityError::NotYetValid { .. } => CertificateError::NotValidYet,
                    pki::IdentityError::Revoked { .. } => CertificateError::Revoked,
                    other => CertificateError::Other(OtherError(Arc::new(other))),
                };
                Err(rustls::Error::InvalidCertificate(error))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &SIGNATURE_ALGORITHMS)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &SIGNATURE_ALGORITHMS)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SIGNATURE_ALGORITHMS.supported_schemes()
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
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(LedgerClientVerifier { reader }))
        .with_single_cert(chain, key)?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The routes, for a schema.
fn router(schema: ApiSchema) -> Router {
    Router::new()
        .route("/graphql", post(graphql_http).get(graphql_ws))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(schema)
}

async fn graphql_http(
    State(schema): State<ApiSchema>,
    Extension(caller): Extension<Caller>,
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
    let response = schema.execute(request.data(caller)).await;
    axum::Json(response).into_response()
}

async fn graphql_ws(
    State(schema): State<ApiSchema>,
    Extension(caller): Extension<Caller>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            let mut data = async_graphql::Data::default();
            data.insert(caller);
            GraphQLWebSocket::new(stream, schema, protocol)
                .with_data(data)
                .serve()
        })
}

/// Serves `schema` on `listener` until `shutdown` turns true. Each connection's client
/// certificate becomes the [`Caller`] of its requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    schema: ApiSchema,
    reader: LedgerReader,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let routes = router(schema);
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        let reader = reader.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
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
            let Some(caller) = caller_of(&reader, tls.get_ref().1.peer_certificates(), peer) else {
                return;
            };
            let service = TowerToHyperService::new(routes.layer(Extension(caller)));
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = shutdown.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

/// The caller a verified connection's certificate names (verified again: the verifier cannot
/// hand its result to the connection).
fn caller_of(
    reader: &LedgerReader,
    certs: Option<&[CertificateDer<'static>]>,
    peer: SocketAddr,
) -> Option<Caller> {
    let (leaf, intermediates) = certs.and_then(<[_]>::split_first)?;
    let identity = match LedgerClientVerifier::identify(
        &reader.trust_store(),
        leaf,
        intermediates,
        UnixTime::now(),
    ) {
        Ok(identity) => identity,
        Err(e) => {
            tracing::info!(%peer, reason = %e, "refused an API client after the handshake");
            return None;
        }
    };
    let caller = Caller::of(&identity, reader.genesis());
    if caller.is_none() {
        tracing::info!(%peer, "an API client's certificate names no usable party");
    }
    caller
}

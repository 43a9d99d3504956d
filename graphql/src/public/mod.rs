//! The public verification page: what a bank or a customs officer holding a printed copy sees
//! when they scan its QR code. An HTTPS listener of its own, beside the API, for anyone: no
//! client certificate, and nothing a visitor could not already know.
//!
//! Routes:
//! - `GET /verify/{carrier}/{reference}/{sha256}`: the address a Silkline PDF's QR code gives
//!   (`adapters::pdf::verify_url`). Whether a record has exactly this content, and if so its
//!   public facts: type, carrier, the member whose CA signed its issue, status in words and
//!   since when, whether the copy matches ([`verify`], rendered by [`page`]).
//! - `POST /verify`: the same check for a file the visitor brings, from the page's form
//!   (`multipart/form-data`, field `document`) or as a raw body: DCSA JSON, or a PDF Silkline
//!   rendered, whose attached `transport-document.json` is checked.
//! - `GET /` and `GET /verify`: what the service does, and the form.
//!
//! A copy that matches no record gets one constant page with 404, whether the document exists
//! or not ([`verify`] explains how the lookup keeps the two indistinguishable).
//!
//! Limits ([`limits`]): requests per source address (token buckets, 429 with `Retry-After`
//! past them), connections in all and per source, the TLS handshake's time, a request's
//! headers' time, a connection's lifetime, the upload's size, PDFs read one at a time off the
//! async workers.
//!
//! What it is not: the API. It knows no caller, serves no GraphQL, shows no party, holder or
//! content, and writes nothing; it reads the ledger through [`LedgerReader`] only.

pub mod limits;
pub mod page;
pub mod verify;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ledger::LedgerReader;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use limits::{ConnectionSlots, RateLimiter, Slot};
use verify::Verdict;

/// Largest upload: a Silkline PDF of a bill with the largest content the ledger takes (64 KiB
/// of DCSA JSON) and a long endorsement chain is a few hundred KiB (the fonts are embedded as
/// subsets); DCSA JSON is at most 64 KiB in canonical form, a few times that pretty-printed.
/// Two MiB takes any of them and bounds what parsing an upload can cost.
pub const UPLOAD_BYTES_MAX: usize = 2 * 1024 * 1024;

/// Uploads read at once, node-wide, on tokio's blocking threads: reading a PDF is the one
/// costly thing a visitor can ask for (milliseconds of CPU for a real rendering, more for a
/// crafted file), so no number of visitors can take more than this many threads from the node.
pub const UPLOADS_CONCURRENT_MAX: usize = 2;

/// A TLS handshake not finished in this time is dropped: a visitor's handshake is one or two
/// round trips, well under a second even on a mobile network, and a connection that idles in
/// its handshake must not hold a slot for long.
pub const PUBLIC_HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// An HTTP/1.1 connection must send a request's headers within this time (also while it idles
/// between requests): a browser sends them at once, a slowloris client dribbling them does not
/// keep its slot.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;

/// How long one connection may stay open, whatever it does; then it is closed after what is in
/// flight. Loading the page or checking a file takes a second or two, and a browser reconnects
/// at once when it needs to, so a minute costs visitors nothing and keeps any one connection
/// (a slow upload, an idle HTTP/2 session) from holding a slot indefinitely.
pub const CONNECTION_LIFETIME_MS: u64 = 60_000;

/// How long a closing connection may take to finish the request in flight.
pub const CLOSING_DRAIN_MS: u64 = 5_000;

/// HTTP/2 streams one connection may have open at once: a page is one request, and the rate
/// limit counts each stream, so more would only let one connection queue work.
pub const STREAMS_PER_CONNECTION_MAX: u32 = 8;

/// Fields of an upload form looked at to find the file: the form has one.
pub const FORM_FIELDS_MAX: usize = 4;

/// After `accept` fails (out of file descriptors, typically), the listener waits this long
/// before accepting again, instead of spinning on the same error.
pub const ACCEPT_ERROR_BACKOFF_MS: u64 = 100;

/// The headers of every page: HTML that runs no script and loads nothing, kept by no cache (the
/// status it shows can change at the next block) and shown in no frame; no `Referer` carries
/// the address, which holds a checksum, anywhere.
const PAGE_HEADERS: [(header::HeaderName, &str); 6] = [
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    (header::CACHE_CONTROL, "no-store"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum PublicError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("public base URL {0:?}: must be an http:// or https:// URL without query or fragment")]
    BaseUrl(String),
}

/// The rustls configuration of the public listener: the given certificate chain and key, no
/// client certificate, TLS 1.2 and 1.3 with aws-lc-rs's default suites (what browsers speak),
/// ALPN for HTTP/2 and HTTP/1.1. Browsers accept ECDSA and RSA certificates, not Ed25519.
pub fn public_tls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, PublicError> {
    let mut config = rustls::ServerConfig::builder_with_provider(pki::tls::public_provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The path part of `base_url` (`https://host[:port][/path]`), without a trailing `/`: where
/// the routes are as visitors address them (a reverse proxy may add a prefix). Refuses what
/// `adapters::pdf::verify_url` refuses: another scheme, no host, spaces, control characters, a
/// query or a fragment.
pub fn base_path(base_url: &str) -> Result<String, PublicError> {
    let bad = || PublicError::BaseUrl(base_url.to_owned());
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty()
        || rest.starts_with('/')
        || rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(bad());
    }
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    Ok(path.trim_end_matches('/').to_owned())
}

/// The rate limiter's clock: milliseconds since the listener started, or (in tests) a time
/// that does not move, so that no token comes back while a test runs.
enum Clock {
    Monotonic(Instant),
    #[cfg(test)]
    Frozen(u64),
}

/// What every request shares.
struct Site {
    reader: LedgerReader,
    limiter: Mutex<RateLimiter>,
    clock: Clock,
    /// Where the form posts to: the base URL's path and `/verify`.
    form_action: String,
    uploads: Semaphore,
}

impl Site {
    fn now_ms(&self) -> u64 {
        match self.clock {
            Clock::Monotonic(started) => {
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            #[cfg(test)]
            Clock::Frozen(ms) => ms,
        }
    }
}

/// The source address of a connection's requests.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// An HTML page with [`PAGE_HEADERS`].
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in PAGE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/verify", get(index).post(upload))
        .route("/verify/{carrier}/{reference}/{checksum}", get(by_address))
        .fallback(not_a_page)
        .layer(middleware::from_fn_with_state(site.clone(), rate_limit))
        .layer(DefaultBodyLimit::max(UPLOAD_BYTES_MAX))
        .with_state(site)
}

/// Takes one token from the source's bucket for every request, whatever its route; past the
/// bucket, 429 with `Retry-After`.
async fn rate_limit(
    State(site): State<Arc<Site>>,
    Extension(Peer(peer)): Extension<Peer>,
    request: Request,
    next: Next,
) -> Response {
    let checked = site
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(peer.ip(), site.now_ms());
    match checked {
        Ok(()) => next.run(request).await,
        Err(retry) => {
            tracing::debug!(%peer, "public page: rate limited");
            let mut response = html(
                StatusCode::TOO_MANY_REQUESTS,
                page::too_many_requests(retry, &site.form_action),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry.seconds));
            response
        }
    }
}

async fn index(State(site): State<Arc<Site>>) -> Response {
    html(StatusCode::OK, page::index(&site.form_action))
}

async fn not_a_page(State(site): State<Arc<Site>>) -> Response {
    html(StatusCode::NOT_FOUND, page::not_a_page(&site.form_action))
}

/// The page for a verdict: 200 for a match, 404 (the constant page) for none.
fn verdict_page(
    site: &Site,
    verdict: Result<Verdict, ledger::ChainError>,
    upload: Option<verify::UploadKind>,
) -> Response {
    match verdict {
        Ok(Verdict::Authentic(record)) => html(
            StatusCode::OK,
            page::authentic(&record, upload, &site.form_action),
        ),
        Ok(Verdict::NoMatch) => html(StatusCode::NOT_FOUND, page::no_match(&site.form_action)),
        Err(e) => {
            tracing::warn!(error = %e, "public page: the ledger could not be read");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                page::unavailable(&site.form_action),
            )
        }
    }
}

/// The QR code's address. Segments that do not even decode (invalid UTF-8 behind their
/// percent-escapes) name no document: the same page as any other copy without a record.
async fn by_address(
    State(site): State<Arc<Site>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((carrier, reference, checksum))) = path else {
        return verdict_page(&site, Ok(Verdict::NoMatch), None);
    };
    let verdict = verify::by_reference(&site.reader, &carrier, &reference, &checksum);
    verdict_page(&site, verdict, None)
}

/// A file the visitor brings: the form's `document` field, or the whole body.
async fn upload(State(site): State<Arc<Site>>, request: Request) -> Response {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let bytes = if is_form {
        form_file(request).await
    } else {
        axum::body::to_bytes(request.into_body(), UPLOAD_BYTES_MAX)
            .await
            .map(|b| b.to_vec())
            .map_err(|_| Rejected::TooLarge)
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(Rejected::TooLarge) => {
            return html(
                StatusCode::PAYLOAD_TOO_LARGE,
                page::too_large(UPLOAD_BYTES_MAX, &site.form_action),
            );
        }
        Err(Rejected::Unreadable(reason)) => {
            return html(
                StatusCode::BAD_REQUEST,
                page::unreadable(&reason, &site.form_action),
            );
        }
    };
    let Ok(_permit) = site.uploads.acquire().await else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::unavailable(&site.form_action),
        );
    };
    let read = tokio::task::spawn_blocking(move || verify::content_of_upload(&bytes)).await;
    match read {
        Ok(Ok((content, kind))) => {
            let verdict = verify::by_content(&site.reader, &content);
            verdict_page(&site, verdict, Some(kind))
        }
        Ok(Err(reason)) => html(
            StatusCode::BAD_REQUEST,
            page::unreadable(&reason, &site.form_action),
        ),
        Err(e) => {
            // A panic while reading a crafted file: the file is refused, the node goes on.
            tracing::warn!(error = %e, "public page: reading an upload failed");
            html(
                StatusCode::BAD_REQUEST,
                page::unreadable(
                    &verify::Unreadable::Pdf("the file could not be read".to_owned()),
                    &site.form_action,
                ),
            )
        }
    }
}

enum Rejected {
    TooLarge,
    Unreadable(verify::Unreadable),
}

/// The bytes of the form's file: the field named `document`, or else the first field that
/// carries a file name, among the first [`FORM_FIELDS_MAX`] fields.
async fn form_file(request: Request) -> Result<Vec<u8>, Rejected> {
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Rejected::TooLarge
        } else {
            Rejected::Unreadable(verify::Unreadable::Pdf(format!(
                "the form could not be read: {}",
                e.body_text()
            )))
        }
    };
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| Rejected::Unreadable(verify::Unreadable::Pdf(e.body_text())))?;
    for _ in 0..FORM_FIELDS_MAX {
        let Some(mut field) = form.next_field().await.map_err(failed)? else {
            break;
        };
        if field.name() != Some("document") && field.file_name().is_none() {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            if bytes.len() + chunk.len() > UPLOAD_BYTES_MAX {
                return Err(Rejected::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(Rejected::Unreadable(verify::Unreadable::Empty))
}

// ----- the listener ------------------------------------------------------------------------

/// Serves the verification page on `listener` until `shutdown` turns true. `base_url` is the
/// address visitors reach it at (the QR codes' base), for the form's action.
pub async fn serve_public(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    reader: LedgerReader,
    base_url: &str,
    shutdown: watch::Receiver<bool>,
) -> Result<(), PublicError> {
    let site = Arc::new(Site {
        reader,
        limiter: Mutex::new(RateLimiter::new(0)),
        clock: Clock::Monotonic(Instant::now()),
        form_action: format!("{}/verify", base_path(base_url)?),
        uploads: Semaphore::new(UPLOADS_CONCURRENT_MAX),
    });
    serve_routes(listener, tls, router(site), shutdown).await;
    Ok(())
}

/// Serves `routes` over TLS on `listener` until `shutdown` turns true, with the public
/// listener's limits: connections per address and in all, a handshake deadline, header read
/// timeout, streams per connection and a connection lifetime. Each request carries the
/// client's address as an `Extension<Peer>`. The public verification page and the PINT
/// endpoints (`adapters::pint`) are served by it.
pub async fn serve_routes(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    routes: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = Arc::new(ConnectionSlots::default());
    // Ends with `shutdown`; each turn accepts one connection.
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "public listener: accept failed");
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
                tracing::debug!(%peer, reason = %crowded, "public listener: closed a new connection at once");
                continue;
            }
        };
        tokio::spawn(connection(
            tcp,
            peer,
            slot,
            acceptor.clone(),
            routes.clone(),
            shutdown.clone(),
        ));
    }
}

/// One connection: the TLS handshake within [`PUBLIC_HANDSHAKE_TIMEOUT_MS`], then HTTP until
/// the visitor leaves, the node stops or [`CONNECTION_LIFETIME_MS`] has passed.
async fn connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: Slot,
    acceptor: tokio_rustls::TlsAcceptor,
    routes: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let _slot = slot;
    let lifetime = tokio::time::sleep(Duration::from_millis(CONNECTION_LIFETIME_MS));
    tokio::pin!(lifetime);
    let handshake = tokio::time::timeout(
        Duration::from_millis(PUBLIC_HANDSHAKE_TIMEOUT_MS),
        acceptor.accept(tcp),
    );
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "public listener: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "public listener: TLS handshake timed out");
            return;
        }
    };
    let service = TowerToHyperService::new(routes.layer(Extension(Peer(peer))));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(HEADER_READ_TIMEOUT_MS));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(STREAMS_PER_CONNECTION_MAX);
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "public connection ended with an error");
            }
            return;
        }
        _ = shutdown.changed() => {}
        () = &mut lifetime => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_millis(CLOSING_DRAIN_MS), connection).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn body_text(body: Body) -> String {
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn the_base_path_is_what_follows_the_authority() {
        assert_eq!(base_path("https://127.0.0.1:8443").unwrap(), "");
        assert_eq!(base_path("https://127.0.0.1:8443/").unwrap(), "");
        assert_eq!(
            base_path("https://verify.example.org/silkline/").unwrap(),
            "/silkline"
        );
        assert_eq!(base_path("http://x/a/b").unwrap(), "/a/b");
        for bad in [
            "ftp://x",
            "https://",
            "https:///p",
            "https://x/?q",
            "https://x/#f",
            "https://x y",
            "x",
        ] {
            assert!(base_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_page_carries_the_headers_that_keep_it_inert() {
        let response = html(StatusCode::OK, String::new());
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::REFERRER_POLICY], "no-referrer");
    }

    #[tokio::test]
    async fn the_rate_limit_answers_429_with_retry_after_for_one_source_only() {
        use tower::ServiceExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (_state, reader) = test_ledger(dir.path());
        let site = test_site(reader);
        let request = |ip: &str| {
            let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
            router(site.clone())
                .layer(Extension(Peer(peer)))
                .oneshot(Request::get("/verify").body(Body::empty()).unwrap())
        };
        for i in 0..limits::REQUESTS_PER_SOURCE_BURST {
            assert_eq!(
                request("127.0.0.1").await.unwrap().status(),
                StatusCode::OK,
                "{i}"
            );
        }
        let refused = request("127.0.0.1").await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert!(
            body_text(refused.into_body())
                .await
                .contains("data-verdict=\"rate-limited\"")
        );
        assert_eq!(request("127.0.0.2").await.unwrap().status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_address_that_does_not_decode_gets_the_no_match_page() {
        use tower::ServiceExt as _;
        let dir = tempfile::tempdir().unwrap();
        let (_state, reader) = test_ledger(dir.path());
        let site = test_site(reader);
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let get = |uri: &str| {
            router(site.clone())
                .layer(Extension(Peer(peer)))
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        };
        let sum = "ab".repeat(32);
        let missing = get(&format!("/verify/CARRIER/SLK-1/{sum}")).await.unwrap();
        let undecodable = get(&format!("/verify/CARRIER/%FF%FE/{sum}")).await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(undecodable.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body_text(missing.into_body()).await,
            body_text(undecodable.into_body()).await
        );
    }

    /// An empty ledger of the dev consortium's genesis, for router tests.
    /// A site on `reader` whose clock stands still at 0 and whose limiter starts empty.
    fn test_site(reader: LedgerReader) -> Arc<Site> {
        Arc::new(Site {
            reader,
            limiter: Mutex::new(RateLimiter::new(0)),
            clock: Clock::Frozen(0),
            form_action: "/verify".to_owned(),
            uploads: Semaphore::new(UPLOADS_CONCURRENT_MAX),
        })
    }

    fn test_ledger(dir: &std::path::Path) -> (ledger::LedgerState, LedgerReader) {
        let consortium = pki::dev::generate_consortium(
            &pki::dev::ConsortiumSpec::dev(1),
            &dir.join("pki"),
            1_700_000_000,
        )
        .unwrap();
        let genesis = ledger::Genesis::of_dev_consortium(
            &consortium,
            "silkline-test",
            &["127.0.0.1:1".to_owned()],
            1_700_000_000_000,
        )
        .unwrap();
        let state = ledger::LedgerState::open(dir.join("state"), &genesis).unwrap();
        let reader = state.reader();
        (state, reader)
    }
}

//! adapters::pint over real HTTP on 127.0.0.1: the receiving endpoints with a mock backend, the
//! sending client, and an independent sender (Python, `pint/tests/python/pint_client.py`).

mod python;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use adapters::pint::{
    BackendError, DeliveryError, DeliveryPolicy, HostedParty, PintBackend, deliver, router,
};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use pint::model::{
    DocumentMetadata, EnvelopeTransferFinishedResponse, EnvelopeTransferStartedResponse,
    ErrorResponse, IdentifyingCode, ResponseCode,
};
use pint::testkit::{self, HERE, NOW, World};
use pint::{
    CheckedTransfer, Leniency, Signer, TrustedPlatforms, build_envelope, document_metadata,
};

/// An accepted transfer: document reference, envelope bytes, documents by checksum.
pub type Accepted = (String, Vec<u8>, BTreeMap<String, Vec<u8>>);
/// A chain, its envelope, and the two documents it announces.
pub type TwoDocuments = (Vec<String>, Vec<u8>, [(DocumentMetadata, Vec<u8>); 2]);

/// A node as the endpoints see it: answers signed by `signer`, transfers recorded in memory.
pub struct MockBackend {
    pub signer: Arc<Signer>,
    pub trusted: TrustedPlatforms,
    pub leniency: Leniency,
    /// Local parties: (provider, code) -> (local code, name).
    pub parties: BTreeMap<(String, String), HostedParty>,
    pub known: Mutex<BTreeMap<String, Vec<String>>>,
    /// Accepted transfers: document reference, envelope bytes, documents.
    pub accepted: Mutex<Vec<Accepted>>,
    /// Scripted answers of `accept`, used first; `Ok` once empty.
    pub accept_script: Mutex<VecDeque<Result<(), BackendError>>>,
}

#[async_trait]
impl PintBackend for MockBackend {
    fn platform(&self) -> String {
        HERE.into()
    }
    fn signer(&self) -> Arc<Signer> {
        self.signer.clone()
    }
    fn leniency(&self) -> Leniency {
        self.leniency
    }
    fn now_unix_ms(&self) -> i64 {
        NOW * 1000
    }
    fn validate_document(&self, document: &serde_json::Value) -> Result<(), Vec<String>> {
        match document.pointer("/transports/placeOfReceipt/facility/facilityCode") {
            Some(code) if code != "DEHAM" => Err(vec![format!(
                "/transports/placeOfReceipt/facility/facilityCode: {code} is not a known facility"
            )]),
            _ => Ok(()),
        }
    }
    async fn trusted_platforms(&self) -> Result<TrustedPlatforms, BackendError> {
        Ok(self.trusted.clone())
    }
    async fn hosted_party(
        &self,
        code: &IdentifyingCode,
    ) -> Result<Option<HostedParty>, BackendError> {
        Ok(self
            .parties
            .get(&(code.code_list_provider.clone(), code.party_code.clone()))
            .cloned())
    }
    async fn known_chain(&self, reference: &str, _: &str) -> Result<Vec<String>, BackendError> {
        Ok(self
            .known
            .lock()
            .unwrap()
            .get(reference)
            .cloned()
            .unwrap_or_default())
    }
    async fn accept(
        &self,
        transfer: &CheckedTransfer,
        envelope: &[u8],
        documents: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), BackendError> {
        if let Some(scripted) = self.accept_script.lock().unwrap().pop_front() {
            scripted?;
        }
        self.known.lock().unwrap().insert(
            transfer.document_reference.clone(),
            transfer
                .entries
                .iter()
                .map(|e| e.signed_content.clone())
                .collect(),
        );
        self.accepted.lock().unwrap().push((
            transfer.document_reference.clone(),
            envelope.to_vec(),
            documents.clone(),
        ));
        Ok(())
    }
}

/// The world, a backend trusting it, and the receiving platform's own answer certificate.
pub struct Fixture {
    pub world: World,
    pub backend: Arc<MockBackend>,
    /// What a sender trusts the receiving platform (HERE) with.
    pub sender_trust: TrustedPlatforms,
    pub url: String,
    pub client: reqwest::Client,
}

pub fn hosted_parties() -> BTreeMap<(String, String), HostedParty> {
    let mut parties = BTreeMap::new();
    parties.insert(
        (HERE.to_owned(), "BANK".to_owned()),
        HostedParty {
            code: "BANK".into(),
            name: "Bank here".into(),
        },
    );
    parties
}

pub fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

/// Serves `app` on a free port of 127.0.0.1; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

impl Fixture {
    pub async fn start() -> Fixture {
        Fixture::start_with(|app| app).await
    }

    /// Serves the router wrapped by `wrap` (for a server that misbehaves).
    pub async fn start_with(wrap: impl FnOnce(axum::Router) -> axum::Router) -> Fixture {
        let world = World::new();
        let answers = testkit::chained_ed25519("slka-answers", 4000);
        let mut sender_trust = TrustedPlatforms::new();
        sender_trust
            .add_certificate_der(HERE, &answers.trust_der)
            .unwrap();
        let backend = Arc::new(MockBackend {
            signer: Arc::new(answers.signer),
            trusted: world.trusted.clone(),
            leniency: Leniency::STRICT,
            parties: hosted_parties(),
            known: Mutex::new(BTreeMap::new()),
            accepted: Mutex::new(Vec::new()),
            accept_script: Mutex::new(VecDeque::new()),
        });
        let url = serve(wrap(router(backend.clone()))).await;
        Fixture {
            world,
            backend,
            sender_trust,
            url,
            client: http_client(),
        }
    }

    /// Checks a signed answer as the sender does: signed by HERE, about `chain`'s last entry.
    pub fn verify(&self, jws: &str, chain: &[String]) -> EnvelopeTransferFinishedResponse {
        pint::check_response(
            &self.sender_trust,
            HERE,
            jws,
            NOW,
            &pint::signed_content_checksum(chain.last().unwrap()),
        )
        .unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Answer {
        let r = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let version = r
            .headers()
            .get("API-Version")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.bytes().await.unwrap().to_vec();
        Answer {
            status,
            version,
            body,
        }
    }

    pub async fn start_transfer(&self, envelope: &[u8]) -> Answer {
        self.send(reqwest::Method::POST, "/v3/envelopes", envelope.to_vec())
            .await
    }

    pub async fn put_document(&self, reference: &str, checksum: &str, bytes: &[u8]) -> Answer {
        let body =
            serde_json::to_vec(&base64::engine::general_purpose::STANDARD.encode(bytes)).unwrap();
        self.send(
            reqwest::Method::PUT,
            &format!("/v3/envelopes/{reference}/additional-documents/{checksum}"),
            body,
        )
        .await
    }

    pub async fn finish(&self, reference: &str) -> Answer {
        self.send(
            reqwest::Method::PUT,
            &format!("/v3/envelopes/{reference}/finish-transfer"),
            Vec::new(),
        )
        .await
    }

    /// The envelope with two supporting documents, and the documents.
    pub fn two_document_envelope(&self) -> TwoDocuments {
        let chain = self.world.chain();
        let a = b"%PDF-1.4 invoice".to_vec();
        let b = b"packing list, 400 boxes".to_vec();
        let ma = document_metadata("invoice.pdf", "application/pdf", &a);
        let mb = document_metadata("packing.txt", "text/plain", &b);
        let envelope = build_envelope(
            &self.world.sender.signer,
            &self.world.document,
            &chain,
            None,
            &[ma.clone(), mb.clone()],
        )
        .unwrap();
        (chain, envelope, [(ma, a), (mb, b)])
    }
}

pub struct Answer {
    pub status: u16,
    pub version: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn jws(&self) -> String {
        serde_json::from_slice(&self.body).expect("a signed answer (a JSON string)")
    }
    pub fn started(&self) -> EnvelopeTransferStartedResponse {
        serde_json::from_slice(&self.body).expect("an EnvelopeTransferStartedResponse")
    }
    pub fn error(&self) -> ErrorResponse {
        serde_json::from_slice(&self.body).expect("an ErrorResponse")
    }
}

#[tokio::test]
async fn rece_at_start_when_no_document_is_announced() {
    let f = Fixture::start().await;
    let chain = f.world.chain();
    let a = f.start_transfer(&f.world.envelope(&chain)).await;
    assert_eq!((a.status, a.version.as_deref()), (200, Some("3.0.0")));
    let r = f.verify(&a.jws(), &chain);
    assert_eq!(r.response_code, ResponseCode::Rece);
    assert_eq!(r.received_additional_document_checksums, Some(vec![]));
    assert_eq!(f.backend.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn two_documents_201_204_204_rece() {
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let started = f.start_transfer(&envelope).await;
    assert_eq!(
        (started.status, started.version.as_deref()),
        (201, Some("3.0.0"))
    );
    let s = started.started();
    assert_eq!(
        s.missing_additional_document_checksums,
        vec![ma.document_checksum.clone(), mb.document_checksum.clone()]
    );
    assert_eq!(s.transport_document_checksum, f.world.document_checksum());
    let r = &s.envelope_reference;
    let d1 = f.put_document(r, &ma.document_checksum, &a).await;
    assert_eq!(
        (d1.status, d1.version.as_deref(), d1.body.len()),
        (204, Some("3.0.0"), 0)
    );
    assert_eq!(
        f.put_document(r, &mb.document_checksum, &b).await.status,
        204
    );
    assert!(
        f.backend.accepted.lock().unwrap().is_empty(),
        "nothing accepted before finish"
    );
    let fin = f.finish(r).await;
    assert_eq!(fin.status, 200);
    let resp = f.verify(&fin.jws(), &chain);
    assert_eq!(resp.response_code, ResponseCode::Rece);
    assert_eq!(
        resp.received_additional_document_checksums,
        Some(vec![
            ma.document_checksum.clone(),
            mb.document_checksum.clone()
        ])
    );
    let accepted = f.backend.accepted.lock().unwrap();
    assert_eq!(accepted[0].1, envelope, "the envelope bytes as received");
    assert_eq!(accepted[0].2.get(&ma.document_checksum), Some(&a));
    assert_eq!(accepted[0].2.get(&mb.document_checksum), Some(&b));
}

#[tokio::test]
async fn incd_for_a_corrupted_and_for_an_unlisted_document_and_the_transfer_stays_open() {
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let r = f
        .start_transfer(&envelope)
        .await
        .started()
        .envelope_reference;
    let corrupted = f
        .put_document(&r, &ma.document_checksum, b"not the invoice")
        .await;
    assert_eq!(corrupted.status, 409);
    assert_eq!(
        f.verify(&corrupted.jws(), &chain).response_code,
        ResponseCode::Incd
    );
    let stray = b"a document nobody announced";
    let unlisted = f.put_document(&r, &pint::sha256_hex(stray), stray).await;
    assert_eq!(unlisted.status, 409);
    assert_eq!(
        f.verify(&unlisted.jws(), &chain).response_code,
        ResponseCode::Incd
    );
    // A body far larger than the announced size is refused; no more of it than the announced
    // size is kept.
    let oversized = f
        .put_document(&r, &ma.document_checksum, &vec![b'x'; 64 * 1024])
        .await;
    assert_eq!(oversized.status, 409);
    let incd = f.verify(&oversized.jws(), &chain);
    assert_eq!(incd.response_code, ResponseCode::Incd);
    assert!(
        incd.reason
            .unwrap()
            .contains("larger than a document of the")
    );
    // Still open: the right bytes complete it.
    assert_eq!(
        f.put_document(&r, &ma.document_checksum, &a).await.status,
        204
    );
    assert_eq!(
        f.put_document(&r, &mb.document_checksum, &b).await.status,
        204
    );
    let fin = f.finish(&r).await;
    assert_eq!(
        f.verify(&fin.jws(), &chain).response_code,
        ResponseCode::Rece
    );
}

#[tokio::test]
async fn mdoc_then_resend_then_rece() {
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let r = f
        .start_transfer(&envelope)
        .await
        .started()
        .envelope_reference;
    assert_eq!(
        f.put_document(&r, &ma.document_checksum, &a).await.status,
        204
    );
    let mdoc = f.finish(&r).await;
    assert_eq!(mdoc.status, 409);
    let m = f.verify(&mdoc.jws(), &chain);
    assert_eq!(m.response_code, ResponseCode::Mdoc);
    assert_eq!(
        m.missing_additional_document_checksums,
        Some(vec![mb.document_checksum.clone()])
    );
    assert!(f.backend.accepted.lock().unwrap().is_empty());
    assert_eq!(
        f.put_document(&r, &mb.document_checksum, &b).await.status,
        204
    );
    let fin = f.finish(&r).await;
    assert_eq!(
        f.verify(&fin.jws(), &chain).response_code,
        ResponseCode::Rece
    );
    // A retried finish gets the same signed answer.
    assert_eq!(f.finish(&r).await.jws(), fin.jws());
    assert_eq!(f.backend.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn dupe_for_an_identical_retry_after_acceptance() {
    let f = Fixture::start().await;
    let chain = f.world.chain();
    let envelope = f.world.envelope(&chain);
    assert_eq!(f.start_transfer(&envelope).await.status, 200);
    let again = f.start_transfer(&envelope).await;
    assert_eq!(again.status, 200);
    let r = f.verify(&again.jws(), &chain);
    assert_eq!(r.response_code, ResponseCode::Dupe);
    assert_eq!(
        r.duplicate_of_accepted_envelope_transfer_chain_entry_signed_content,
        Some(chain[1].clone())
    );
    assert_eq!(f.backend.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bsig_benv_dise_are_signed_with_their_statuses() {
    let f = Fixture::start().await;
    let w = &f.world;
    let chain = w.chain();
    // BSIG: the manifest signed by a stranger.
    let stranger = testkit::pinned_es256("stranger");
    let bad = build_envelope(&stranger.signer, &w.document, &chain, None, &[]).unwrap();
    let a = f.start_transfer(&bad).await;
    assert_eq!(a.status, 422);
    let r = f.verify(&a.jws(), &chain);
    assert_eq!(r.response_code, ResponseCode::Bsig);
    assert!(r.reason.unwrap().starts_with("PINT_JWS_"));
    // BENV: an unknown party.
    let e0 = chain[0].clone();
    let nobody = testkit::party(HERE, "NOBODY", "Nobody");
    let e1 = w.sender_entry(
        &e0,
        vec![testkit::tx(
            "TRANSFER",
            &testkit::shipper(),
            Some(&nobody),
            5,
        )],
    );
    let benv_chain = vec![e0.clone(), e1];
    let a = f.start_transfer(&w.envelope(&benv_chain)).await;
    assert_eq!(a.status, 422);
    assert_eq!(
        f.verify(&a.jws(), &benv_chain).response_code,
        ResponseCode::Benv
    );
    // DISE: accepted one chain, then another last entry.
    assert_eq!(f.start_transfer(&w.envelope(&chain)).await.status, 200);
    let other = w.sender_entry(
        &e0,
        vec![
            testkit::tx("SIGN", &testkit::shipper(), None, 4),
            testkit::tx("TRANSFER", &testkit::shipper(), Some(&testkit::bank()), 5),
        ],
    );
    let dise_chain = vec![e0, other];
    let a = f.start_transfer(&w.envelope(&dise_chain)).await;
    assert_eq!(a.status, 409);
    assert_eq!(
        f.verify(&a.jws(), &dise_chain).response_code,
        ResponseCode::Dise
    );
}

#[tokio::test]
async fn the_ledger_refusing_at_accept_is_answered_signed() {
    let f = Fixture::start().await;
    f.backend
        .accept_script
        .lock()
        .unwrap()
        .push_back(Err(BackendError::Refused(pint::Refusal::Refused {
            code: ResponseCode::Dise,
            rule: "PINT_CHAIN_CONTRADICTS_HELD",
            reason: "the chain moved".into(),
        })));
    let chain = f.world.chain();
    let a = f.start_transfer(&f.world.envelope(&chain)).await;
    assert_eq!(a.status, 409);
    assert_eq!(f.verify(&a.jws(), &chain).response_code, ResponseCode::Dise);
}

#[tokio::test]
async fn unknown_envelope_reference_is_404() {
    let f = Fixture::start().await;
    let a = f.finish("no-such-transfer").await;
    assert_eq!((a.status, a.version.as_deref()), (404, Some("3.0.0")));
    assert_eq!(a.error().status_code, 404);
    let a = f
        .put_document("no-such-transfer", &"a".repeat(64), b"x")
        .await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn an_invalid_body_is_400_with_an_error_response() {
    let f = Fixture::start().await;
    let a = f.start_transfer(b"{\"transportDocument\": 1}").await;
    assert_eq!((a.status, a.version.as_deref()), (400, Some("3.0.0")));
    let e = a.error();
    assert_eq!(
        (e.http_method.as_str(), e.request_uri.as_str()),
        ("POST", "/v3/envelopes")
    );
    assert_eq!(e.errors[0].error_code_text, "PINT_ENVELOPE_MALFORMED");
    let a = f.start_transfer(b"not json").await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn receiver_validation_200_and_a_vague_404() {
    let f = Fixture::start().await;
    let ask = |code: &str| {
        serde_json::to_vec(&IdentifyingCode {
            code_list_provider: HERE.into(),
            party_code: code.into(),
            code_list_name: None,
        })
        .unwrap()
    };
    let a = f
        .send(
            reqwest::Method::POST,
            "/v3/receiver-validation",
            ask("BANK"),
        )
        .await;
    assert_eq!((a.status, a.version.as_deref()), (200, Some("3.0.0")));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&a.body).unwrap(),
        serde_json::json!({"partyName": "Bank here"})
    );
    let a = f
        .send(
            reqwest::Method::POST,
            "/v3/receiver-validation",
            ask("NOBODY"),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error().errors[0].error_code_message, "Unknown party");
}

fn quick() -> DeliveryPolicy {
    DeliveryPolicy {
        attempts_max: 4,
        backoff_initial_ms: 1,
        backoff_max_ms: 4,
        rounds_max: 3,
    }
}

#[tokio::test]
async fn deliver_sends_the_documents_and_returns_the_verified_receipt() {
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let verify = |jws: &str| pint::check_response(&f.sender_trust, HERE, jws, NOW, &last);
    let documents = vec![(ma.document_checksum, a), (mb.document_checksum, b)];
    let d = deliver(&f.client, &f.url, &envelope, &documents, &quick(), &verify)
        .await
        .unwrap();
    assert_eq!(
        (d.response_code(), d.http_status),
        (ResponseCode::Rece, 200)
    );
    assert_eq!(f.backend.accepted.lock().unwrap()[0].2.len(), 2);
}

#[tokio::test]
async fn deliver_retries_an_unsigned_5xx_with_the_same_bytes() {
    // A server that answers the first start with a bare 500, as a proxy in the way would.
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen_in = seen.clone();
    let f = Fixture::start_with(move |app| {
        app.layer(axum::middleware::from_fn(
            move |req: Request<Body>, next: axum::middleware::Next| {
                let seen = seen_in.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    let first = {
                        let mut s = seen.lock().unwrap();
                        s.push(bytes.to_vec());
                        s.len() == 1
                    };
                    if first {
                        return axum::response::IntoResponse::into_response((
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "upstream hiccup",
                        ));
                    }
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            },
        ))
    })
    .await;
    let chain = f.world.chain();
    let envelope = f.world.envelope(&chain);
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let verify = |jws: &str| pint::check_response(&f.sender_trust, HERE, jws, NOW, &last);
    let d = deliver(&f.client, &f.url, &envelope, &[], &quick(), &verify)
        .await
        .unwrap();
    assert_eq!(d.response_code(), ResponseCode::Rece);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one failure, one retry");
    assert_eq!(seen[0], envelope);
    assert_eq!(seen[1], envelope, "the retry sends the very same bytes");
    assert_eq!(f.backend.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn deliver_retries_a_finish_the_node_could_not_commit() {
    let f = Fixture::start().await;
    f.backend
        .accept_script
        .lock()
        .unwrap()
        .push_back(Err(BackendError::Unavailable("no leader".into())));
    let (chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let verify = |jws: &str| pint::check_response(&f.sender_trust, HERE, jws, NOW, &last);
    let documents = vec![(ma.document_checksum, a), (mb.document_checksum, b)];
    let d = deliver(&f.client, &f.url, &envelope, &documents, &quick(), &verify)
        .await
        .unwrap();
    assert_eq!(d.response_code(), ResponseCode::Rece);
    assert_eq!(f.backend.accepted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_signed_code_overrides_the_http_status() {
    // A receiver whose signed BENV arrives with HTTP 200, and one whose signed RECE arrives
    // with HTTP 500: the signed code decides, and a signed answer is never retried.
    let answers = testkit::chained_ed25519("odd", 4000);
    let mut trust = TrustedPlatforms::new();
    trust.add_certificate_der(HERE, &answers.trust_der).unwrap();
    let world = World::new();
    let chain = world.chain();
    let envelope = world.envelope(&chain);
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let signer = Arc::new(answers.signer);
    let client = http_client();
    for (code, status) in [(ResponseCode::Benv, 200u16), (ResponseCode::Rece, 500)] {
        let jws = pint::sign_response(
            &signer,
            &EnvelopeTransferFinishedResponse {
                last_envelope_transfer_chain_entry_signed_content_checksum: last.clone(),
                response_code: code,
                duplicate_of_accepted_envelope_transfer_chain_entry_signed_content: None,
                reason: None,
                missing_additional_document_checksums: None,
                received_additional_document_checksums: None,
            },
        )
        .unwrap();
        let hits = Arc::new(Mutex::new(0u32));
        let hits_in = hits.clone();
        let app = axum::Router::new().route(
            "/v3/envelopes",
            axum::routing::post(move || {
                let jws = jws.clone();
                let hits = hits_in.clone();
                async move {
                    *hits.lock().unwrap() += 1;
                    (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        serde_json::to_string(&jws).unwrap(),
                    )
                }
            }),
        );
        let url = serve(app).await;
        let verify = |jws: &str| pint::check_response(&trust, HERE, jws, NOW, &last);
        let d = deliver(&client, &url, &envelope, &[], &quick(), &verify)
            .await
            .unwrap();
        assert_eq!((d.response_code(), d.http_status), (code, status));
        assert_eq!(*hits.lock().unwrap(), 1);
    }
}

#[tokio::test]
async fn an_answer_that_does_not_verify_is_not_final() {
    // The receiver's answers verify against another platform's certificates only: the client
    // keeps trying and reports that no signed answer came.
    let f = Fixture::start().await;
    let chain = f.world.chain();
    let envelope = f.world.envelope(&chain);
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let wrong = f.world.trusted.clone();
    let verify = |jws: &str| pint::check_response(&wrong, HERE, jws, NOW, &last);
    let e = deliver(&f.client, &f.url, &envelope, &[], &quick(), &verify)
        .await
        .unwrap_err();
    assert!(
        matches!(e, DeliveryError::Exhausted { attempts: 4, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn a_refused_start_signed_by_the_sender_rejects_the_transfer_open_for_the_document() {
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), _]) = f.two_document_envelope();
    let r = f
        .start_transfer(&envelope)
        .await
        .started()
        .envelope_reference;
    // The same chain again from the same sender, signed, but to a party not hosted here: BENV.
    let w = &f.world;
    let e0 = chain[0].clone();
    let nobody = testkit::party(HERE, "NOBODY", "Nobody");
    let to_nobody = w.sender_entry(
        &e0,
        vec![testkit::tx(
            "TRANSFER",
            &testkit::shipper(),
            Some(&nobody),
            5,
        )],
    );
    let refused = f.start_transfer(&w.envelope(&[e0, to_nobody])).await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        f.put_document(&r, &ma.document_checksum, &a).await.status,
        404
    );
}

#[tokio::test]
async fn a_refused_start_its_sender_did_not_sign_leaves_the_open_transfer_alone() {
    let f = Fixture::start().await;
    let (open_chain, envelope, [(ma, a), (mb, b)]) = f.two_document_envelope();
    let r = f
        .start_transfer(&envelope)
        .await
        .started()
        .envelope_reference;
    let chain = f.world.chain();
    // The genuine chain under a manifest a stranger signed: BSIG, and not the sender's word.
    let stranger = testkit::pinned_es256("stranger");
    let replayed = build_envelope(&stranger.signer, &f.world.document, &chain, None, &[]).unwrap();
    assert_eq!(f.start_transfer(&replayed).await.status, 422);
    // A last entry the stranger signed in the sender's name: BSIG too.
    let forged_entry = pint::build_entry(
        &stranger.signer,
        testkit::SENDER_PLATFORM,
        &f.world.document_checksum(),
        Some(&chain[0]),
        None,
        &[testkit::tx(
            "TRANSFER",
            &testkit::shipper(),
            Some(&testkit::bank()),
            5,
        )],
    )
    .unwrap();
    let forged = build_envelope(
        &stranger.signer,
        &f.world.document,
        &[chain[0].clone(), forged_entry],
        None,
        &[],
    )
    .unwrap();
    assert_eq!(f.start_transfer(&forged).await.status, 422);
    // The sender's genuine last entry and manifest around another document with the same
    // reference: signed by the sender, but not bound to what they cover.
    let mut spliced: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    spliced["transportDocument"]["shippingInstructionsReference"] = serde_json::json!("OTHER-SI");
    let spliced = f
        .start_transfer(&serde_json::to_vec(&spliced).unwrap())
        .await;
    assert_eq!(spliced.status, 422);
    assert_eq!(
        f.verify(&spliced.jws(), &open_chain).response_code,
        ResponseCode::Benv
    );
    // The transfer is still open: its documents are taken and it finishes.
    assert_eq!(
        f.put_document(&r, &ma.document_checksum, &a).await.status,
        204
    );
    assert_eq!(
        f.put_document(&r, &mb.document_checksum, &b).await.status,
        204
    );
    assert_eq!(f.finish(&r).await.status, 200);
}

#[tokio::test]
async fn an_invalid_transport_document_is_400_before_any_signature_check() {
    // As the conformance tool does: a facility code changed after the envelope was signed.
    let f = Fixture::start().await;
    let chain = f.world.chain();
    let mut e: serde_json::Value = serde_json::from_slice(&f.world.envelope(&chain)).unwrap();
    e["transportDocument"]["transports"] =
        serde_json::json!({"placeOfReceipt": {"facility": {"facilityCode": "XXXXX"}}});
    let a = f.start_transfer(&serde_json::to_vec(&e).unwrap()).await;
    assert_eq!((a.status, a.version.as_deref()), (400, Some("3.0.0")));
    let err = a.error();
    assert_eq!(err.status_code, 400);
    assert!(err.errors[0].error_code_message.contains("facilityCode"));
    assert!(f.backend.accepted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn deliver_gives_up_after_mdoc_rounds_without_the_document() {
    // The sender lacks one announced document: the receiver answers MDOC every round.
    let f = Fixture::start().await;
    let (chain, envelope, [(ma, a), (mb, _)]) = f.two_document_envelope();
    let last = pint::signed_content_checksum(chain.last().unwrap());
    let verify = |jws: &str| pint::check_response(&f.sender_trust, HERE, jws, NOW, &last);
    let documents = vec![(ma.document_checksum, a)];
    let e = deliver(&f.client, &f.url, &envelope, &documents, &quick(), &verify)
        .await
        .unwrap_err();
    match e {
        DeliveryError::Rejected { status: 409, body } => {
            assert!(body.contains(&mb.document_checksum), "{body}")
        }
        other => panic!("expected the missing document named, got {other}"),
    }
    assert!(f.backend.accepted.lock().unwrap().is_empty());
}

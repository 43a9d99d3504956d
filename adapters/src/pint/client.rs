//! The sending platform's side of one envelope transfer: start, documents, finish.
//!
//! Only a signed answer ends a transfer: the standard warns that an unsigned error may come
//! from middleware and hide the real outcome. So every unsigned failure (a 5xx, a connection
//! error, a body that is not a signed answer this platform can verify) is retried with the very
//! same bytes, a bounded number of times with exponential backoff; what the caller gets is
//! either a verified signed answer or an error saying no final answer came.

use std::time::Duration;

use base64::Engine as _;
use pint::ResponseError;
use pint::model::{
    EnvelopeTransferFinishedResponse, EnvelopeTransferStartedResponse, ResponseCode,
};

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts per request (start, each document, finish) before giving up.
    pub attempts_max: u32,
    /// The first backoff; doubled after each failure up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How many times a finish answered `MDOC` sends the missing documents again, and how many
    /// times a transfer the receiver forgot (404) is started again.
    pub rounds_max: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> DeliveryPolicy {
        DeliveryPolicy {
            attempts_max: 8,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            rounds_max: 3,
        }
    }
}

/// A verified signed answer: the receiver's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The compact JWS, to keep as the receipt.
    pub signed_response: String,
    /// Its verified payload.
    pub response: EnvelopeTransferFinishedResponse,
    /// The HTTP status it came with (the signed code decides, not this).
    pub http_status: u16,
}

impl Delivered {
    pub fn response_code(&self) -> ResponseCode {
        self.response.response_code
    }
}

/// Why no final answer came.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Every attempt failed without a signed answer (the last failure is given).
    #[error("no signed answer after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    /// The receiver answered an unsigned client error (400, 404, 413, ...) that retrying the
    /// same bytes cannot change.
    #[error("the receiver refused the request with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    /// The receiver kept answering MDOC or forgetting the transfer.
    #[error("the transfer did not finish after {rounds} rounds: {last}")]
    Rounds { rounds: u32, last: String },
}

/// One HTTP exchange's outcome, as the retry loop sees it.
enum Outcome {
    Signed(Delivered),
    Started(EnvelopeTransferStartedResponse),
    NoContent,
    NotFound,
}

/// Delivers one envelope to the receiving platform at `base_url` (e.g. `https://pint.example`,
/// without `/v3`): start, every additional document the receiver says is missing (from
/// `documents`, by checksum), finish. `verify` checks a signed answer (normally
/// [`pint::check_response`] with the receiving platform's certificates); an answer it refuses
/// counts as unsigned and is retried.
pub async fn deliver(
    client: &reqwest::Client,
    base_url: &str,
    envelope: &[u8],
    documents: &[(String, Vec<u8>)],
    policy: &DeliveryPolicy,
    verify: &(dyn Fn(&str) -> Result<EnvelopeTransferFinishedResponse, ResponseError> + Sync),
) -> Result<Delivered, DeliveryError> {
    let base = base_url.trim_end_matches('/');
    let mut last = String::new();
    for _round in 0..policy.rounds_max.max(1) {
        let started = match request(
            client,
            reqwest::Method::POST,
            &format!("{base}/v3/envelopes"),
            envelope.to_vec(),
            policy,
            verify,
        )
        .await?
        {
            Outcome::Signed(d) => return Ok(d),
            Outcome::Started(s) => s,
            Outcome::NoContent | Outcome::NotFound => {
                return Err(DeliveryError::Rejected {
                    status: 404,
                    body: "start answered without a transfer".into(),
                });
            }
        };
        let reference = &started.envelope_reference;
        let mut missing = started.missing_additional_document_checksums;
        let mut forgotten = false;
        for _ in 0..policy.rounds_max.max(1) {
            for checksum in &missing {
                let Some((_, bytes)) = documents.iter().find(|(c, _)| c == checksum) else {
                    return Err(DeliveryError::Rejected {
                        status: 409,
                        body: format!(
                            "the receiver asks for document {checksum}, which this transfer does not have"
                        ),
                    });
                };
                let body =
                    serde_json::to_vec(&base64::engine::general_purpose::STANDARD.encode(bytes))
                        .unwrap_or_default();
                match request(
                    client,
                    reqwest::Method::PUT,
                    &format!("{base}/v3/envelopes/{reference}/additional-documents/{checksum}"),
                    body,
                    policy,
                    verify,
                )
                .await?
                {
                    Outcome::NoContent | Outcome::Started(_) => {}
                    // INCD: the receiver says these bytes are not the document.
                    Outcome::Signed(d) => return Ok(d),
                    Outcome::NotFound => {
                        forgotten = true;
                        break;
                    }
                }
            }
            if forgotten {
                break;
            }
            match request(
                client,
                reqwest::Method::PUT,
                &format!("{base}/v3/envelopes/{reference}/finish-transfer"),
                Vec::new(),
                policy,
                verify,
            )
            .await?
            {
                Outcome::Signed(d) if d.response_code() == ResponseCode::Mdoc => {
                    last = "MDOC".into();
                    missing = d
                        .response
                        .missing_additional_document_checksums
                        .clone()
                        .unwrap_or_default();
                }
                Outcome::Signed(d) => return Ok(d),
                Outcome::NotFound => {
                    forgotten = true;
                    break;
                }
                Outcome::NoContent | Outcome::Started(_) => {
                    last = "finish answered without a signed response".into();
                }
            }
        }
        if !forgotten {
            // Every round answered MDOC: starting again would not send other documents.
            break;
        }
        last = "the receiver forgot the transfer (404)".into();
    }
    Err(DeliveryError::Rounds {
        rounds: policy.rounds_max,
        last,
    })
}

/// One request, retried with the same bytes until it gets an answer that is final for it.
async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Vec<u8>,
    policy: &DeliveryPolicy,
    verify: &(dyn Fn(&str) -> Result<EnvelopeTransferFinishedResponse, ResponseError> + Sync),
) -> Result<Outcome, DeliveryError> {
    let attempts = policy.attempts_max.max(1);
    let mut backoff_ms = policy.backoff_initial_ms;
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms.saturating_mul(2)).min(policy.backoff_max_ms);
        }
        let sent = client
            .request(method.clone(), url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("API-Version", "3")
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                last = format!("{method} {url}: {e}");
                continue;
            }
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => {
                last = format!("{method} {url}: reading the answer: {e}");
                continue;
            }
        };
        // A signed answer decides, whatever the status.
        if let Ok(jws) = serde_json::from_str::<String>(&text) {
            match verify(&jws) {
                Ok(response) => {
                    return Ok(Outcome::Signed(Delivered {
                        signed_response: jws,
                        response,
                        http_status: status,
                    }));
                }
                Err(e) => {
                    last = format!(
                        "{method} {url}: HTTP {status} with an answer that does not verify: {e}"
                    );
                    continue;
                }
            }
        }
        match status {
            201 => {
                if let Ok(s) = serde_json::from_str::<EnvelopeTransferStartedResponse>(&text) {
                    return Ok(Outcome::Started(s));
                }
                last = format!("{method} {url}: 201 without an EnvelopeTransferStartedResponse");
            }
            204 => return Ok(Outcome::NoContent),
            404 => return Ok(Outcome::NotFound),
            // 408 and 429 are worth another try; other client errors are not.
            400..=499 if status != 408 && status != 429 => {
                return Err(DeliveryError::Rejected {
                    status,
                    body: text.chars().take(1000).collect(),
                });
            }
            _ => {
                last = format!(
                    "{method} {url}: HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                )
            }
        }
    }
    Err(DeliveryError::Exhausted { attempts, last })
}

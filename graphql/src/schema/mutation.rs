//! The mutation root: the one write, `submitTransactions`.
//!
//! Every action is a transaction its signer signed (a JWS made with the user's own key, which no
//! node holds), so there is no mutation per action: issuing, endorsing, governance and sending a
//! bill to another eBL platform (a `pint` `SEND`, with its supporting documents) are all
//! submitted here, and read back through the query root (`document { platformTransfer }`).

use std::time::{SystemTime, UNIX_EPOCH};

use async_graphql::{Context, ErrorExtensions as _, Object};
use ledger::client::SubmitError;

use super::outcome::SubmitResult;
use super::{SUBMIT_ENVELOPES_MAX, api, caller};
use crate::cost::budget;
use crate::error::{BAD_REQUEST, UNAVAILABLE, api_error, internal};

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// Writes.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Submits signed transactions (JWS compact strings, at most 128) and answers, for each in
    /// order, its outcome once its block is applied on this node: `COMMITTED` with the block,
    /// or `REFUSED` with the rule. Each is a document command, a governance action, or a bill sent to
    /// another platform (payload `{"pint": {"action": "SEND", ...}}`, what `silkline pint send`
    /// signs; the transfer then shows as the document's `platformTransfer`). Submitting a
    /// committed transaction again returns its original outcome and commits nothing.
    async fn submit_transactions(
        &self,
        ctx: &Context<'_>,
        envelopes: Vec<String>,
    ) -> async_graphql::Result<Vec<SubmitResult>> {
        caller(ctx)?;
        if envelopes.is_empty() || envelopes.len() > SUBMIT_ENVELOPES_MAX {
            return Err(api_error(
                BAD_REQUEST,
                format!("envelopes: between 1 and {SUBMIT_ENVELOPES_MAX} per request"),
            ));
        }
        budget(ctx)?.take_envelopes(envelopes.len())?;
        let client = &api(ctx).client;
        let now = now_ms();
        // An overloaded node refuses the request whole, at once, before parsing any envelope.
        if let Err(ref e @ SubmitError::Overloaded { retry_after_ms, .. }) = client.admit(now) {
            return Err(api_error(UNAVAILABLE, e.to_string())
                .extend_with(|_, x| x.set("retryAfterMs", retry_after_ms)));
        }
        // Concurrently, so that they share blocks.
        let results = futures_util::future::join_all(
            envelopes
                .into_iter()
                .map(|e| client.submit(e.into_bytes(), now)),
        )
        .await;
        let mut out = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(submitted) => out.push(SubmitResult::from(submitted)),
                Err(SubmitError::Storage(e)) => return Err(internal(e)),
                Err(e @ SubmitError::Unknown { .. }) => {
                    return Err(api_error(UNAVAILABLE, e.to_string()));
                }
                Err(e @ SubmitError::Unavailable(_)) => {
                    return Err(api_error(UNAVAILABLE, e.to_string()));
                }
                Err(ref e @ SubmitError::Overloaded { retry_after_ms, .. }) => {
                    // Back-pressure: at once, with when to come back.
                    return Err(api_error(UNAVAILABLE, e.to_string())
                        .extend_with(|_, x| x.set("retryAfterMs", retry_after_ms)));
                }
            }
        }
        Ok(out)
    }
}

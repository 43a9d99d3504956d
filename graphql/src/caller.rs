//! Who is asking, for whom it may act, and what it may read.
//!
//! The caller is the client certificate of the TLS connection. The certificate acts for the
//! party it names only if that party is on the network and its sponsor is the member whose CA
//! issued the certificate: `ledger::validate::acting_party`, the rule every node applies
//! to a transaction's signer, applied here to the same certificate's queries, mutations and
//! subscriptions, so that one rule decides for whom a certificate may act. A node certificate
//! acts for its member's own party. Members with the `OBSERVER` role read everything.
//!
//! A connection's [`Session`] holds its certificate chain and checks it again, for every request,
//! against the ledger as it is then: the party's sponsorship always (a map lookup), the chain
//! against the members' revocation lists whenever those changed since it was last verified (the
//! ledger's revocation epoch), and when the leaf expired. A certificate revoked while its
//! connection is open is refused from the next request on, and its subscriptions end.
//!
//! What it is not: it decides nothing about documents (the workflow does), and it verifies
//! chains only through `pki`'s trust store, as the ledger's current revocation lists make it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::ErrorExtensions as _;
use doc_workflow::PartyCode;
use futures_util::{Stream, StreamExt as _};
use ledger::validate::identity_refusal;
use ledger::{LedgerReader, MemberRole, TxRefusal};
use pki::{Identity, IdentityKind, Purpose};
use rustls::pki_types::{CertificateDer, UnixTime};
use tokio::sync::{broadcast, watch};

use crate::error::FORBIDDEN;

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The party the certificate acts for.
    pub party: PartyCode,
    /// The member whose CA issued it.
    pub member: PartyCode,
    /// User, admin or node.
    pub kind: IdentityKind,
    /// Whether the member observes the whole network.
    pub observer: bool,
    /// SHA-256 of the client certificate, lowercase hex (for logs).
    pub fingerprint: String,
}

/// Why a certificate may not act (any more): the ledger's refusal for the same rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The ledger's stable code for the rule: `PARTY_NOT_SPONSORED`, `UNKNOWN_PARTY`,
    /// `CERTIFICATE_REVOKED`, `CERTIFICATE_EXPIRED`, ... It is the `reason` next to the API's
    /// `code` `FORBIDDEN`.
    pub reason: &'static str,
    /// A sentence naming the rule.
    pub message: String,
}

impl From<TxRefusal> for Refusal {
    fn from(refusal: TxRefusal) -> Refusal {
        Refusal {
            reason: refusal.code(),
            message: refusal.to_string(),
        }
    }
}

impl Refusal {
    /// The GraphQL error: `extensions.code` `FORBIDDEN` (the certificate does not allow the
    /// request) and `extensions.reason` the rule's code.
    pub fn to_error(&self) -> async_graphql::Error {
        let reason = self.reason;
        async_graphql::Error::new(format!("this certificate may not act: {}", self.message))
            .extend_with(|_, e| {
                e.set("code", FORBIDDEN);
                e.set("reason", reason);
            })
    }

    /// The same error as a whole GraphQL response body, for a request refused before it reached
    /// the schema.
    pub fn to_response_body(&self) -> serde_json::Value {
        serde_json::json!({
            "errors": [{
                "message": format!("this certificate may not act: {}", self.message),
                "extensions": {"code": FORBIDDEN, "reason": self.reason},
            }]
        })
    }
}

impl Caller {
    /// The caller an identity verified by the trust store is, on the network `reader` serves:
    /// the party it names (a node's: its member's own party), if that party may be acted for
    /// by the identity's member according to the ledger's current parties.
    pub fn of(identity: &Identity, reader: &LedgerReader) -> Result<Caller, Refusal> {
        let caller = Caller::claimed(identity, reader)?;
        reader.acting_party(&caller.party, &caller.member)?;
        Ok(caller)
    }

    /// Who the certificate says it is, before the sponsorship check.
    fn claimed(identity: &Identity, reader: &LedgerReader) -> Result<Caller, Refusal> {
        fn unusable(e: impl std::fmt::Display) -> Refusal {
            Refusal::from(TxRefusal::CertificateInvalid(e.to_string()))
        }
        let member = PartyCode::new(identity.member.as_str()).map_err(unusable)?;
        let party = match identity.kind {
            // A node speaks for its member.
            IdentityKind::Node => member.clone(),
            _ => PartyCode::new(identity.party.as_str()).map_err(unusable)?,
        };
        let observer = reader
            .genesis()
            .member(&member)
            .is_some_and(|m| m.role == MemberRole::Observer);
        Ok(Caller {
            party,
            member,
            kind: identity.kind,
            observer,
            fingerprint: identity.fingerprint.to_string(),
        })
    }

    /// Whether the caller may read a document whose parties (ever) are `parties_ever`. An empty
    /// set is a document that does not exist: nobody reads it, observers included.
    pub fn may_read(&self, parties_ever: &BTreeSet<PartyCode>) -> bool {
        !parties_ever.is_empty() && (self.observer || parties_ever.contains(&self.party))
    }
}

/// Verifies a client chain (leaf first) against the ledger's current trust store at `now_s`.
pub fn verify_chain(
    reader: &LedgerReader,
    chain: &[CertificateDer<'static>],
    now_s: u64,
) -> Result<Identity, Refusal> {
    reader
        .trust_store()
        .verify_identity(chain, now_s, Purpose::TlsClient)
        .map_err(|e| Refusal::from(identity_refusal(e)))
}

fn now_s() -> u64 {
    UnixTime::now().as_secs()
}

/// What a session's watchers wait on.
#[derive(Debug, Default)]
struct SessionState {
    /// Set once, by the first request or check that found the certificate may not act; final
    /// for the connection.
    refusal: Option<Refusal>,
    /// Subscriptions of this connection still streaming (see [`Session::drained`]).
    subscriptions: usize,
}

/// One connection's caller, checked again as the ledger changes. Shared by the connection's
/// requests and its WebSocket subscriptions.
#[derive(Debug)]
pub struct Session {
    reader: LedgerReader,
    /// The client's chain as presented (leaf first).
    chain: Vec<CertificateDer<'static>>,
    caller: Caller,
    /// The leaf's notAfter (Unix seconds): past it, the chain is verified again (and refused).
    not_after_s: i64,
    /// The revocation epoch at which the chain was last verified.
    verified_epoch: AtomicU64,
    state: watch::Sender<SessionState>,
}

impl Session {
    /// The session of a connection whose client presented `chain` (already accepted by the TLS
    /// handshake), verified again now: the handshake's verifier cannot hand its result over. An
    /// `Err` (revoked between the handshake and now, say) closes the connection. A certificate
    /// whose party its member does not sponsor opens a session all of whose requests are
    /// refused, with that reason.
    pub fn open(
        reader: LedgerReader,
        chain: Vec<CertificateDer<'static>>,
    ) -> Result<Session, Refusal> {
        // The epoch first, then the trust store: a list installed in between is then verified
        // against and merely checked once more at the next request.
        let epoch = reader.revocation_epoch();
        let identity = verify_chain(&reader, &chain, now_s())?;
        let caller = Caller::claimed(&identity, &reader)?;
        Ok(Session {
            reader,
            chain,
            caller,
            not_after_s: identity.not_after,
            verified_epoch: AtomicU64::new(epoch),
            state: watch::Sender::new(SessionState::default()),
        })
    }

    /// The caller, if its certificate may act now: not refused before, the party sponsored by
    /// the member as the ledger's parties are now, and the chain still accepted by the trust
    /// store (verified again only when the revocation epoch moved or the leaf expired). A
    /// refusal is final for the session and wakes its watchers.
    pub fn authorize(&self) -> Result<&Caller, Refusal> {
        if let Some(refusal) = &self.state.borrow().refusal {
            return Err(refusal.clone());
        }
        let epoch = self.reader.revocation_epoch();
        let now = now_s();
        let expired = i64::try_from(now).is_ok_and(|now| now > self.not_after_s);
        if epoch != self.verified_epoch.load(Ordering::Acquire) || expired {
            if let Err(refusal) = verify_chain(&self.reader, &self.chain, now) {
                return Err(self.refuse(refusal));
            }
            self.verified_epoch.store(epoch, Ordering::Release);
        }
        if let Err(refusal) = self
            .reader
            .acting_party(&self.caller.party, &self.caller.member)
        {
            return Err(self.refuse(refusal.into()));
        }
        Ok(&self.caller)
    }

    fn refuse(&self, refusal: Refusal) -> Refusal {
        self.state.send_if_modified(|state| {
            if state.refusal.is_some() {
                return false;
            }
            tracing::info!(
                fingerprint = %self.caller.fingerprint,
                party = %self.caller.party,
                reason = refusal.reason,
                "an API client's certificate may no longer act: {}",
                refusal.message,
            );
            state.refusal = Some(refusal.clone());
            true
        });
        refusal
    }

    /// Resolves once a request or check refused this session (it does not follow the ledger
    /// itself: the connection's next request finds a revocation).
    pub async fn refused(&self) -> Refusal {
        let mut state = self.state.subscribe();
        // The sender lives in `self`, so the channel stays open while this runs.
        let found = match state.wait_for(|s| s.refusal.is_some()).await {
            Ok(state) => state.refusal.clone(),
            Err(_) => None,
        };
        match found {
            Some(refusal) => refusal,
            None => std::future::pending().await,
        }
    }

    /// Resolves once the certificate may no longer act, checked again at every block the
    /// ledger applies (revocation lists and parties change only with blocks) and whenever a
    /// request of the session was refused. For long-lived streams: a subscription must end on
    /// a revocation even when no request comes.
    pub async fn refused_at_any_block(&self) -> Refusal {
        let mut blocks = self.reader.subscribe_blocks();
        let mut state = self.state.subscribe();
        // Ends at the first refusal; each turn waits for a block or a change of the session.
        loop {
            if let Err(refusal) = self.authorize() {
                return refusal;
            }
            tokio::select! {
                block = blocks.recv() => {
                    if let Err(broadcast::error::RecvError::Closed) = block {
                        // The ledger stopped (the node is stopping): only a request can refuse.
                        return self.refused().await;
                    }
                }
                changed = state.changed() => {
                    if changed.is_err() {
                        return self.refused().await;
                    }
                }
            }
        }
    }

    /// Resolves once the session is refused and none of its subscriptions is streaming any
    /// more: each has sent its client the refusal and ended, so the WebSocket may close.
    pub async fn drained(&self) {
        let mut state = self.state.subscribe();
        let _ = state
            .wait_for(|s| s.refusal.is_some() && s.subscriptions == 0)
            .await;
    }

    /// `events` until the session is refused; then the refusal as a last item (an error naming
    /// the rule, `FORBIDDEN` with its `reason`), and the end of the stream. The session counts
    /// the stream as live until it ends or is dropped.
    pub fn until_refused<S, T>(
        self: &Arc<Session>,
        events: S,
    ) -> impl Stream<Item = async_graphql::Result<T>> + Send + use<S, T>
    where
        S: Stream<Item = T> + Send + 'static,
        T: Send + 'static,
    {
        let live = LiveSubscription::new(self.clone());
        futures_util::stream::unfold(
            (Box::pin(events), live, false),
            |(mut events, live, refused)| async move {
                // The refusal was the last item. The stream counts as live until this end:
                // the WebSocket closes only after the client was told that it ended.
                if refused {
                    return None;
                }
                tokio::select! {
                    biased;
                    refusal = live.session.refused_at_any_block() => {
                        Some((Err(refusal.to_error()), (events, live, true)))
                    }
                    event = events.next() => event.map(|e| (Ok(e), (events, live, false))),
                }
            },
        )
    }
}

/// A subscription of a session that is still streaming.
struct LiveSubscription {
    session: Arc<Session>,
}

impl LiveSubscription {
    fn new(session: Arc<Session>) -> LiveSubscription {
        session.state.send_modify(|s| s.subscriptions += 1);
        LiveSubscription { session }
    }
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        self.session
            .state
            .send_modify(|s| s.subscriptions = s.subscriptions.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    //! The rule for whom a certificate acts, and a session's re-checks, against a real ledger
    //! state (sled, the dev consortium's genesis) and real certificates; the process-level
    //! checks over TLS are in `e2e/security.rs`.

    use std::time::Duration;

    use base64::Engine as _;
    use futures_util::FutureExt as _;
    use ledger::{Genesis, LedgerState};
    use pki::dev::{Consortium, ConsortiumSpec, IdentityRequest, generate_consortium};
    use pki::{MemberCode, PartyCode as PkiPartyCode};
    use serde_json::{Value, json};

    use super::*;

    const NETWORK: &str = "silkline-test";

    struct Ledger {
        _dir: tempfile::TempDir,
        consortium: Consortium,
        state: LedgerState,
        now_s: i64,
    }

    /// The dev consortium, its certificates valid from two minutes ago (sessions verify at the
    /// wall clock), and the ledger state of its genesis.
    fn ledger() -> anyhow::Result<Ledger> {
        let dir = tempfile::tempdir()?;
        let now_s = i64::try_from(now_s())?;
        let consortium = generate_consortium(
            &ConsortiumSpec::dev(1),
            &dir.path().join("pki"),
            now_s - 120,
        )?;
        let genesis_ms = u64::try_from(now_s - 60)? * 1000;
        let genesis = Genesis::of_dev_consortium(
            &consortium,
            NETWORK,
            &["127.0.0.1:7101".into()],
            genesis_ms,
        )?;
        let state = LedgerState::open(dir.path().join("state"), &genesis)?;
        Ok(Ledger {
            _dir: dir,
            consortium,
            state,
            now_s,
        })
    }

    impl Ledger {
        /// A user certificate of `member`'s CA naming `party`.
        fn issue(&mut self, name: &str, member: &str, party: &str) -> anyhow::Result<()> {
            self.consortium.issue(&IdentityRequest {
                name: name.into(),
                member: MemberCode::new(member).map_err(anyhow::Error::msg)?,
                party: PkiPartyCode::new(party).map_err(anyhow::Error::msg)?,
                party_name: format!("{party} as issued by {member}"),
                kind: IdentityKind::User,
                node_id: None,
                ips: Vec::new(),
                not_before: self.now_s - 60,
                not_after: self.now_s + 3600,
            })?;
            Ok(())
        }

        fn chain(&self, name: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
            Ok(self
                .consortium
                .chain_der(name)?
                .into_iter()
                .map(CertificateDer::from)
                .collect())
        }

        fn caller(&self, name: &str) -> anyhow::Result<Result<Caller, Refusal>> {
            let reader = self.state.reader();
            let identity = verify_chain(&reader, &self.chain(name)?, now_s())?;
            Ok(Caller::of(&identity, &reader))
        }

        /// Revokes `name` and commits its member admin's `UPDATE_REVOCATIONS` in a block.
        fn revoke(&mut self, name: &str, admin: &str) -> anyhow::Result<()> {
            let crl = self.consortium.revoke(name, self.now_s - 10)?;
            let now_ms = u64::try_from(self.now_s)? * 1000;
            let payload = json!({
                "network": NETWORK,
                "nonce": "0123456789abcdef0123456789abcdef",
                "notBefore": now_ms - 60_000,
                "notAfter": now_ms + 60_000,
                "governance": {
                    "action": "UPDATE_REVOCATIONS",
                    "crl": base64::engine::general_purpose::STANDARD.encode(&crl),
                },
            });
            let envelope = pki::jws::sign(&payload, &self.consortium.signer(admin)?)?;
            let block = self.state.apply_block(
                self.state.applied_index() + 1,
                now_ms,
                replication::Attestation::NONE,
                &[envelope.as_bytes()],
            )?;
            let outcome = &block.transactions[0].outcome;
            anyhow::ensure!(
                matches!(outcome, ledger::Outcome::Committed { .. }),
                "the revocation list was not committed: {outcome:?}"
            );
            Ok(())
        }
    }

    fn reason(result: &Result<Caller, Refusal>) -> Option<&'static str> {
        result.as_ref().err().map(|r| r.reason)
    }

    #[test]
    fn a_certificate_acts_only_for_a_party_its_member_sponsors() -> anyhow::Result<()> {
        let mut l = ledger()?;
        // PORT's CA names SHIPPER, which CARRIER sponsors; CARRIER's names a party that is not
        // on the network.
        l.issue("port-as-shipper", "PORT", "SHIPPER")?;
        l.issue("carrier-as-nobody", "CARRIER", "NOBODY")?;

        assert_eq!(
            reason(&l.caller("port-as-shipper")?),
            Some("PARTY_NOT_SPONSORED")
        );
        assert_eq!(
            reason(&l.caller("carrier-as-nobody")?),
            Some("UNKNOWN_PARTY")
        );
        let shipper = l.caller("shipper")?.map_err(anyhow::Error::msg)?;
        assert_eq!(shipper.party.as_str(), "SHIPPER");
        assert_eq!(shipper.member.as_str(), "CARRIER");
        // A node certificate acts for its member's own party.
        let node = l.caller("node1")?.map_err(anyhow::Error::msg)?;
        assert_eq!(
            (node.party.as_str(), node.kind),
            ("CARRIER", IdentityKind::Node)
        );

        // Over a connection: the session opens (the chain is a member's), every request is
        // refused with the rule, and the refusal is final.
        let session = Session::open(l.state.reader(), l.chain("port-as-shipper")?)
            .map_err(anyhow::Error::msg)?;
        for _ in 0..2 {
            let refusal = session.authorize().err().map(|r| r.reason);
            assert_eq!(refusal, Some("PARTY_NOT_SPONSORED"));
        }
        let error = session.authorize().err().map(|r| r.to_error());
        let extensions = serde_json::to_value(error.and_then(|e| e.extensions))?;
        assert_eq!(
            extensions,
            json!({"code": "FORBIDDEN", "reason": "PARTY_NOT_SPONSORED"})
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_revocation_refuses_an_open_session_and_ends_its_subscriptions() -> anyhow::Result<()>
    {
        let mut l = ledger()?;
        let session = Arc::new(
            Session::open(l.state.reader(), l.chain("shipper")?).map_err(anyhow::Error::msg)?,
        );
        assert_eq!(session.authorize().map(|c| c.party.as_str()), Ok("SHIPPER"));
        // A subscription whose events never come: only the revocation can end it.
        let mut events = Box::pin(session.until_refused(futures_util::stream::pending::<Value>()));
        assert!(events.next().now_or_never().is_none(), "nothing to say yet");

        l.revoke("shipper", "carrier-admin")?;

        let last = tokio::time::timeout(Duration::from_secs(10), events.next()).await?;
        let error = match last {
            Some(Err(error)) => error,
            other => anyhow::bail!("expected the refusal, got {other:?}"),
        };
        let extensions = serde_json::to_value(&error.extensions)?;
        assert_eq!(
            extensions,
            json!({"code": "FORBIDDEN", "reason": "CERTIFICATE_REVOKED"}),
            "{}",
            error.message
        );
        assert!(
            events.next().await.is_none(),
            "the stream ends after the refusal"
        );
        drop(events);
        // Requests of the session are refused from now on, and the WebSocket may close.
        let refusal = session.authorize().err().map(|r| r.reason);
        assert_eq!(refusal, Some("CERTIFICATE_REVOKED"));
        tokio::time::timeout(Duration::from_secs(10), session.drained()).await?;
        // A session opened on the same certificate now is refused at once.
        let reopened = Session::open(l.state.reader(), l.chain("shipper")?).err();
        assert_eq!(reopened.map(|r| r.reason), Some("CERTIFICATE_REVOKED"));
        Ok(())
    }
}

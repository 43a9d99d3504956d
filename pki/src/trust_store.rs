//! The members' CAs and current revocation lists, and [`TrustStore::verify_identity`]: whether
//! a presented chain is a member's identity at a given time (`PROFILE.md`, "Verification").
//!
//! Pure data and pure functions: no clock (the time is a parameter), no I/O. Path building,
//! validity and revocation are webpki's, with [`crate::signature::ALGORITHMS`]; the profile is
//! read by [`crate::identity`]. Lists enter through [`crate::crl`], so a list the store holds is
//! one webpki can check.
//!
//! A store is cheap to clone: its trust material sits behind an [`Arc`] (copied only when a
//! clone changes it), so a TLS verifier may take the ledger's current store on every handshake
//! without copying every member's revocation list.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, OwnedCertRevocationList,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::certificate::X509Certificate;

use crate::crl::Crl;
use crate::identity::{
    CHAIN_CERTS_MAX, Fingerprint, Identity, IdentityError, MemberCode, Purpose, check_purpose,
    read_profile,
};
use crate::signature::{self, key_algorithm};

/// Most accepted chains a [`TrustStore`] remembers. A user signs many transactions with one
/// certificate, so a network of a few thousand active users verifies each chain once; past the
/// limit the memory is dropped whole (bounded, and a miss only costs a full verification).
pub const VERIFIED_CHAINS_MAX: usize = 4096;

/// One member's trust material.
#[derive(Debug, Clone)]
struct MemberTrust {
    /// Its root CAs: one, or more while a rotation overlaps the old root and the new.
    roots: Vec<CertificateDer<'static>>,
    crls: Vec<Vec<u8>>,
}

/// The members' CA certificates and current revocation lists: everything needed to decide
/// whether a chain is a member's identity at a given time. Pure data; no clock, no I/O.
///
/// It remembers the chains it accepted (see [`VerifiedChains`]); clones share that memory, and
/// any change of trust material ([`add_member`](Self::add_member),
/// [`set_revocations`](Self::set_revocations)) starts a new one, so a remembered answer is
/// always one the current material gave.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    /// Shared between clones until one of them changes (`Arc::make_mut`).
    members: Arc<BTreeMap<MemberCode, MemberTrust>>,
    verified: Arc<VerifiedChains>,
}

/// Chains a [`TrustStore`] accepted, with the span of time over which the answer holds.
///
/// [`TrustStore::verify_identity`] is a pure function of the store, the chain, the purpose and
/// the time, and the time enters only through the validity periods of the certificates of the
/// path (revocation lists are read with their expiry ignored, and trust anchors have no period
/// that webpki checks). An answer is remembered only when every presented certificate was valid
/// at the time asked, with the span over which all of them stay valid: at any other time in that
/// span every certificate compares with the time exactly as it did, so path building takes the
/// same steps and gives the same identity. Outside the span, or for a chain never accepted, the
/// full verification runs and gives the precise error. So remembering changes how long a
/// verification takes, never its answer: replicas stay deterministic.
#[derive(Debug, Default)]
struct VerifiedChains {
    entries: Mutex<HashMap<[u8; 32], VerifiedChain>>,
}

#[derive(Debug, Clone)]
struct VerifiedChain {
    identity: Identity,
    /// Latest notBefore of the presented certificates, Unix seconds.
    valid_from_s: i64,
    /// Earliest notAfter of the presented certificates, Unix seconds.
    valid_until_s: i64,
}

impl VerifiedChains {
    /// The key of a (chain, purpose) pair: SHA-256 over a tag, the purpose and each
    /// certificate's length-prefixed DER.
    fn key(chain: &[CertificateDer<'_>], purpose: Purpose) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"silkline-verified-chain-v1");
        h.update([purpose as u8]);
        for cert in chain {
            h.update((cert.as_ref().len() as u64).to_be_bytes());
            h.update(cert.as_ref());
        }
        h.finalize().into()
    }

    fn get(&self, key: &[u8; 32], at_unix_s: u64) -> Option<Identity> {
        let at = i64::try_from(at_unix_s).ok()?;
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found = entries.get(key)?;
        (found.valid_from_s <= at && at <= found.valid_until_s).then(|| found.identity.clone())
    }

    fn remember(&self, key: [u8; 32], chain: VerifiedChain) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= VERIFIED_CHAINS_MAX {
            entries.clear();
        }
        entries.insert(key, chain);
    }

    /// How many chains are remembered (for tests and metrics).
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Trusts `root_der` as a root CA of `member` (beside the ones it already has: a member
    /// rotating its CA has both while the rotation overlaps). The certificate must parse, be a
    /// CA and use an accepted algorithm, and no other root of any member may have its subject
    /// name (revocation lists are found by issuer name).
    pub fn add_member(
        &mut self,
        member: MemberCode,
        root_der: Vec<u8>,
    ) -> Result<(), IdentityError> {
        let (_, cert) = x509_parser::parse_x509_certificate(&root_der)
            .map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if !cert.is_ca() {
            return Err(IdentityError::Profile(format!(
                "{member}'s root certificate is not a CA certificate"
            )));
        }
        key_algorithm(cert.public_key()).map_err(IdentityError::UnsupportedAlgorithm)?;
        anchor_of(&CertificateDer::from(root_der.as_slice()))?;
        let same_subject = |der: &[u8]| {
            x509_parser::parse_x509_certificate(der)
                .is_ok_and(|(_, other)| other.subject().as_raw() == cert.subject().as_raw())
        };
        if self
            .members
            .get(&member)
            .is_some_and(|t| t.roots.iter().any(|r| r.as_ref() == root_der.as_slice()))
        {
            // Already this member's root: nothing changes.
            return Ok(());
        }
        if let Some((other, _)) = self.members.iter().find(|(_, t)| {
            t.roots
                .iter()
                .any(|r| r.as_ref() == root_der.as_slice() || same_subject(r))
        }) {
            // The member is whoever's root a chain reaches: one root must name one member. Names
            // must differ too: revocation lists are found by issuer name, so a look-alike root
            // would have its list checked (and fail) for the other member's certificates.
            return Err(IdentityError::Profile(format!(
                "this root CA (or its subject name) is already one of {other}'s; a root belongs to one member and every root has its own name"
            )));
        }
        Arc::make_mut(&mut self.members)
            .entry(member)
            .or_insert_with(|| MemberTrust {
                roots: Vec::new(),
                crls: Vec::new(),
            })
            .roots
            .push(CertificateDer::from(root_der));
        self.verified = Arc::default();
        Ok(())
    }

    /// Replaces `member`'s revocation lists (DER X.509 CRLs, one per CA of the member). Each
    /// must pass [`Crl::parse`] (it parses, with an accepted signature algorithm); its signature
    /// is checked against the issuing CA when a chain is verified.
    pub fn set_revocations(
        &mut self,
        member: &MemberCode,
        crls_der: Vec<Vec<u8>>,
    ) -> Result<(), IdentityError> {
        for crl in &crls_der {
            // The same door as the ledger's: a list webpki would not check (an unaccepted
            // signature algorithm, say) is refused here, not when it fails a member's chains.
            Crl::parse(crl).map_err(|e| IdentityError::BadRevocationList(e.to_string()))?;
        }
        let trust = Arc::make_mut(&mut self.members)
            .get_mut(member)
            .ok_or_else(|| {
                IdentityError::BadRevocationList(format!("{member} is not a member of this store"))
            })?;
        trust.crls = crls_der;
        self.verified = Arc::default();
        Ok(())
    }

    /// The members, in code order.
    pub fn members(&self) -> impl Iterator<Item = &MemberCode> {
        self.members.keys()
    }

    /// A member's current revocation lists (DER), as the store checks chains with them; `None`
    /// if `member` is not a member of this store.
    pub fn revocations(&self, member: &MemberCode) -> Option<&[Vec<u8>]> {
        self.members.get(member).map(|t| t.crls.as_slice())
    }

    /// A member's root CA certificates.
    pub fn member_roots(&self, member: &MemberCode) -> Option<&[CertificateDer<'static>]> {
        self.members.get(member).map(|t| t.roots.as_slice())
    }

    /// Every member's root CA, for a rustls client or server verifier.
    pub fn roots(&self) -> Vec<CertificateDer<'static>> {
        self.members
            .values()
            .flat_map(|t| t.roots.iter().cloned())
            .collect()
    }

    /// Every member's revocation lists, for a rustls verifier.
    pub fn crls(&self) -> Vec<CertificateRevocationListDer<'static>> {
        self.members
            .values()
            .flat_map(|t| {
                t.crls
                    .iter()
                    .map(|c| CertificateRevocationListDer::from(c.clone()))
            })
            .collect()
    }

    /// Verifies `chain` (leaf first, then intermediates; a trailing root is tolerated) at
    /// `at_unix_s`, for `purpose`, and reads the identity it names.
    pub fn verify_identity(
        &self,
        chain: &[CertificateDer<'_>],
        at_unix_s: u64,
        purpose: Purpose,
    ) -> Result<Identity, IdentityError> {
        if chain.is_empty() || chain.len() > CHAIN_CERTS_MAX {
            return self.verify_identity_fully(chain, at_unix_s, purpose);
        }
        let key = VerifiedChains::key(chain, purpose);
        if let Some(identity) = self.verified.get(&key, at_unix_s) {
            return Ok(identity);
        }
        let identity = self.verify_identity_fully(chain, at_unix_s, purpose)?;
        if let Some((valid_from_s, valid_until_s)) = common_validity(chain)
            && i64::try_from(at_unix_s).is_ok_and(|at| valid_from_s <= at && at <= valid_until_s)
        {
            self.verified.remember(
                key,
                VerifiedChain {
                    identity: identity.clone(),
                    valid_from_s,
                    valid_until_s,
                },
            );
        }
        Ok(identity)
    }

    /// How many accepted chains this store remembers (see [`VerifiedChains`]).
    pub fn verified_chains(&self) -> usize {
        self.verified.len()
    }

    /// [`verify_identity`](Self::verify_identity) without the memory of accepted chains.
    fn verify_identity_fully(
        &self,
        chain: &[CertificateDer<'_>],
        at_unix_s: u64,
        purpose: Purpose,
    ) -> Result<Identity, IdentityError> {
        let Some((leaf_der, intermediates)) = chain.split_first() else {
            return Err(IdentityError::EmptyChain);
        };
        if chain.len() > CHAIN_CERTS_MAX {
            return Err(IdentityError::ChainTooLong {
                len: chain.len(),
                max: CHAIN_CERTS_MAX,
            });
        }
        let (_, leaf) = x509_parser::parse_x509_certificate(leaf_der.as_ref())
            .map_err(|e| IdentityError::Malformed(e.to_string()))?;
        if let Err(what) = key_algorithm(leaf.public_key()) {
            return Err(self.unless_stranger(chain, IdentityError::UnsupportedAlgorithm(what)));
        }

        let members: Vec<(&MemberCode, TrustAnchor<'_>)> = self
            .members
            .iter()
            .flat_map(|(code, t)| t.roots.iter().map(move |r| anchor_of(r).map(|a| (code, a))))
            .collect::<Result<_, _>>()?;
        let anchors: Vec<TrustAnchor<'_>> = members.iter().map(|(_, a)| a.clone()).collect();
        let owned_crls: Vec<CertRevocationList<'static>> = self
            .members
            .values()
            .flat_map(|t| t.crls.iter())
            .map(|der| {
                OwnedCertRevocationList::from_der(der)
                    .map(CertRevocationList::from)
                    .map_err(|e| IdentityError::BadRevocationList(format!("{e:?}")))
            })
            .collect::<Result<_, _>>()?;
        let crl_refs: Vec<&CertRevocationList<'_>> = owned_crls.iter().collect();
        let revocation = if crl_refs.is_empty() {
            None
        } else {
            Some(
                RevocationOptionsBuilder::new(&crl_refs)
                    .map_err(|_| IdentityError::BadRevocationList("no lists".into()))?
                    .with_depth(RevocationCheckDepth::Chain)
                    // A CA that has published no list has revoked nothing yet.
                    .with_status_policy(UnknownStatusPolicy::Allow)
                    // Freshness of a list is governance's business (a newer list replaces it
                    // by transaction), not a reason to refuse every signature after nextUpdate.
                    .with_expiration_policy(ExpirationPolicy::Ignore)
                    .build(),
            )
        };

        let end_entity = EndEntityCert::try_from(leaf_der)
            .map_err(|e| IdentityError::Malformed(format!("{e:?}")))?;
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_unix_s));
        let usage = match purpose {
            Purpose::SignTransaction | Purpose::TlsClient => KeyUsage::client_auth(),
            Purpose::NodeServer => KeyUsage::server_auth(),
        };
        let path = end_entity
            .verify_for_usage(
                signature::ALGORITHMS,
                &anchors,
                intermediates,
                at,
                usage,
                revocation,
                None,
            )
            .map_err(|e| {
                // webpki checks each certificate's dates and extended key usage before it looks
                // for the issuer, so a stranger's expired or serverAuth-only certificate would be
                // reported as such; PROFILE.md promises `UnknownIssuer` for any chain that
                // reaches no member's CA, whatever else is wrong with it.
                if let Some(not_ours) = self.stranger_error(chain) {
                    return not_ours;
                }
                // A certificate of the wrong kind usually lacks the EKU too; its kind is the
                // more useful thing to say.
                if matches!(e, webpki::Error::RequiredEkuNotFoundContext(_))
                    && let Ok(profile) = read_profile(&leaf)
                    && let Err(wrong_kind) = check_purpose(profile.kind, purpose)
                {
                    return wrong_kind;
                }
                map_webpki_error(e, &leaf, at_unix_s)
            })?;

        // The profile is read only from a certificate that chains to a member: a stranger's
        // certificate is an unknown issuer, whatever it claims inside.
        let profile = read_profile(&leaf)?;
        check_purpose(profile.kind, purpose)?;

        let anchor = path.anchor();
        let member = members
            .iter()
            .find(|(_, a)| {
                a.subject.as_ref() == anchor.subject.as_ref()
                    && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
            })
            .map(|(code, _)| (*code).clone())
            .ok_or(IdentityError::UnknownIssuer)?;

        Ok(Identity {
            member,
            party: profile.party,
            party_name: profile.party_name,
            name: profile.name,
            kind: profile.kind,
            node_id: profile.node_id,
            fingerprint: Fingerprint::of(leaf_der.as_ref()),
            serial: leaf.raw_serial_as_string().replace(':', ""),
            not_after: leaf.validity().not_after.timestamp(),
        })
    }
}

/// How far a presented chain gets towards the members' roots on issuer names and signatures
/// alone: no dates, key usages or revocation (the half of path building that says whose chain
/// it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// A member's root signed the last certificate of the walk.
    Member,
    /// A certificate names a member's root as its issuer, but that root's key did not sign it:
    /// a CA that copied a member CA's name.
    Impostor,
    /// No certificate of the walk names a member's root.
    Stranger,
}

impl TrustStore {
    /// The error for a chain that does not reach a member's root, whatever else is wrong
    /// with it: `UnknownIssuer` for a stranger's, `BadSignature` for an impostor's; `None`
    /// for a chain that does reach one.
    fn stranger_error(&self, chain: &[CertificateDer<'_>]) -> Option<IdentityError> {
        match self.reach(chain) {
            Reach::Member => None,
            Reach::Impostor => Some(IdentityError::BadSignature),
            Reach::Stranger => Some(IdentityError::UnknownIssuer),
        }
    }

    /// `error`, unless the chain reaches no member's root (see [`Self::stranger_error`]).
    fn unless_stranger(&self, chain: &[CertificateDer<'_>], error: IdentityError) -> IdentityError {
        self.stranger_error(chain).unwrap_or(error)
    }

    /// Walks from the leaf to the certificate that issued it -- a member's root, else a
    /// presented certificate not used yet -- at most [`CHAIN_CERTS_MAX`] steps. Runs only on
    /// the refusal path, so an accepted chain costs no extra signature check.
    fn reach(&self, chain: &[CertificateDer<'_>]) -> Reach {
        let roots: Vec<X509Certificate<'_>> = self
            .members
            .values()
            .flat_map(|t| t.roots.iter())
            .filter_map(|r| x509_parser::parse_x509_certificate(r.as_ref()).ok())
            .map(|(_, root)| root)
            .collect();
        let presented: Vec<Option<X509Certificate<'_>>> = chain
            .iter()
            .take(CHAIN_CERTS_MAX)
            .map(|c| {
                x509_parser::parse_x509_certificate(c.as_ref())
                    .ok()
                    .map(|(_, cert)| cert)
            })
            .collect();
        let Some(Some(leaf)) = presented.first() else {
            return Reach::Stranger;
        };
        let mut current = leaf;
        let mut used = vec![false; presented.len()];
        used[0] = true;
        let mut impostor = false;
        for _ in 0..CHAIN_CERTS_MAX {
            for root in &roots {
                if current.issuer().as_raw() == root.subject().as_raw() {
                    if signed_by(current, root) {
                        return Reach::Member;
                    }
                    impostor = true;
                }
            }
            let next = presented.iter().enumerate().find_map(|(i, cert)| {
                let cert = cert.as_ref()?;
                (!used[i]
                    && cert.subject().as_raw() == current.issuer().as_raw()
                    && signed_by(current, cert))
                .then_some((i, cert))
            });
            match next {
                Some((i, issuer)) => {
                    used[i] = true;
                    current = issuer;
                }
                None => break,
            }
        }
        if impostor {
            Reach::Impostor
        } else {
            Reach::Stranger
        }
    }
}

/// Whether `issuer`'s key made `cert`'s signature, with an accepted algorithm.
fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    signature::verify_x509(
        issuer.public_key(),
        &cert.signature_algorithm,
        cert.tbs_certificate.as_ref(),
        &cert.signature_value.data,
    )
    .is_ok()
}

/// The span during which every certificate of `chain` is valid, `[latest notBefore, earliest
/// notAfter]` in Unix seconds; `None` if one does not parse.
fn common_validity(chain: &[CertificateDer<'_>]) -> Option<(i64, i64)> {
    let mut span = (i64::MIN, i64::MAX);
    for cert in chain {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let validity = parsed.validity();
        span.0 = span.0.max(validity.not_before.timestamp());
        span.1 = span.1.min(validity.not_after.timestamp());
    }
    Some(span)
}

fn anchor_of<'a>(root: &'a CertificateDer<'a>) -> Result<TrustAnchor<'a>, IdentityError> {
    webpki::anchor_from_trusted_cert(root)
        .map_err(|e| IdentityError::Malformed(format!("member CA certificate: {e:?}")))
}

fn map_webpki_error(e: webpki::Error, leaf: &X509Certificate<'_>, at: u64) -> IdentityError {
    use webpki::Error as E;
    let at = at as i64;
    match e {
        // webpki reports the dates of whichever certificate of the chain failed.
        E::CertExpired { not_after, .. } => IdentityError::Expired {
            not_after: not_after.as_secs() as i64,
            at,
        },
        E::CertNotValidYet { not_before, .. } => IdentityError::NotYetValid {
            not_before: not_before.as_secs() as i64,
            at,
        },
        E::CertRevoked => IdentityError::Revoked {
            serial: leaf.raw_serial_as_string().replace(':', ""),
        },
        E::UnknownIssuer => IdentityError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => IdentityError::BadSignature,
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            IdentityError::UnsupportedAlgorithm(format!("{e:?}"))
        }
        E::RequiredEkuNotFoundContext(_) => {
            IdentityError::KeyUsage(format!("required extended key usage missing: {e:?}"))
        }
        E::InvalidCrlSignatureForPublicKey
        | E::IssuerNotCrlSigner
        | E::UnsupportedCrlSignatureAlgorithmContext(_) => {
            IdentityError::BadRevocationList(format!("{e:?}"))
        }
        E::CaUsedAsEndEntity | E::EndEntityUsedAsCa => IdentityError::Profile(format!("{e:?}")),
        other => IdentityError::Other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::{ConsortiumSpec, generate_consortium};

    /// A clone (what a TLS verifier takes on every handshake) shares the trust material; a
    /// change copies it for the changed store only.
    #[test]
    fn clones_share_the_material_until_one_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c =
            generate_consortium(&ConsortiumSpec::dev(1), dir.path(), 1_767_225_600).unwrap();
        let store = c.trust_store().unwrap();
        let clone = store.clone();
        assert!(Arc::ptr_eq(&store.members, &clone.members));

        let carrier = MemberCode::new("CARRIER").unwrap();
        let before = store.revocations(&carrier).unwrap().to_vec();
        let list = c.revoke("shipper", 1_767_225_600 + 60).unwrap();
        let mut changed = clone.clone();
        changed
            .set_revocations(&carrier, vec![list.clone()])
            .unwrap();
        assert!(!Arc::ptr_eq(&store.members, &changed.members));
        assert!(Arc::ptr_eq(&store.members, &clone.members));
        assert_eq!(store.revocations(&carrier).unwrap(), before.as_slice());
        assert_eq!(changed.revocations(&carrier).unwrap(), [list].as_slice());
    }
}

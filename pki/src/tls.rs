//! TLS on Silkline identities: the one rustls crypto provider, the handshake signature
//! algorithms, and the certificate verifiers built on [`TrustStore`], for every TLS endpoint of
//! the workspace (the nodes' mutual TLS in `replication::transport`, the API and public servers
//! in `graphql`, the CLI's HTTPS client in `node`).
//!
//! - [`provider`]: aws-lc-rs, never a process default, with signature verification narrowed to
//!   the profile's two algorithms ([`SIGNATURE_ALGORITHMS`], the same
//!   [`crate::signature::ALGORITHMS`] that certificates and revocation lists are checked with).
//!   [`public_provider`] is aws-lc-rs as it comes, for a listener that verifies no peer
//!   certificate (browsers).
//! - [`ClientVerifier`] and [`ServerVerifier`]: rustls verifiers that check a presented chain
//!   with a [`ChainCheck`] (a caller's rule on top of [`TrustStore::verify_identity`]) and
//!   verify handshake signatures with [`SIGNATURE_ALGORITHMS`]; written once here rather than
//!   in each server and client.
//!
//! What it is not: a transport. Which peers a node talks to, protocol versions, session
//! resumption and ALPN are each endpoint's choice; this module only decides whose certificate
//! is accepted and with which algorithms.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, OtherError, SignatureScheme};

use crate::identity::{Identity, IdentityError, Purpose};
use crate::trust_store::TrustStore;

/// The handshake signature algorithms accepted: the certificate profile's two (`PROFILE.md`),
/// verified by the same webpki algorithm objects as certificates and revocation lists.
pub static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        webpki::aws_lc_rs::ED25519,
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
    ],
    mapping: &[
        (SignatureScheme::ED25519, &[webpki::aws_lc_rs::ED25519]),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[webpki::aws_lc_rs::ECDSA_P256_SHA256],
        ),
    ],
};

/// The aws-lc-rs provider, installed explicitly (never a process default), with signature
/// verification narrowed to the profile's algorithms: for every endpoint whose peers present
/// Silkline certificates.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        ..rustls::crypto::aws_lc_rs::default_provider()
    })
}

/// The aws-lc-rs provider with its default algorithms, for a listener that asks for no client
/// certificate and so verifies no signature of a peer's (the public verification page, which
/// browsers reach with whatever certificate its operator chose). Still aws-lc-rs: one provider.
pub fn public_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The chain a peer presented, leaf first, as [`TrustStore::verify_identity`] takes it.
pub fn presented_chain<'a>(
    end_entity: &CertificateDer<'a>,
    intermediates: &[CertificateDer<'a>],
) -> Vec<CertificateDer<'a>> {
    let mut chain = Vec::with_capacity(1 + intermediates.len());
    chain.push(end_entity.clone());
    chain.extend(intermediates.iter().cloned());
    chain
}

/// Verifies the chain a peer presented at `now` (rustls passes its clock in; a TLS endpoint may
/// read the clock, the apply path may not), for `purpose`.
pub fn verify_presented(
    trust: &TrustStore,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    purpose: Purpose,
) -> Result<Identity, IdentityError> {
    trust.verify_identity(
        &presented_chain(end_entity, intermediates),
        now.as_secs(),
        purpose,
    )
}

/// The handshake error for a refused certificate: the TLS alert that names `cause` when there
/// is one (unknown CA, expired, not yet valid, revoked), else `refusal` itself as the reason.
pub fn refused<E>(cause: Option<&IdentityError>, refusal: E) -> rustls::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let error = match cause {
        Some(IdentityError::UnknownIssuer) => CertificateError::UnknownIssuer,
        Some(IdentityError::Expired { .. }) => CertificateError::Expired,
        Some(IdentityError::NotYetValid { .. }) => CertificateError::NotValidYet,
        Some(IdentityError::Revoked { .. }) => CertificateError::Revoked,
        _ => CertificateError::Other(OtherError(Arc::new(refusal))),
    };
    rustls::Error::InvalidCertificate(error)
}

/// A rule on the chain a peer presents: typically [`verify_presented`] with a trust store, then
/// the caller's own requirement (a node certificate, a pinned node id, ...). An `Err` fails the
/// handshake; build it with [`refused`].
pub trait ChainCheck: std::fmt::Debug + Send + Sync {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), rustls::Error>;
}

/// A rustls client-certificate verifier: the presented chain must pass `C`, handshake
/// signatures must use [`SIGNATURE_ALGORITHMS`]. No root hints: every Silkline client holds
/// exactly the certificate it means to present.
#[derive(Debug)]
pub struct ClientVerifier<C>(pub C);

impl<C: ChainCheck> ClientCertVerifier for ClientVerifier<C> {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.check(end_entity, intermediates, now)?;
        Ok(ClientCertVerified::assertion())
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

/// A rustls server-certificate verifier: the presented chain must pass `C`, handshake
/// signatures must use [`SIGNATURE_ALGORITHMS`].
///
/// The server name (the address dialed) is not matched against the certificate's IP/DNS names:
/// a Silkline check pins a stronger, address-independent name (the node id URI) instead.
#[derive(Debug)]
pub struct ServerVerifier<C>(pub C);

impl<C: ChainCheck> ServerCertVerifier for ServerVerifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0.check(end_entity, intermediates, now)?;
        Ok(ServerCertVerified::assertion())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The handshake accepts exactly the algorithms certificates and lists are checked with.
    #[test]
    fn handshake_algorithms_are_the_profiles() {
        let ids = |algs: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm]| {
            algs.iter()
                .map(|a| (a.public_key_alg_id(), a.signature_alg_id()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(SIGNATURE_ALGORITHMS.all),
            ids(crate::signature::ALGORITHMS)
        );
        assert_eq!(
            SIGNATURE_ALGORITHMS.supported_schemes(),
            [
                SignatureScheme::ED25519,
                SignatureScheme::ECDSA_NISTP256_SHA256
            ]
        );
        assert_eq!(
            provider()
                .signature_verification_algorithms
                .supported_schemes(),
            SIGNATURE_ALGORITHMS.supported_schemes()
        );
    }
}

/// A certificate and key presented by a server or client, replaced as a whole when it is
/// renewed: every handshake from then on presents the new one, connections already established
/// keep theirs. Shared by the nodes' transport and the API's listener.
pub type SharedCertificate = Arc<std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>>;

/// `chain` (leaf first) and its PKCS#8 `key`, as rustls presents them with [`provider`]'s key
/// loader; refused if the key is not the leaf's.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::sign::CertifiedKey>, rustls::Error> {
    let key = provider().key_provider.load_private_key(key)?;
    let certified = rustls::sign::CertifiedKey::new(chain, key);
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// Presents the current [`SharedCertificate`], on either side of a handshake
/// (`with_cert_resolver`, `with_client_cert_resolver`).
#[derive(Debug)]
pub struct CurrentCertificate(pub SharedCertificate);

impl CurrentCertificate {
    fn get(&self) -> Arc<rustls::sign::CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl rustls::server::ResolvesServerCert for CurrentCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.get())
    }
}

impl rustls::client::ResolvesClientCert for CurrentCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

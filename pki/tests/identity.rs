//! Generated certificates checked at an explicit time: valid, expired, not yet valid, revoked,
//! foreign CA, wrong kind, broken profile, unsupported algorithm.

use crate::common;

use common::{DAY, T0, chain, consortium};
use pki::dev::IdentityRequest;
use pki::{IdentityError, IdentityKind, MemberCode, PartyCode, Purpose};

fn at(t: i64) -> u64 {
    t as u64
}

#[test]
fn a_user_of_a_root_only_ed25519_member_is_identified() {
    let (_d, c) = consortium();
    let store = c.trust_store().unwrap();
    let id = store
        .verify_identity(
            &chain(&c, "shipper"),
            at(T0 + DAY),
            Purpose::SignTransaction,
        )
        .unwrap();
    assert_eq!(id.member.as_str(), "CARRIER");
    assert_eq!(id.party.as_str(), "SHIPPER");
    assert_eq!(id.party_name, "Shipper Co");
    assert_eq!(id.name, "shipper");
    assert_eq!(id.kind, IdentityKind::User);
    assert_eq!(id.node_id, None);
    assert_eq!(id.serial, c.identity("shipper").unwrap().serial);
    assert_eq!(
        id.fingerprint,
        pki::Fingerprint::of(&c.chain_der("shipper").unwrap()[0])
    );
}

#[test]
fn a_p256_user_behind_an_intermediate_is_identified() {
    let (_d, c) = consortium();
    let store = c.trust_store().unwrap();
    let presented = chain(&c, "bank");
    assert_eq!(presented.len(), 2, "leaf and intermediate");
    let id = store
        .verify_identity(&presented, at(T0 + DAY), Purpose::SignTransaction)
        .unwrap();
    assert_eq!(id.member.as_str(), "BANK");
    assert_eq!(id.party.as_str(), "BANK");
}

#[test]
fn an_admin_may_sign_and_a_node_may_serve_tls_but_not_sign() {
    let (_d, c) = consortium();
    let store = c.trust_store().unwrap();
    let admin = store
        .verify_identity(
            &chain(&c, "port-admin"),
            at(T0 + DAY),
            Purpose::SignTransaction,
        )
        .unwrap();
    assert_eq!(admin.kind, IdentityKind::Admin);

    let node = store
        .verify_identity(&chain(&c, "node2"), at(T0 + DAY), Purpose::NodeServer)
        .unwrap();
    assert_eq!(node.kind, IdentityKind::Node);
    assert_eq!(node.node_id.as_ref().unwrap().as_str(), "node2");
    assert_eq!(
        node.member.as_str(),
        "PORT",
        "dev nodes go round the members"
    );

    let err = store
        .verify_identity(&chain(&c, "node2"), at(T0 + DAY), Purpose::SignTransaction)
        .unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::WrongKind {
                kind: IdentityKind::Node,
                ..
            }
        ),
        "{err}"
    );

    let err = store
        .verify_identity(&chain(&c, "shipper"), at(T0 + DAY), Purpose::NodeServer)
        .unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::WrongKind {
                kind: IdentityKind::User,
                ..
            }
        ),
        "{err}"
    );
}

/// A shipper's user certificate valid from T0 + 10 days to T0 + 20 days, named "short-lived".
fn issue_short_lived(c: &mut pki::dev::Consortium) {
    c.issue(&IdentityRequest {
        name: "short-lived".into(),
        member: MemberCode::new("CARRIER").unwrap(),
        party: PartyCode::new("SHIPPER").unwrap(),
        party_name: "Shipper Co".into(),
        kind: IdentityKind::User,
        node_id: None,
        ips: vec![],
        not_before: T0 + 10 * DAY,
        not_after: T0 + 20 * DAY,
    })
    .unwrap();
}

#[test]
fn expiry_and_not_yet_valid_are_judged_at_the_time_given() {
    let (_d, mut c) = consortium();
    issue_short_lived(&mut c);
    let store = c.trust_store().unwrap();
    let presented = chain(&c, "short-lived");

    let err = store
        .verify_identity(&presented, at(T0 + 5 * DAY), Purpose::SignTransaction)
        .unwrap_err();
    assert_eq!(
        err,
        IdentityError::NotYetValid {
            not_before: T0 + 10 * DAY,
            at: T0 + 5 * DAY
        }
    );
    store
        .verify_identity(&presented, at(T0 + 15 * DAY), Purpose::SignTransaction)
        .unwrap();
    let err = store
        .verify_identity(&presented, at(T0 + 25 * DAY), Purpose::SignTransaction)
        .unwrap_err();
    assert_eq!(
        err,
        IdentityError::Expired {
            not_after: T0 + 20 * DAY,
            at: T0 + 25 * DAY
        }
    );
}

#[test]
fn a_revoked_certificate_is_refused_once_the_new_list_is_in_the_store() {
    for name in ["shipper", "bank"] {
        let (_d, mut c) = consortium();
        let presented = chain(&c, name);
        let before = c.trust_store().unwrap();
        before
            .verify_identity(&presented, at(T0 + DAY), Purpose::SignTransaction)
            .unwrap();

        c.revoke(name, T0 + 2 * DAY).unwrap();
        let after = c.trust_store().unwrap();
        let err = after
            .verify_identity(&presented, at(T0 + 3 * DAY), Purpose::SignTransaction)
            .unwrap_err();
        assert_eq!(
            err,
            IdentityError::Revoked {
                serial: c.identity(name).unwrap().serial.clone()
            },
            "{name}"
        );
        // Others of the same member are untouched.
        let other = if name == "shipper" {
            "carrier"
        } else {
            "bank-admin"
        };
        after
            .verify_identity(
                &chain(&c, other),
                at(T0 + 3 * DAY),
                Purpose::SignTransaction,
            )
            .unwrap();
    }
}

#[test]
fn a_certificate_from_a_foreign_ca_is_an_unknown_issuer() {
    let (_d, ours) = consortium();
    let (_d2, theirs) = common::foreign_consortium();
    let err = ours
        .trust_store()
        .unwrap()
        .verify_identity(
            &chain(&theirs, "shipper"),
            at(T0 + DAY),
            Purpose::SignTransaction,
        )
        .unwrap_err();
    assert_eq!(err, IdentityError::UnknownIssuer);
}

#[test]
fn an_impostor_ca_with_a_members_name_fails_on_its_signature() {
    // Another consortium generated from the same spec: same CA names, different keys.
    let (_d, ours) = consortium();
    let (_d2, impostor) = consortium();
    let err = ours
        .trust_store()
        .unwrap()
        .verify_identity(
            &chain(&impostor, "shipper"),
            at(T0 + DAY),
            Purpose::SignTransaction,
        )
        .unwrap_err();
    assert_eq!(err, IdentityError::BadSignature);
}

#[test]
fn a_revocation_list_signed_by_a_foreign_ca_does_not_load_as_trust() {
    let (_d, ours) = consortium();
    let (_d2, mut theirs) = consortium();
    // The foreign CARRIER revokes "shipper" (its own serial numbers coincide with ours).
    theirs.revoke("shipper", T0 + DAY).unwrap();
    let mut store = ours.trust_store().unwrap();
    let carrier = MemberCode::new("CARRIER").unwrap();
    store
        .set_revocations(&carrier, vec![theirs.crl_der(&carrier).unwrap()])
        .unwrap();
    // The forged list names our issuer but is not signed by it: the check fails loudly instead
    // of silently revoking (or silently accepting).
    let err = store
        .verify_identity(
            &chain(&ours, "shipper"),
            at(T0 + 2 * DAY),
            Purpose::SignTransaction,
        )
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::BadRevocationList(_)),
        "expected a bad-list error, got {err}"
    );
}

fn custom_cert(
    c: &pki::dev::Consortium,
    sans: Vec<rcgen::SanType>,
    eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Vec<pki::CertificateDer<'static>> {
    custom_cert_from(c, "CARRIER", sans, eku, alg)
}

/// A certificate outside the profile's generator, signed by `member`'s issuing CA.
fn custom_cert_from(
    c: &pki::dev::Consortium,
    member: &str,
    sans: Vec<rcgen::SanType>,
    eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Vec<pki::CertificateDer<'static>> {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "custom");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Shipper Co");
    params.not_before = time::OffsetDateTime::from_unix_timestamp(T0).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(T0 + 100 * DAY).unwrap();
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = eku;
    params.subject_alt_names = sans;
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let issuer = c.issuer(&MemberCode::new(member).unwrap()).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    vec![cert.der().clone()]
}

/// Why the consortium's trust store refuses `presented` for signing, a day after generation.
fn refusal(c: &pki::dev::Consortium, presented: &[pki::CertificateDer<'static>]) -> IdentityError {
    c.trust_store()
        .unwrap()
        .verify_identity(presented, at(T0 + DAY), Purpose::SignTransaction)
        .unwrap_err()
}

fn uri(s: &str) -> rcgen::SanType {
    rcgen::SanType::URI(s.to_string().try_into().unwrap())
}

#[test]
fn a_certificate_without_a_party_uri_breaks_the_profile() {
    let (_d, c) = consortium();
    let presented = custom_cert(
        &c,
        vec![uri("urn:silkline:kind:user")],
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        &rcgen::PKCS_ED25519,
    );
    let err = refusal(&c, &presented);
    assert!(
        matches!(err, IdentityError::Profile(ref m) if m.contains("party")),
        "{err}"
    );
}

#[test]
fn two_party_uris_break_the_profile() {
    let (_d, c) = consortium();
    let presented = custom_cert(
        &c,
        vec![
            uri("urn:silkline:party:SHIPPER"),
            uri("urn:silkline:party:CARRIER"),
            uri("urn:silkline:kind:user"),
        ],
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        &rcgen::PKCS_ED25519,
    );
    let err = refusal(&c, &presented);
    assert!(
        matches!(err, IdentityError::Profile(ref m) if m.contains("more than one")),
        "{err}"
    );
}

#[test]
fn a_user_certificate_without_client_auth_is_refused_for_signing() {
    let (_d, c) = consortium();
    let presented = custom_cert(
        &c,
        vec![
            uri("urn:silkline:party:SHIPPER"),
            uri("urn:silkline:kind:user"),
        ],
        vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning],
        &rcgen::PKCS_ED25519,
    );
    let err = refusal(&c, &presented);
    assert!(matches!(err, IdentityError::KeyUsage(_)), "{err}");
}

#[test]
fn a_p384_key_is_an_unsupported_algorithm() {
    let (_d, c) = consortium();
    let presented = custom_cert(
        &c,
        vec![
            uri("urn:silkline:party:SHIPPER"),
            uri("urn:silkline:kind:user"),
        ],
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        &rcgen::PKCS_ECDSA_P384_SHA384,
    );
    let err = refusal(&c, &presented);
    assert!(
        matches!(err, IdentityError::UnsupportedAlgorithm(_)),
        "{err}"
    );
}

#[test]
fn garbage_and_empty_chains_are_refused_precisely() {
    let (_d, c) = consortium();
    let store = c.trust_store().unwrap();
    assert_eq!(
        store
            .verify_identity(&[], at(T0), Purpose::SignTransaction)
            .unwrap_err(),
        IdentityError::EmptyChain
    );
    let garbage = vec![pki::CertificateDer::from(vec![
        0x30, 0x03, 0x02, 0x01, 0x01,
    ])];
    assert!(matches!(
        store
            .verify_identity(&garbage, at(T0), Purpose::SignTransaction)
            .unwrap_err(),
        IdentityError::Malformed(_)
    ));
    let long: Vec<_> = std::iter::repeat_n(chain(&c, "shipper")[0].clone(), 5).collect();
    assert_eq!(
        store
            .verify_identity(&long, at(T0), Purpose::SignTransaction)
            .unwrap_err(),
        IdentityError::ChainTooLong { len: 5, max: 4 }
    );
}

#[test]
fn the_generator_writes_keys_private_and_a_complete_manifest() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_d, c) = consortium();
    let m = c.manifest();
    // 3 members' parties + SHIPPER users, 3 admins, 3 nodes.
    assert_eq!(m.identities.len(), 4 + 3 + 3);
    for id in &m.identities {
        let mode = std::fs::metadata(c.path(&id.key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", id.key.display());
        assert!(c.path(&id.cert).exists());
    }
    let bundle = std::fs::read_to_string(c.path(&m.ca_bundle)).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 3);
    // Reopening reads the same manifest.
    let reopened = pki::dev::Consortium::open(c.dir()).unwrap();
    assert_eq!(reopened.manifest(), m);
    // Generating twice into one directory is refused rather than overwriting keys.
    assert!(pki::dev::generate_consortium(&common::spec(), c.dir(), T0).is_err());
}

#[test]
fn a_revocation_list_is_inspected_without_trusting_it() {
    let (_d, mut c) = consortium();
    let bank = MemberCode::new("BANK").unwrap();
    let first = pki::inspect_revocation_list(&c.crl_der(&bank).unwrap()).unwrap();
    assert_eq!(first.issuer_member, "BANK");
    assert_eq!(first.crl_number, 1);
    assert_eq!(first.this_update, T0);
    assert!(first.revoked_serials.is_empty());

    c.revoke("bank", T0 + DAY).unwrap();
    let second = pki::inspect_revocation_list(&c.crl_der(&bank).unwrap()).unwrap();
    assert_eq!(second.crl_number, 2);
    assert_eq!(second.this_update, T0 + DAY);
    assert_eq!(
        second.revoked_serials,
        vec![c.identity("bank").unwrap().serial.clone()]
    );

    assert!(matches!(
        pki::inspect_revocation_list(b"\x30\x00"),
        Err(IdentityError::BadRevocationList(_))
    ));
}

#[test]
fn a_foreign_certificate_is_an_unknown_issuer_whatever_its_profile_claims() {
    // A stranger's certificate that also breaks the profile (no party URI) must be reported
    // as not ours, not as a profile problem: the profile of strangers is not our business.
    let (_d, ours) = consortium();
    let (_d2, theirs) = common::foreign_consortium();
    let presented = custom_cert_from(
        &theirs,
        "ELSEWHERE",
        vec![uri("urn:silkline:kind:user")],
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth],
        &rcgen::PKCS_ED25519,
    );
    assert_eq!(refusal(&ours, &presented), IdentityError::UnknownIssuer);
}

/// A certificate made by the foreign consortium's ELSEWHERE CA, the way a stranger's toolkit
/// might make it: the profile's URIs, but `eku` as given and valid over `[from, until]`.
fn stranger_cert(
    theirs: &pki::dev::Consortium,
    eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    from: i64,
    until: i64,
) -> Vec<pki::CertificateDer<'static>> {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stranger");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Shipper Co");
    params.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
    params.not_after = time::OffsetDateTime::from_unix_timestamp(until).unwrap();
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = eku;
    params.subject_alt_names = vec![
        uri("urn:silkline:party:SHIPPER"),
        uri("urn:silkline:kind:user"),
    ];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let issuer = theirs
        .issuer(&MemberCode::new("ELSEWHERE").unwrap())
        .unwrap();
    vec![params.signed_by(&key, &issuer).unwrap().der().clone()]
}

#[test]
fn a_chain_that_reaches_no_member_ca_is_an_unknown_issuer_whatever_else_is_wrong_with_it() {
    // PROFILE.md: the chain is built first, so a stranger's certificate is `UnknownIssuer`
    // whatever it claims inside. webpki checks each certificate's dates and extended key
    // usage before it looks for an issuer; those answers are for chains that reach a member.
    let (_d, ours) = consortium();
    let (_d2, theirs) = common::foreign_consortium();
    let client_auth = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let without_eku = stranger_cert(&theirs, Vec::new(), T0, T0 + 100 * DAY);
    assert_eq!(refusal(&ours, &without_eku), IdentityError::UnknownIssuer);
    let server_only = stranger_cert(
        &theirs,
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
        T0,
        T0 + 100 * DAY,
    );
    assert_eq!(refusal(&ours, &server_only), IdentityError::UnknownIssuer);
    let expired = stranger_cert(&theirs, client_auth.clone(), T0 - 10 * DAY, T0 - DAY);
    assert_eq!(refusal(&ours, &expired), IdentityError::UnknownIssuer);
    let not_yet = stranger_cert(&theirs, client_auth.clone(), T0 + 10 * DAY, T0 + 20 * DAY);
    assert_eq!(refusal(&ours, &not_yet), IdentityError::UnknownIssuer);
    // The stranger's own root appended to the chain leads nowhere either.
    let elsewhere = MemberCode::new("ELSEWHERE").unwrap();
    let mut with_root = stranger_cert(&theirs, Vec::new(), T0, T0 + 100 * DAY);
    with_root.push(pki::CertificateDer::from(
        theirs.root_der(&elsewhere).unwrap(),
    ));
    assert_eq!(refusal(&ours, &with_root), IdentityError::UnknownIssuer);
    // A stranger's node certificate offered as a TLS server: not ours, before not a node's.
    assert_eq!(
        ours.trust_store()
            .unwrap()
            .verify_identity(&without_eku, at(T0 + DAY), Purpose::NodeServer)
            .unwrap_err(),
        IdentityError::UnknownIssuer
    );

    // The same defects in a chain that does reach a member are reported as what they are.
    let ours_server_only = custom_cert(
        &ours,
        vec![
            uri("urn:silkline:party:SHIPPER"),
            uri("urn:silkline:kind:user"),
        ],
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth],
        &rcgen::PKCS_ED25519,
    );
    assert!(
        matches!(
            refusal(&ours, &ours_server_only),
            IdentityError::KeyUsage(_)
        ),
        "a member's certificate without clientAuth"
    );
    let store = ours.trust_store().unwrap();
    assert!(matches!(
        store.verify_identity(
            &chain(&ours, "shipper"),
            at(T0 + 6 * 365 * DAY),
            Purpose::SignTransaction
        ),
        Err(IdentityError::Expired { .. })
    ));
}

#[test]
fn an_impostor_ca_is_reported_on_its_signature_whatever_else_is_wrong() {
    // Same CA names as ours, other keys: the chain names a member's CA, whose key did not sign
    // it. That stays `BadSignature` (the ledger's `UNKNOWN_ISSUER`) even when the leaf has also
    // expired.
    let (_d, ours) = consortium();
    let (_d2, impostor) = consortium();
    let err = ours
        .trust_store()
        .unwrap()
        .verify_identity(
            &chain(&impostor, "shipper"),
            at(T0 + 6 * 365 * DAY),
            Purpose::SignTransaction,
        )
        .unwrap_err();
    assert_eq!(err, IdentityError::BadSignature);
}

#[test]
fn an_expired_intermediate_is_reported_with_its_own_dates() {
    let (_d, c) = consortium();
    let store = c.trust_store().unwrap();
    // BANK's users chain through its intermediate; far in the future everything has expired,
    // and the error names the first certificate webpki found expired with its notAfter.
    let err = store
        .verify_identity(
            &chain(&c, "bank"),
            at(T0 + 6 * 365 * DAY),
            Purpose::SignTransaction,
        )
        .unwrap_err();
    let IdentityError::Expired { not_after, at } = err else {
        panic!("expected Expired, got {err}");
    };
    assert_eq!(at, T0 + 6 * 365 * DAY);
    assert_eq!(not_after, T0 + pki::dev::DEFAULT_VALIDITY_S);
}

#[test]
fn one_root_cannot_be_trusted_for_two_members() {
    let (_d, c) = consortium();
    let mut store = c.trust_store().unwrap();
    let carrier_root = c.root_der(&MemberCode::new("CARRIER").unwrap()).unwrap();
    let err = store
        .add_member(MemberCode::new("IMPOSTOR").unwrap(), carrier_root.clone())
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Profile(ref m) if m.contains("CARRIER")),
        "{err}"
    );
    // Re-adding it for the same member (a refresh) is fine.
    store
        .add_member(MemberCode::new("CARRIER").unwrap(), carrier_root)
        .unwrap();
}

#[test]
fn two_members_cannot_share_a_root_subject() {
    // Revocation lists are matched to a certificate by issuer name, and the member by subject
    // and key: a second member whose root carries the same subject (under another key) would
    // have its list consulted for the first member's certificates, and its signature fail
    // there, refusing every one of them.
    let (_d, c) = consortium();
    let (_d2, other) = consortium();
    let mut store = c.trust_store().unwrap();
    let look_alike = other
        .root_der(&MemberCode::new("CARRIER").unwrap())
        .unwrap();
    let err = store
        .add_member(MemberCode::new("AAA").unwrap(), look_alike)
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Profile(ref m) if m.contains("CARRIER")),
        "{err}"
    );
}

#[test]
fn a_remembered_chain_gives_the_answer_a_full_verification_gives() {
    let (_d, mut c) = consortium();
    issue_short_lived(&mut c);
    let store = c.trust_store().unwrap();
    let presented = chain(&c, "short-lived");
    let sign = Purpose::SignTransaction;

    // A refusal is not remembered.
    store
        .verify_identity(&presented, at(T0 + 5 * DAY), sign)
        .unwrap_err();
    assert_eq!(store.verified_chains(), 0);

    let first = store
        .verify_identity(&presented, at(T0 + 15 * DAY), sign)
        .unwrap();
    assert_eq!(
        store.verified_chains(),
        1,
        "an accepted chain is remembered"
    );
    let again = store
        .verify_identity(&presented, at(T0 + 19 * DAY), sign)
        .unwrap();
    assert_eq!(first, again);

    // Outside the span the chain was valid in, the full check runs and says exactly why.
    assert_eq!(
        store.verify_identity(&presented, at(T0 + 25 * DAY), sign),
        Err(IdentityError::Expired {
            not_after: T0 + 20 * DAY,
            at: T0 + 25 * DAY
        })
    );
    assert_eq!(
        store.verify_identity(&presented, at(T0 + 5 * DAY), sign),
        Err(IdentityError::NotYetValid {
            not_before: T0 + 10 * DAY,
            at: T0 + 5 * DAY
        })
    );
    // The purpose is part of what was remembered.
    assert!(matches!(
        store.verify_identity(&presented, at(T0 + 15 * DAY), Purpose::NodeServer),
        Err(IdentityError::WrongKind { .. })
    ));
}

#[test]
fn new_revocations_forget_what_the_old_store_remembered() {
    let (_d, mut c) = consortium();
    let presented = chain(&c, "shipper");
    let before = c.trust_store().unwrap();
    before
        .verify_identity(&presented, at(T0 + DAY), Purpose::SignTransaction)
        .unwrap();
    assert_eq!(before.verified_chains(), 1);

    c.revoke("shipper", T0 + 2 * DAY).unwrap();
    let carrier = MemberCode::new("CARRIER").unwrap();
    let mut after = before.clone();
    after
        .set_revocations(&carrier, vec![c.crl_der(&carrier).unwrap()])
        .unwrap();
    assert_eq!(after.verified_chains(), 0, "new material, new memory");
    assert_eq!(
        after.verify_identity(&presented, at(T0 + 3 * DAY), Purpose::SignTransaction),
        Err(IdentityError::Revoked {
            serial: c.identity("shipper").unwrap().serial.clone()
        })
    );
    // The old store still holds the old list, and still answers by it.
    before
        .verify_identity(&presented, at(T0 + 3 * DAY), Purpose::SignTransaction)
        .unwrap();
}

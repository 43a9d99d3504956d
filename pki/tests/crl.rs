//! Revocation lists where they enter (`pki::crl`): a list signed with an algorithm outside the
//! profile is refused by every door, with the algorithm named, even when its signature is a
//! genuine one of the member's CA; an ordinary list still passes every door.

use crate::common;

use common::{DAY, T0, chain, consortium};
use pki::crl::{Crl, CrlError, verify_member_list};
use pki::dev::{Consortium, UnacceptedAlgorithm};
use pki::{IdentityError, MemberCode, Purpose};

fn code(s: &str) -> MemberCode {
    MemberCode::new(s).unwrap()
}

/// The member's root, and its intermediate as an admin's chain would present it.
fn cas(c: &Consortium, member: &str) -> (Vec<u8>, Vec<Vec<u8>>) {
    let m = c.member(&code(member)).unwrap();
    let root = c.root_der(&code(member)).unwrap();
    let intermediates = m
        .intermediate_cert
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(c.path(p)).unwrap();
            pki::pem::certificates(&pem).unwrap()[0].to_vec()
        })
        .collect();
    (root, intermediates)
}

/// Every door a list enters by, with `der` as `member`'s list: the ledger's check, the trust
/// store, inspection. Returns their errors, or panics if one accepts it.
fn refusals(c: &Consortium, member: &str, der: &[u8]) -> (CrlError, IdentityError, IdentityError) {
    let (root, intermediates) = cas(c, member);
    let presented: Vec<&[u8]> = intermediates.iter().map(Vec::as_slice).collect();
    let ledger = verify_member_list(der, &code(member), &root, &presented).unwrap_err();
    let mut store = c.trust_store().unwrap();
    let store_error = store
        .set_revocations(&code(member), vec![der.to_vec()])
        .unwrap_err();
    let inspected = pki::inspect_revocation_list(der).unwrap_err();
    // The store refused the list whole: the member's users still verify by its earlier list.
    let user = member.to_lowercase();
    store
        .verify_identity(
            &chain(c, &user),
            (T0 + 2 * DAY) as u64,
            Purpose::SignTransaction,
        )
        .unwrap();
    (ledger, store_error, inspected)
}

fn assert_names(error: &impl std::fmt::Display, algorithm: &str) {
    let text = error.to_string();
    assert!(
        text.contains(algorithm) && text.contains("only Ed25519 and ECDSA P-256/SHA-256"),
        "{text:?} should name {algorithm} and the accepted algorithms"
    );
}

#[test]
fn a_p256_sha384_list_is_refused_wherever_it_enters() {
    let (_d, c) = consortium();
    // BANK's CA is P-256 (an intermediate under its root).
    let der = c
        .crl_with_unaccepted_algorithm(
            &code("BANK"),
            UnacceptedAlgorithm::EcdsaP256Sha384,
            T0 + DAY,
        )
        .unwrap();

    // The list is genuine: the intermediate's key signed it, over SHA-384.
    let (_, intermediates) = cas(&c, "BANK");
    let (_, ca) = x509_parser::parse_x509_certificate(&intermediates[0]).unwrap();
    let (_, list) = x509_parser::parse_x509_crl(&der).unwrap();
    assert_eq!(list.issuer().as_raw(), ca.subject().as_raw());
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA384_ASN1,
        &ca.public_key().subject_public_key.data,
    )
    .verify(list.tbs_cert_list.as_ref(), &list.signature_value.data)
    .expect("a P-256/SHA-384 signature of BANK's issuing CA");

    assert!(matches!(
        Crl::parse(&der),
        Err(CrlError::UnsupportedAlgorithm(_))
    ));
    let (ledger, store, inspected) = refusals(&c, "BANK", &der);
    assert!(
        matches!(ledger, CrlError::UnsupportedAlgorithm(_)),
        "{ledger}"
    );
    assert!(
        matches!(store, IdentityError::BadRevocationList(_)),
        "{store}"
    );
    assert!(
        matches!(inspected, IdentityError::BadRevocationList(_)),
        "{inspected}"
    );
    for error in [ledger.to_string(), store.to_string(), inspected.to_string()] {
        assert_names(&error, "ecdsa-with-SHA384");
    }
}

#[test]
fn an_rsa_signed_list_is_refused_wherever_it_enters() {
    let (_d, c) = consortium();
    for member in ["CARRIER", "BANK"] {
        let der = c
            .crl_with_unaccepted_algorithm(&code(member), UnacceptedAlgorithm::RsaSha256, T0 + DAY)
            .unwrap();
        let (ledger, store, inspected) = refusals(&c, member, &der);
        assert!(
            matches!(ledger, CrlError::UnsupportedAlgorithm(_)),
            "{ledger}"
        );
        assert!(
            matches!(store, IdentityError::BadRevocationList(_)),
            "{store}"
        );
        assert!(
            matches!(inspected, IdentityError::BadRevocationList(_)),
            "{inspected}"
        );
        for error in [ledger.to_string(), store.to_string(), inspected.to_string()] {
            assert_names(&error, "sha256WithRSAEncryption");
        }
    }
}

#[test]
fn an_ordinary_list_passes_every_door() {
    let (_d, mut c) = consortium();
    for member in ["CARRIER", "BANK", "PORT"] {
        let user = member.to_lowercase();
        let der = c.revoke(&user, T0 + DAY).unwrap();
        let (root, intermediates) = cas(&c, member);
        let presented: Vec<&[u8]> = intermediates.iter().map(Vec::as_slice).collect();
        let crl = verify_member_list(&der, &code(member), &root, &presented).unwrap();
        assert_eq!(crl.this_update(), T0 + DAY);
        let mut store = c.trust_store().unwrap();
        store
            .set_revocations(&code(member), vec![der.clone()])
            .unwrap();
        assert!(matches!(
            store.verify_identity(
                &chain(&c, &user),
                (T0 + 2 * DAY) as u64,
                Purpose::SignTransaction
            ),
            Err(IdentityError::Revoked { .. })
        ));
        assert_eq!(
            pki::inspect_revocation_list(&der).unwrap().this_update,
            T0 + DAY
        );
    }
}

#[test]
fn a_list_is_the_members_only_from_its_root_or_its_own_intermediate() {
    let (_d, c) = consortium();
    let bank_list = c.crl_der(&code("BANK")).unwrap();
    let (bank_root, bank_intermediates) = cas(&c, "BANK");
    let (carrier_root, _) = cas(&c, "CARRIER");
    let bank_intermediate: Vec<&[u8]> = bank_intermediates.iter().map(Vec::as_slice).collect();

    // BANK's list is its intermediate's: without the intermediate at hand it is no one's.
    assert!(matches!(
        verify_member_list(&bank_list, &code("BANK"), &bank_root, &[]),
        Err(CrlError::WrongIssuer(_))
    ));
    // CARRIER cannot publish it by presenting BANK's intermediate: that is not CARRIER's CA.
    assert!(matches!(
        verify_member_list(
            &bank_list,
            &code("CARRIER"),
            &carrier_root,
            &bank_intermediate
        ),
        Err(CrlError::WrongIssuer(_))
    ));
    // A list altered after signing names the right CA but its signature fails.
    let carrier_list = c.crl_der(&code("CARRIER")).unwrap();
    let mut altered = carrier_list.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    assert!(matches!(
        verify_member_list(&altered, &code("CARRIER"), &carrier_root, &[]),
        Err(CrlError::BadSignature { .. })
    ));
    verify_member_list(&carrier_list, &code("CARRIER"), &carrier_root, &[]).unwrap();
    // Trailing bytes are not part of any list.
    let mut trailing = carrier_list;
    trailing.push(0);
    assert!(matches!(Crl::parse(&trailing), Err(CrlError::Malformed(_))));
}

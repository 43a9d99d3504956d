//! A member's next revocation list made from its current one: entries kept, serials added,
//! cRLNumber increasing, signed by the member's issuing CA, and read by the trust store.

use crate::common;

use common::{DAY, T0, chain, consortium};
use pki::dev::Consortium;
use pki::revocation::{RevocationError, RevocationSigner, Serial};
use pki::{IdentityError, MemberCode, Purpose};

fn code(s: &str) -> MemberCode {
    MemberCode::new(s).unwrap()
}

fn read(c: &Consortium, relative: &std::path::Path) -> String {
    std::fs::read_to_string(c.path(relative)).unwrap()
}

/// The member's issuing CA (its intermediate if it has one) with its key.
fn signer(c: &Consortium, member: &str) -> RevocationSigner {
    let m = c.member(&code(member)).unwrap();
    let (cert, key) = match (&m.intermediate_cert, &m.intermediate_key) {
        (Some(cert), Some(key)) => (cert, key),
        _ => (&m.root_cert, &m.root_key),
    };
    let der = pki::pem::certificates(&read(c, cert)).unwrap().remove(0);
    RevocationSigner::new(der.as_ref(), &read(c, key)).unwrap()
}

fn serial_of(c: &Consortium, name: &str) -> Serial {
    Serial::of_certificate(&c.chain_der(name).unwrap()[0]).unwrap()
}

/// `name`'s refusal (or acceptance) by `c`'s trust store with `member`'s list replaced by `der`.
fn verdict(
    c: &Consortium,
    member: &str,
    der: &[u8],
    name: &str,
) -> Result<pki::Identity, IdentityError> {
    let mut store = c.trust_store().unwrap();
    store
        .set_revocations(&code(member), vec![der.to_vec()])
        .unwrap();
    store.verify_identity(
        &chain(c, name),
        (T0 + 3 * DAY) as u64,
        Purpose::SignTransaction,
    )
}

#[test]
fn each_list_keeps_the_earlier_entries_and_counts_up() {
    let (_d, c) = consortium();
    let carrier = signer(&c, "CARRIER");
    assert_eq!(carrier.member().as_deref(), Some("CARRIER"));
    let genesis_list = c.crl_der(&code("CARRIER")).unwrap();

    let shipper = serial_of(&c, "shipper");
    assert_eq!(shipper.to_hex(), c.identity("shipper").unwrap().serial);
    let first = carrier
        .next_list(
            Some(&genesis_list),
            std::slice::from_ref(&shipper),
            T0 + DAY,
        )
        .unwrap();
    assert_eq!(first.crl_number, 2, "the generator's first list is 1");
    assert_eq!(first.this_update, T0 + DAY);
    assert_eq!(first.added, vec![shipper.clone()]);
    let info = pki::inspect_revocation_list(&first.der).unwrap();
    assert_eq!(info.crl_number, 2);
    assert_eq!(info.issuer_member, "CARRIER");
    assert_eq!(info.revoked_serials, vec![shipper.to_hex()]);
    assert!(matches!(
        verdict(&c, "CARRIER", &first.der, "shipper"),
        Err(IdentityError::Revoked { .. })
    ));
    verdict(&c, "CARRIER", &first.der, "carrier").unwrap();

    // The second list, made a little "earlier" than the first (a clock behind): it keeps the
    // first's entry and is not older than it.
    let carrier_user = serial_of(&c, "carrier");
    let second = carrier
        .next_list(
            Some(&first.der),
            &[carrier_user.clone(), shipper.clone()],
            T0 + DAY - 60,
        )
        .unwrap();
    assert_eq!(second.crl_number, 3);
    assert_eq!(
        second.this_update,
        T0 + DAY,
        "never older than the list it replaces"
    );
    assert_eq!(
        second.added,
        vec![carrier_user.clone()],
        "a serial already revoked is not added twice"
    );
    assert_eq!(second.revoked, vec![shipper.clone(), carrier_user.clone()]);
    let info = pki::inspect_revocation_list(&second.der).unwrap();
    assert_eq!(
        info.revoked_serials,
        vec![shipper.to_hex(), carrier_user.to_hex()]
    );
    for name in ["shipper", "carrier"] {
        assert!(
            matches!(
                verdict(&c, "CARRIER", &second.der, name),
                Err(IdentityError::Revoked { .. })
            ),
            "{name}"
        );
    }
    // The first entry keeps its revocation date.
    let (_, list) = x509_parser::parse_x509_crl(&second.der).unwrap();
    let dates: Vec<i64> = list
        .iter_revoked_certificates()
        .map(|r| r.revocation_date.timestamp())
        .collect();
    assert_eq!(dates, vec![T0 + DAY, T0 + DAY - 60]);
}

#[test]
fn a_member_with_an_intermediate_revokes_with_it() {
    let (_d, c) = consortium();
    // BANK (P-256) issues from an intermediate; the generator's list is the intermediate's.
    let bank = signer(&c, "BANK");
    let current = c.crl_der(&code("BANK")).unwrap();
    let next = bank
        .next_list(Some(&current), &[serial_of(&c, "bank")], T0 + DAY)
        .unwrap();
    assert!(matches!(
        verdict(&c, "BANK", &next.der, "bank"),
        Err(IdentityError::Revoked { .. })
    ));
    verdict(&c, "BANK", &next.der, "bank-admin").unwrap();
    // A member that has no list yet starts at 1.
    let first = bank
        .next_list(None, &[serial_of(&c, "bank")], T0 + DAY)
        .unwrap();
    assert_eq!(first.crl_number, 1);
}

#[test]
fn the_ca_is_found_by_its_key_and_knows_what_it_issued() {
    let (_d, c) = consortium();
    let carrier = c.member(&code("CARRIER")).unwrap();
    let key = read(&c, &carrier.root_key);
    let mut candidates = pki::pem::certificates(&read(&c, &c.manifest().ca_bundle)).unwrap();
    // A chain's leaf is no candidate: only CA certificates are.
    candidates.insert(0, chain(&c, "shipper").remove(0));
    let found = RevocationSigner::among(&candidates, &key).unwrap();
    assert_eq!(found.member().as_deref(), Some("CARRIER"));
    assert!(found.issued(&c.chain_der("shipper").unwrap()[0]).unwrap());
    assert!(!found.issued(&c.chain_der("bank").unwrap()[0]).unwrap());
    assert!(!found.issued(&c.chain_der("port").unwrap()[0]).unwrap());

    // PORT's root key certifies none of CARRIER's certificates.
    let port_key = read(&c, &c.member(&code("PORT")).unwrap().root_key);
    let carrier_root = c.root_der(&code("CARRIER")).unwrap();
    assert!(matches!(
        RevocationSigner::new(&carrier_root, &port_key),
        Err(RevocationError::BadKey(_))
    ));
    assert!(matches!(
        RevocationSigner::among(&[pki::CertificateDer::from(carrier_root)], &port_key),
        Err(RevocationError::BadKey(_))
    ));
    // A leaf is not a CA.
    let shipper_key = read(&c, &c.identity("shipper").unwrap().key);
    assert!(matches!(
        RevocationSigner::new(&c.chain_der("shipper").unwrap()[0], &shipper_key),
        Err(RevocationError::BadCa(_))
    ));
}

#[test]
fn another_cas_current_list_is_not_carried_over() {
    let (_d, c) = consortium();
    let port_list = c.crl_der(&code("PORT")).unwrap();
    let err = signer(&c, "CARRIER")
        .next_list(Some(&port_list), &[serial_of(&c, "shipper")], T0 + DAY)
        .unwrap_err();
    assert!(
        matches!(err, RevocationError::BadCurrentList(ref m) if m.contains("issued by")),
        "{err}"
    );
    // A list under CARRIER's name made by an impostor's key is not CARRIER's either.
    let (_d2, impostor) = consortium();
    let forged = impostor.crl_der(&code("CARRIER")).unwrap();
    assert!(matches!(
        signer(&c, "CARRIER").next_list(Some(&forged), &[], T0 + DAY),
        Err(RevocationError::BadCurrentList(_))
    ));
}

#[test]
fn serials_are_read_as_people_write_them() {
    let plain = Serial::from_hex("1005").unwrap();
    assert_eq!(Serial::from_hex("10:05").unwrap(), plain);
    assert_eq!(Serial::from_hex("001005").unwrap(), plain);
    assert_eq!(Serial::from_hex("105").unwrap().to_hex(), "0105");
    // The DER form of a serial with its top bit set starts with 00, as x509-parser prints it.
    assert_eq!(Serial::from_hex("ff01").unwrap().to_hex(), "00ff01");
    assert_eq!(
        Serial::from_hex("00ff01").unwrap(),
        Serial::from_hex("FF01").unwrap()
    );
    for bad in ["", "xyz", "00", ":", &"ab".repeat(21)] {
        assert!(
            matches!(
                Serial::from_hex(bad),
                Err(RevocationError::BadSerial { .. })
            ),
            "{bad:?}"
        );
    }
}

//! One member's own CA (`pki::member`): the directory `silkline member init` makes, the
//! certificates it issues (the profile, the same as a dev consortium's), its revocation lists
//! and its public bundle, accepted and refused.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use pki::dev::KeyAlgorithm;
use pki::member::{BUNDLE_FILE, MemberBundle, MemberDir, MemberError, MemberInit};
use pki::{CertificateDer, IdentityError, IdentityKind, MemberCode, NodeId, PartyCode, Purpose};
use pki::{TrustStore, pem};
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::common::{DAY, T0};

fn init(dir: &Path, code: &str, algorithm: KeyAlgorithm, intermediate: bool) -> MemberDir {
    MemberDir::init(
        dir,
        &MemberInit {
            code: MemberCode::new(code).unwrap(),
            name: format!("{code} Line"),
            role: "CARRIER".into(),
            algorithm,
            intermediate,
        },
        T0,
    )
    .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chain(path: &Path) -> Vec<CertificateDer<'static>> {
    pem::certificates(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A trust store holding the member's root and current list, as a genesis built from its
/// bundle would.
fn store_of(bundle: &MemberBundle) -> TrustStore {
    let verified = bundle.verify(T0).unwrap();
    let mut store = TrustStore::new();
    store
        .add_member(bundle.code.clone(), verified.root_der)
        .unwrap();
    store
        .set_revocations(&bundle.code, vec![verified.crl_der])
        .unwrap();
    store
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn init_writes_a_ca_an_admin_a_list_and_a_bundle_with_private_keys_0600() {
    for (algorithm, intermediate) in [(KeyAlgorithm::Ed25519, false), (KeyAlgorithm::P256, true)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("carrier");
        let member = init(&dir, "CARRIER", algorithm, intermediate);
        assert_eq!(mode(&dir), 0o700);
        let keys: Vec<_> = files(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        // root, admin, and the intermediate when there is one.
        assert_eq!(keys.len(), if intermediate { 3 } else { 2 }, "{keys:?}");
        for key in &keys {
            assert_eq!(mode(key), 0o600, "{}", key.display());
        }
        for public in files(&dir)
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "key"))
        {
            let text = std::fs::read_to_string(&public).unwrap();
            assert!(!text.contains("PRIVATE KEY"), "{}", public.display());
        }

        let bundle: MemberBundle =
            MemberBundle::from_json(&std::fs::read_to_string(dir.join(BUNDLE_FILE)).unwrap())
                .unwrap();
        assert_eq!(&bundle, member.bundle());
        assert_eq!(bundle.code.as_str(), "CARRIER");
        assert_eq!(bundle.role, "CARRIER");
        assert_eq!(bundle.intermediate_certificate_pem.is_some(), intermediate);
        assert_eq!(bundle.admin_certificates_pem.len(), 1);
        let verified = bundle.verify(T0).unwrap();
        assert_eq!(verified.crl_by_root, !intermediate);
        let info = pki::inspect_revocation_list(&verified.crl_der).unwrap();
        assert_eq!((info.crl_number, info.revoked_serials.len()), (1, 0));

        // The admin acts for the member's own party, as an admin, through the bundle's CA.
        let (cert, _) = member.identity_files("admin");
        let identity = store_of(&bundle)
            .verify_identity(&chain(&cert), T0 as u64 + 1, Purpose::SignTransaction)
            .unwrap();
        assert_eq!(identity.kind, IdentityKind::Admin);
        assert_eq!(identity.member.as_str(), "CARRIER");
        assert_eq!(identity.party.as_str(), "CARRIER");
        assert_eq!(identity.party_name, "CARRIER Line");
        assert_eq!(
            identity.fingerprint, verified.admin_fingerprints[0],
            "the bundle's admin is the admin certificate written"
        );
    }
}

#[test]
fn init_refuses_a_directory_that_holds_anything() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let err = MemberDir::init(
        tmp.path(),
        &MemberInit {
            code: MemberCode::new("CARRIER").unwrap(),
            name: "Carrier".into(),
            role: "CARRIER".into(),
            algorithm: KeyAlgorithm::Ed25519,
            intermediate: false,
        },
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "MEMBER_DIR_NOT_EMPTY", "{err}");
    assert!(err.to_string().contains("not empty"), "{err}");
    // Nothing was added to it.
    assert_eq!(files(tmp.path()).len(), 1);

    // An existing empty directory is fine.
    let empty = tempfile::tempdir().unwrap();
    init(empty.path(), "CARRIER", KeyAlgorithm::Ed25519, false);
}

#[test]
fn a_node_certificate_names_its_node_hosts_and_addresses_and_is_pinned_by_its_fingerprint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut member = init(tmp.path(), "PORT", KeyAlgorithm::Ed25519, true);
    let node = NodeId::new("port-1").unwrap();
    let ip: IpAddr = "127.0.0.3".parse().unwrap();
    let issued = member
        .issue_node(
            &node,
            &["port-1.example.org".into(), "node.internal".into()],
            &[ip],
            T0,
        )
        .unwrap();
    assert_eq!(mode(&issued.key), 0o600);
    let certs = chain(&issued.cert);
    assert_eq!(certs.len(), 2, "leaf and the intermediate");
    assert_eq!(
        issued.fingerprint,
        pki::Fingerprint::of(certs[0].as_ref()).to_string()
    );
    let identity = store_of(member.bundle())
        .verify_identity(&certs, T0 as u64 + 1, Purpose::NodeServer)
        .unwrap();
    assert_eq!(identity.kind, IdentityKind::Node);
    assert_eq!(identity.node_id.as_ref(), Some(&node));
    assert_eq!(identity.party.as_str(), "PORT");
    assert_eq!(identity.serial, issued.serial);

    let (_, leaf) = x509_parser::parse_x509_certificate(certs[0].as_ref()).unwrap();
    let mut dns = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for ext in leaf.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(d) => {
                        dns.insert(d.to_string());
                    }
                    GeneralName::IPAddress(b) => {
                        ips.insert(b.to_vec());
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(
        dns,
        BTreeSet::from([
            "localhost".to_owned(),
            "port-1.example.org".to_owned(),
            "node.internal".to_owned()
        ])
    );
    assert_eq!(
        ips,
        BTreeSet::from([vec![127, 0, 0, 1], vec![127, 0, 0, 3]])
    );

    // A second certificate for the same node never overwrites the first's key.
    let err = member.issue_node(&node, &[], &[], T0).unwrap_err();
    assert_eq!(err.code(), "FILE_EXISTS", "{err}");
    // A name that is no DNS name is refused.
    let err = member
        .issue_node(
            &NodeId::new("port-2").unwrap(),
            &["bad name".into()],
            &[],
            T0,
        )
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    assert!(err.to_string().contains("RFC 1123"), "{err}");
}

#[test]
fn users_act_for_the_member_or_a_party_it_sponsors_and_admins_join_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut member = init(tmp.path(), "CARRIER", KeyAlgorithm::Ed25519, false);
    let shipper = PartyCode::new("SHIPPER").unwrap();
    let carrier = PartyCode::new("CARRIER").unwrap();

    // A party the member does not sponsor yet needs its name.
    let err = member
        .issue_user(&shipper, "Sam Shipper", None, false, T0)
        .unwrap_err();
    assert!(matches!(err, MemberError::UnknownParty(_)), "{err}");
    assert_eq!(err.code(), "UNKNOWN_PARTY");

    let sam = member
        .issue_user(
            &shipper,
            "Sam Shipper",
            Some("Silk Road Exporters"),
            false,
            T0,
        )
        .unwrap();
    assert!(sam.cert.ends_with("identities/sam-shipper.crt"), "{sam:?}");
    assert_eq!(mode(&sam.key), 0o600);
    assert_eq!(member.bundle().parties.len(), 1);
    assert_eq!(member.bundle().parties[0].name, "Silk Road Exporters");
    // Known now: a second user needs no name, and a different one is refused.
    member
        .issue_user(&shipper, "Sue Shipper", None, false, T0)
        .unwrap();
    let err = member
        .issue_user(&shipper, "Sid", Some("Another Name"), false, T0)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");

    let store = store_of(member.bundle());
    let identity = store
        .verify_identity(&chain(&sam.cert), T0 as u64 + 1, Purpose::SignTransaction)
        .unwrap();
    assert_eq!(identity.kind, IdentityKind::User);
    assert_eq!(identity.party, shipper);
    assert_eq!(identity.party_name, "Silk Road Exporters");
    assert_eq!(identity.name, "Sam Shipper");
    assert_eq!(identity.member.as_str(), "CARRIER");

    // An admin is the member's own party's, and joins the bundle's admins.
    let err = member
        .issue_user(&shipper, "Boss", None, true, T0)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    member
        .issue_user(&carrier, "Second Admin", None, true, T0)
        .unwrap();
    assert_eq!(member.bundle().admin_certificates_pem.len(), 2);
    let reopened = MemberDir::open(tmp.path()).unwrap();
    assert_eq!(reopened.bundle(), member.bundle());
    assert_eq!(
        reopened
            .bundle()
            .verify(T0)
            .unwrap()
            .admin_fingerprints
            .len(),
        2
    );
}

#[test]
fn revoke_writes_the_next_list_and_only_for_what_the_member_issued() {
    let tmp = tempfile::tempdir().unwrap();
    let mut member = init(&tmp.path().join("bank"), "BANK", KeyAlgorithm::P256, true);
    let bank = PartyCode::new("BANK").unwrap();
    let teller = member.issue_user(&bank, "Teller", None, false, T0).unwrap();
    let store_before = store_of(member.bundle());
    let pem_text = std::fs::read_to_string(&teller.cert).unwrap();

    let next = member.revoke(&pem_text, T0 + DAY).unwrap();
    assert_eq!(next.crl_number, 2);
    assert_eq!(
        next.added.iter().map(|s| s.to_hex()).collect::<Vec<_>>(),
        std::slice::from_ref(&teller.serial)
    );
    // The list on disk, in the bundle and the one returned are the same.
    let on_disk =
        pem::crl_der(&std::fs::read_to_string(tmp.path().join("bank/crl.pem")).unwrap()).unwrap();
    assert_eq!(on_disk, next.der);
    let verified = member.bundle().verify(T0 + DAY).unwrap();
    assert_eq!(verified.crl_der, next.der);
    assert!(!verified.crl_by_root, "the intermediate signs BANK's lists");

    // Before: accepted; with the new list: revoked.
    let certs = chain(&teller.cert);
    store_before
        .verify_identity(&certs, (T0 + 2 * DAY) as u64, Purpose::SignTransaction)
        .unwrap();
    let err = store_of(member.bundle())
        .verify_identity(&certs, (T0 + 2 * DAY) as u64, Purpose::SignTransaction)
        .unwrap_err();
    assert!(matches!(err, IdentityError::Revoked { .. }), "{err:?}");
    // Again: the list moves on, the entry stays once.
    let again = member.revoke(&pem_text, T0 + 2 * DAY).unwrap();
    assert_eq!((again.crl_number, again.revoked.len()), (3, 1));

    // Another member's certificate is not this member's to revoke.
    let other_dir = tmp.path().join("carrier");
    let other = init(&other_dir, "CARRIER", KeyAlgorithm::Ed25519, false);
    let (foreign, _) = other.identity_files("admin");
    let err = member
        .revoke(&std::fs::read_to_string(foreign).unwrap(), T0 + DAY)
        .unwrap_err();
    assert_eq!(err.code(), "NOT_ISSUED_BY_THIS_MEMBER", "{err}");

    // Revoking the member's only admin leaves a bundle no consortium admits.
    let (admin, _) = member.identity_files("admin");
    member
        .revoke(&std::fs::read_to_string(admin).unwrap(), T0 + 3 * DAY)
        .unwrap();
    let err = member.bundle().verify(T0 + 3 * DAY).unwrap_err();
    assert_eq!(err.code(), "BUNDLE_ADMIN_INVALID", "{err}");
}

#[test]
fn a_bundle_that_is_not_self_consistent_is_refused_naming_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let carrier = init(
        &tmp.path().join("c"),
        "CARRIER",
        KeyAlgorithm::Ed25519,
        false,
    );
    let mut bank = init(&tmp.path().join("b"), "BANK", KeyAlgorithm::P256, true);
    let good = carrier.bundle().clone();
    good.verify(T0).unwrap();

    let refused = |b: &MemberBundle, code: &str| {
        let err = b.verify(T0).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    };
    // Another member's CA: its O names BANK, not CARRIER.
    let mut b = good.clone();
    b.ca_certificate_pem = bank.bundle().ca_certificate_pem.clone();
    refused(&b, "BUNDLE_CA_INVALID");
    // Not a CA: an admin certificate in the CA's place.
    let mut b = good.clone();
    b.ca_certificate_pem = good.admin_certificates_pem[0].clone();
    refused(&b, "BUNDLE_CA_INVALID");
    // Another member's list.
    let mut b = good.clone();
    b.crl_pem = bank.bundle().crl_pem.clone();
    refused(&b, "BUNDLE_CRL_INVALID");
    // An admin that does not chain to the CA.
    let mut b = good.clone();
    b.admin_certificates_pem = vec![bank.bundle().admin_certificates_pem[0].clone()];
    refused(&b, "BUNDLE_ADMIN_INVALID");
    // No admin at all.
    let mut b = good.clone();
    b.admin_certificates_pem.clear();
    refused(&b, "BUNDLE_ADMIN_INVALID");
    // A user presented as an admin.
    let bank_party = PartyCode::new("BANK").unwrap();
    let user = bank
        .issue_user(&bank_party, "Clerk", None, false, T0)
        .unwrap();
    let leaf = chain(&user.cert).remove(0);
    let mut b = bank.bundle().clone();
    b.admin_certificates_pem = vec![pem_of(leaf.as_ref())];
    refused(&b, "BUNDLE_ADMIN_INVALID");
    // An intermediate the root did not sign.
    let mut b = bank.bundle().clone();
    b.intermediate_certificate_pem = Some(carrier.bundle().ca_certificate_pem.clone());
    refused(&b, "BUNDLE_INTERMEDIATE_INVALID");
    // The member's own party listed, or a party twice.
    let mut b = good.clone();
    b.parties = vec![pki::member::SponsoredParty {
        code: PartyCode::new("CARRIER").unwrap(),
        name: "Itself".into(),
    }];
    refused(&b, "BUNDLE_PARTIES_INVALID");
    let mut b = good.clone();
    let p = pki::member::SponsoredParty {
        code: PartyCode::new("SHIPPER").unwrap(),
        name: "Shipper".into(),
    };
    b.parties = vec![p.clone(), p];
    refused(&b, "BUNDLE_PARTIES_INVALID");
    // Before the admin's validity.
    let err = good.verify(T0 - DAY).unwrap_err();
    assert_eq!(err.code(), "BUNDLE_ADMIN_INVALID", "{err}");
    // Another format version, and a field this version does not know.
    let mut json: serde_json::Value = serde_json::to_value(&good).unwrap();
    json["bundleVersion"] = 2.into();
    let err = MemberBundle::from_json(&json.to_string()).unwrap_err();
    assert_eq!(err.code(), "BUNDLE_VERSION", "{err}");
    let mut json: serde_json::Value = serde_json::to_value(&good).unwrap();
    json["privateKey"] = "no".into();
    let err = MemberBundle::from_json(&json.to_string()).unwrap_err();
    assert_eq!(err.code(), "BUNDLE_MALFORMED", "{err}");
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
}

/// The extensions of a certificate that the profile fixes, as (OID, critical) and the SAN and
/// EKU kinds: two certificates of one kind and builder have the same shape.
fn shape(der: &[u8]) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let mut out: Vec<String> = cert
        .extensions()
        .iter()
        .map(|e| format!("{} critical={}", e.oid, e.critical))
        .collect();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    out.push(match n {
                        GeneralName::URI(u) => {
                            // The prefix and, for the kind, the value.
                            let (prefix, value) = u.rsplit_once(':').unwrap();
                            if prefix.ends_with(":kind") {
                                format!("uri {u}")
                            } else {
                                format!("uri {prefix}:* ({})", value.is_empty())
                            }
                        }
                        GeneralName::DNSName(d) if *d == "localhost" => "dns localhost".into(),
                        GeneralName::IPAddress(b) if *b == [127, 0, 0, 1] => "ip loopback".into(),
                        other => format!("{other:?}"),
                    });
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                out.push(format!(
                    "eku server={} client={}",
                    eku.server_auth, eku.client_auth
                ));
            }
            ParsedExtension::KeyUsage(ku) => out.push(format!("ku {ku}")),
            ParsedExtension::BasicConstraints(bc) => {
                out.push(format!("bc ca={} len={:?}", bc.ca, bc.path_len_constraint));
            }
            _ => {}
        }
    }
    out.sort();
    out
}

#[test]
fn a_member_issues_certificates_of_the_same_shape_as_the_dev_generator() {
    let (_dev_dir, dev) = crate::common::consortium();
    let tmp = tempfile::tempdir().unwrap();
    let mut member = init(tmp.path(), "CARRIER", KeyAlgorithm::Ed25519, false);
    let node = member
        .issue_node(&NodeId::new("node9").unwrap(), &[], &[], T0)
        .unwrap();
    let user = member
        .issue_user(
            &PartyCode::new("SHIPPER").unwrap(),
            "shipper",
            Some("Shipper Co"),
            false,
            T0,
        )
        .unwrap();
    let (admin, _) = member.identity_files("admin");
    let first = |p: &Path| chain(p).remove(0).as_ref().to_vec();
    let dev_first = |name: &str| dev.chain_der(name).unwrap().remove(0);
    let root_der = member.bundle().verify(T0).unwrap().root_der;
    for (ours, theirs, what) in [
        (first(&node.cert), dev_first("node1"), "node"),
        (first(&user.cert), dev_first("shipper"), "user"),
        (first(&admin), dev_first("carrier-admin"), "admin"),
        (
            root_der,
            dev.root_der(&MemberCode::new("CARRIER").unwrap()).unwrap(),
            "root",
        ),
    ] {
        assert_eq!(shape(&ours), shape(&theirs), "{what}");
    }
}

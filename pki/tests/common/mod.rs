//! Shared test fixtures: a generated consortium at a fixed time.

#![allow(dead_code)]

use pki::dev::{ConsortiumSpec, KeyAlgorithm, MemberSpec, PartySpec, generate_consortium};
use pki::{MemberCode, PartyCode};

/// 2026-01-01T00:00:00Z: the "now" of every generated consortium in these tests.
pub const T0: i64 = 1_767_225_600;
pub const DAY: i64 = 24 * 3600;

pub fn member(code: &str, algorithm: KeyAlgorithm, intermediate: bool) -> MemberSpec {
    MemberSpec {
        code: MemberCode::new(code).unwrap(),
        name: format!("{code} Ltd"),
        role: "CARRIER".into(),
        algorithm,
        intermediate,
    }
}

/// CARRIER (Ed25519, root only), BANK (P-256, with an intermediate), PORT (Ed25519 with an
/// intermediate); SHIPPER sponsored by CARRIER; one node per member.
pub fn spec() -> ConsortiumSpec {
    let mut spec = ConsortiumSpec::dev(3);
    spec.members = vec![
        member("CARRIER", KeyAlgorithm::Ed25519, false),
        member("BANK", KeyAlgorithm::P256, true),
        member("PORT", KeyAlgorithm::Ed25519, true),
    ];
    spec.parties = vec![PartySpec {
        code: PartyCode::new("SHIPPER").unwrap(),
        name: "Shipper Co".into(),
        sponsor: MemberCode::new("CARRIER").unwrap(),
    }];
    spec
}

pub fn consortium() -> (tempfile::TempDir, pki::dev::Consortium) {
    let dir = tempfile::tempdir().unwrap();
    let c = generate_consortium(&spec(), dir.path(), T0).unwrap();
    (dir, c)
}

pub fn chain(c: &pki::dev::Consortium, name: &str) -> Vec<pki::CertificateDer<'static>> {
    c.chain_der(name)
        .unwrap()
        .into_iter()
        .map(pki::CertificateDer::from)
        .collect()
}

/// A consortium of another network: one member, ELSEWHERE, that sponsors its own SHIPPER.
pub fn foreign_consortium() -> (tempfile::TempDir, pki::dev::Consortium) {
    let dir = tempfile::tempdir().unwrap();
    let mut foreign = spec();
    foreign.members = vec![member("ELSEWHERE", KeyAlgorithm::Ed25519, false)];
    foreign.parties[0].sponsor = MemberCode::new("ELSEWHERE").unwrap();
    foreign.nodes.clear();
    let c = generate_consortium(&foreign, dir.path(), T0).unwrap();
    (dir, c)
}

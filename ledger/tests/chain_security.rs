//! Adversarial checks of the apply path: who may make a transaction take effect.
//! Test names live under `chain::` so that `cargo test -p ledger chain` selects them.

use crate::chain_common;

mod chain {
    use super::chain_common::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use pki::dev::{ConsortiumSpec, KeyAlgorithm, UnacceptedAlgorithm};
    use pki::identity::MemberCode;
    use serde_json::json;

    const ORDER: &str = "SLK-ORDER-001";

    /// DOMAIN 6.7 for a member that issues from an intermediate CA (PROFILE.md allows one):
    /// its users' certificates are issued, and so revoked, by the intermediate. Its admin must
    /// be able to publish that list, and a revoked user must then be refused.
    #[test]
    fn chain_member_with_an_intermediate_can_revoke_its_users() -> anyhow::Result<()> {
        let mut spec = ConsortiumSpec::dev(3);
        spec.members
            .iter_mut()
            .find(|m| m.code.as_str() == "CARRIER")
            .expect("CARRIER")
            .intermediate = true;
        let mut net = net_with(&spec)?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 10_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        assert_eq!(codes(&apply(&mut state, t, &[&issue])?), ["COMMITTED"]);

        let crl = net.consortium.revoke("shipper", (t / 1000) as i64)?;
        let crl_b64 = STANDARD.encode(&crl);

        // BANK's admin presents CARRIER's (public) intermediate in its own x5c and tries to
        // publish CARRIER's list as BANK's: the intermediate is not BANK's CA.
        let carrier = net
            .consortium
            .member(&MemberCode::new("CARRIER").unwrap())
            .unwrap();
        let intermediate_pem = std::fs::read_to_string(
            net.consortium
                .path(carrier.intermediate_cert.as_ref().unwrap()),
        )?;
        let bank_admin = net.consortium.identity("bank-admin").unwrap().clone();
        let key_pem = std::fs::read_to_string(net.consortium.path(&bank_admin.key))?;
        let chain_pem = std::fs::read_to_string(net.consortium.path(&bank_admin.cert))?;
        let bank_signer =
            pki::Signer::from_pem(&key_pem, &format!("{chain_pem}{intermediate_pem}"))?;
        let p = net.payload(
            t,
            json!({"governance": {"action": "UPDATE_REVOCATIONS", "crl": crl_b64}}),
        );
        let by_bank = pki::jws::sign(&p, &bank_signer)?.into_bytes();

        let update = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "UPDATE_REVOCATIONS", "crl": crl_b64}),
        )?;
        let block = apply(&mut state, t, &[&by_bank, &update])?;
        assert_eq!(
            codes(&block),
            ["CRL_WRONG_ISSUER", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        assert_eq!(state.crl(&party("BANK")).map(|c| c.since_height), Some(0));
        assert_eq!(
            state.crl(&party("CARRIER")).map(|c| c.since_height),
            Some(2)
        );

        let endorse = net.doc_tx(
            "shipper",
            t + 1_000,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
        )?;
        let block = apply(&mut state, t + 1_000, &[&endorse])?;
        assert_eq!(codes(&block), ["CERTIFICATE_REVOKED"]);
        Ok(())
    }

    /// A member's revocation list signed with an algorithm outside the profile (ECDSA
    /// P-256/SHA-384 by the member's own P-256 CA, or RSA) is refused where it enters the
    /// ledger, at `UPDATE_REVOCATIONS` (`CRL_INVALID`, naming the algorithm) and at genesis,
    /// instead of being committed and then failing every chain of the member in the trust store.
    /// An ordinary list after it still commits and revokes.
    #[test]
    fn chain_a_list_signed_outside_the_profile_is_refused() -> anyhow::Result<()> {
        let mut spec = ConsortiumSpec::dev(3);
        spec.members
            .iter_mut()
            .find(|m| m.code.as_str() == "CARRIER")
            .expect("CARRIER")
            .algorithm = KeyAlgorithm::P256;
        let mut net = net_with(&spec)?;
        let carrier = MemberCode::new("CARRIER").unwrap();
        let t = GENESIS_MS + 10_000;
        let at_s = (t / 1000) as i64;
        let p384 = net.consortium.crl_with_unaccepted_algorithm(
            &carrier,
            UnacceptedAlgorithm::EcdsaP256Sha384,
            at_s,
        )?;
        let rsa = net.consortium.crl_with_unaccepted_algorithm(
            &carrier,
            UnacceptedAlgorithm::RsaSha256,
            at_s,
        )?;

        // At genesis: the network does not start with such a list.
        let mut genesis = net.genesis.clone();
        genesis
            .members
            .iter_mut()
            .find(|m| m.code.as_str() == "CARRIER")
            .expect("CARRIER")
            .initial_crl = Some(STANDARD.encode(&p384));
        let refused = match ledger::LedgerState::open(net.dir.path().join("genesis"), &genesis) {
            Ok(_) => anyhow::bail!("a genesis with a P-256/SHA-384 list was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(refused.contains("ecdsa-with-SHA384"), "{refused}");

        // By governance: refused, and the member's users are unaffected.
        let mut state = net.state("a")?;
        let update = |net: &mut Net, der: &[u8]| {
            net.gov_tx(
                "carrier-admin",
                t,
                json!({"action": "UPDATE_REVOCATIONS", "crl": STANDARD.encode(der)}),
            )
        };
        let by_p384 = update(&mut net, &p384)?;
        let by_rsa = update(&mut net, &rsa)?;
        let block = apply(&mut state, t, &[&by_p384, &by_rsa])?;
        assert_eq!(codes(&block), ["CRL_INVALID", "CRL_INVALID"]);
        for (tx, algorithm) in block
            .transactions
            .iter()
            .zip(["ecdsa-with-SHA384", "sha256WithRSAEncryption"])
        {
            let ledger::Outcome::Refused { message, .. } = &tx.outcome else {
                unreachable!("refused above")
            };
            assert!(message.contains(algorithm), "{message}");
        }
        assert_eq!(
            state.crl(&party("CARRIER")).map(|c| c.since_height),
            Some(0)
        );
        let issue = net.doc_tx(
            "carrier",
            t + 1_000,
            ORDER,
            json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}),
        )?;
        assert_eq!(
            codes(&apply(&mut state, t + 1_000, &[&issue])?),
            ["COMMITTED"]
        );

        // An ordinary list of the same CA commits, and revokes.
        let ordinary = net.consortium.revoke("shipper", at_s + 1)?;
        let by_ordinary = update(&mut net, &ordinary)?;
        assert_eq!(
            codes(&apply(&mut state, t + 2_000, &[&by_ordinary])?),
            ["COMMITTED"]
        );
        let endorse = net.doc_tx(
            "shipper",
            t + 3_000,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
        )?;
        assert_eq!(
            codes(&apply(&mut state, t + 3_000, &[&endorse])?),
            ["CERTIFICATE_REVOKED"]
        );
        Ok(())
    }
}

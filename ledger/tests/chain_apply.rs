//! The document apply path end to end: signed envelopes -> blocks -> state, on sled.
//! Test names live under `chain::` so that `cargo test -p ledger chain` selects them.

use crate::chain_common;

mod chain {
    use super::chain_common::*;
    use base64::Engine as _;
    use doc_workflow::{Action, Status};
    use ledger::{ChainError, Hash32, LedgerState, Outcome, TxLocation};
    use pki::identity::MemberCode;
    use replication::{Attestation, StateMachineError};
    use serde_json::json;

    const ORDER: &str = "SLK-ORDER-001";
    const CONTAINERS: [&str; 2] = ["CARU1000003", "CARU1000019"];

    /// DOMAIN 6.1 as signed transactions, one step per block except the last two, which share
    /// a block (the cargo release reads the bill the block before accepted).
    fn scenario_6_1(
        net: &mut Net,
        state: &mut LedgerState,
    ) -> anyhow::Result<Vec<(ledger::Block, Vec<Vec<u8>>)>> {
        let content = fixture("to-order-bill.json")?;
        let mut t = GENESIS_MS + 1_000;
        let steps = [
            (
                "carrier",
                json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
            ),
            (
                "shipper",
                json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
            ),
            ("bank", json!({"action": "ENDORSE", "to": "CONSIGNEE"})),
            ("consignee", json!({"action": "SURRENDER_FOR_DELIVERY"})),
            ("carrier", json!({"action": "ACCEPT_SURRENDER"})),
        ];
        let mut blocks = Vec::new();
        for (who, command) in steps {
            let tx = net.doc_tx(who, t, ORDER, command)?;
            let block = apply(state, t, &[&tx])?;
            assert_eq!(
                codes(&block),
                ["COMMITTED"],
                "{who}: {:?}",
                block.transactions
            );
            blocks.push((block, vec![tx]));
            t += 1_000;
        }
        let release = net.doc_tx(
            "carrier",
            t,
            ORDER,
            json!({"action": "RELEASE_CARGO", "port": "PORT"}),
        )?;
        let gate_out = net.doc_tx(
            "port",
            t,
            ORDER,
            json!({"action": "GATE_OUT", "containers": CONTAINERS}),
        )?;
        let block = apply(state, t, &[&release, &gate_out])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        blocks.push((block, vec![release, gate_out]));
        Ok(blocks)
    }

    #[test]
    fn chain_scenario_6_1_end_to_end_with_history_in_order() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let (blocks, envelopes): (Vec<_>, Vec<_>) =
            scenario_6_1(&mut net, &mut state)?.into_iter().unzip();

        let bill = state
            .reader()
            .document(&bill_key(ORDER))?
            .expect("bill exists");
        assert_eq!(bill.status, Status::SurrenderedForDelivery);
        let history = state.reader().history(&bill_key(ORDER), None, 100)?;
        let actions: Vec<(Action, &str)> = history
            .iter()
            .map(|h| (h.action, h.actor.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (Action::Issue, "CARRIER"),
                (Action::EndorseToOrder, "SHIPPER"),
                (Action::Endorse, "BANK"),
                (Action::SurrenderForDelivery, "CONSIGNEE"),
                (Action::AcceptSurrender, "CARRIER"),
            ]
        );
        for (i, h) in history.iter().enumerate() {
            assert_eq!(h.sequence, i as u64 + 1);
            assert_eq!(h.height, i as u64 + 1);
            assert_eq!(h.tx_hash, blocks[i].transactions[0].tx_hash);
            // The signed envelope is kept byte for byte (its header is stored apart, once per
            // signer) and still verifies.
            assert_eq!(h.jws.as_bytes(), envelopes[i][0].as_slice());
            pki::jws::verify(&h.jws)?;
            assert_eq!(h.signer_fingerprint.len(), 64);
        }
        assert_eq!(
            history[2].recipient.as_ref().map(|p| p.as_str()),
            Some("CONSIGNEE")
        );
        assert_eq!(history[2].member.as_str(), "BANK");
        // Pagination of the history.
        let page = state.reader().history(&bill_key(ORDER), Some(3), 1)?;
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].sequence, 4);

        let release = state
            .reader()
            .document(&release_key(ORDER))?
            .expect("cargo release exists");
        assert_eq!(release.status, Status::Completed);
        let release_history = state.reader().history(&release_key(ORDER), None, 100)?;
        assert_eq!(
            release_history.iter().map(|h| h.action).collect::<Vec<_>>(),
            [Action::ReleaseCargo, Action::GateOut]
        );

        // Indexes: every party that is or was party to the bill finds it; others do not.
        for p in ["CARRIER", "SHIPPER", "BANK", "CONSIGNEE"] {
            let page = state
                .reader()
                .documents_by_party(&party(p), None, None, 10)?;
            assert!(
                page.documents
                    .iter()
                    .any(|d| d.id == bill.id && d.kind == bill.kind),
                "{p}"
            );
            let page = state.reader().documents_by_party(
                &party(p),
                Some(Status::SurrenderedForDelivery),
                None,
                10,
            )?;
            assert_eq!(page.documents.len(), 1, "{p}");
            let page =
                state
                    .reader()
                    .documents_by_party(&party(p), Some(Status::Issued), None, 10)?;
            assert!(
                page.documents.is_empty(),
                "{p}: the old status entry is gone"
            );
        }
        let port_docs = state
            .reader()
            .documents_by_party(&party("PORT"), None, None, 10)?;
        assert_eq!(
            port_docs.documents.len(),
            1,
            "the port is party to the cargo release only"
        );
        let page = state
            .reader()
            .documents_by_status(Status::Completed, None, 10)?;
        assert_eq!(page.documents.len(), 1);

        // Blocks and transaction lookups.
        let b1 = state.reader().block(1)?.expect("block 1");
        assert_eq!(b1, blocks[0]);
        assert_eq!(b1.header.previous_hash, net.genesis.genesis_hash());
        let b2 = state.reader().block(2)?.expect("block 2");
        assert_eq!(b2.header.previous_hash, b1.hash);
        assert_eq!(b2.hash, b2.header.hash());
        let record = state
            .reader()
            .transaction(&b2.transactions[0].tx_hash)?
            .expect("tx record");
        assert_eq!(
            record.location,
            TxLocation {
                height: 2,
                position: 0
            }
        );
        assert!(record.outcome.is_committed());
        assert_eq!(state.tip().height, 6);
        Ok(())
    }

    #[test]
    fn chain_pagination_is_capped_and_resumes_after_the_cursor() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let content = fixture("to-order-bill.json")?;
        let t = GENESIS_MS + 1_000;
        let mut txs = Vec::new();
        for i in 0..5 {
            let mut c = content.clone();
            let reference = format!("SLK-P-{i}");
            c["transportDocumentReference"] = json!(reference);
            txs.push(net.doc_tx(
                "carrier",
                t,
                &reference,
                json!({"action": "ISSUE", "content": c, "issueTo": "SHIPPER"}),
            )?);
        }
        let refs: Vec<&Vec<u8>> = txs.iter().collect();
        let block = apply(&mut state, t, &refs)?;
        assert_eq!(codes(&block), vec!["COMMITTED"; 5]);

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let page = state.reader().documents_by_party(
                &party("SHIPPER"),
                Some(Status::Issued),
                cursor.as_deref(),
                2,
            )?;
            assert!(page.documents.len() <= 2);
            seen.extend(page.documents.iter().map(|d| d.id.reference.to_string()));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            ["SLK-P-0", "SLK-P-1", "SLK-P-2", "SLK-P-3", "SLK-P-4"]
        );
        let capped = state
            .reader()
            .documents_by_party(&party("SHIPPER"), None, None, 10_000)?;
        assert_eq!(capped.documents.len(), 5);
        Ok(())
    }

    #[test]
    fn chain_revoked_certificate_is_refused_after_update_revocations() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 10_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        assert_eq!(codes(&apply(&mut state, t, &[&issue])?), ["COMMITTED"]);

        // CARRIER's CA revokes the shipper's certificate; its admin publishes the list.
        let crl = net.consortium.revoke("shipper", (t / 1000) as i64)?;
        let crl_b64 = base64::engine::general_purpose::STANDARD.encode(&crl);
        let update = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "UPDATE_REVOCATIONS", "crl": crl_b64}),
        )?;
        // Only an admin may publish it; a user's attempt is refused.
        let by_user = net.gov_tx(
            "carrier",
            t,
            json!({"action": "UPDATE_REVOCATIONS", "crl": crl_b64}),
        )?;
        // Another member's admin cannot publish CARRIER's list as its own.
        let by_bank = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "UPDATE_REVOCATIONS", "crl": crl_b64}),
        )?;
        let block = apply(&mut state, t, &[&by_user, &by_bank, &update])?;
        assert_eq!(
            codes(&block),
            ["WRONG_CERTIFICATE_KIND", "CRL_WRONG_ISSUER", "COMMITTED"]
        );
        assert!(state.crl(&party("CARRIER")).is_some());

        let endorse = net.doc_tx(
            "shipper",
            t + 1_000,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
        )?;
        let block = apply(&mut state, t + 1_000, &[&endorse])?;
        assert_eq!(codes(&block), ["CERTIFICATE_REVOKED"]);
        // The older genesis list cannot roll the revocation back.
        let genesis_crl = net
            .genesis
            .members
            .iter()
            .find(|m| m.code.as_str() == "CARRIER")
            .unwrap()
            .initial_crl
            .clone()
            .unwrap();
        let rollback = net.gov_tx(
            "carrier-admin",
            t + 2_000,
            json!({"action": "UPDATE_REVOCATIONS", "crl": genesis_crl}),
        )?;
        let garbage = net.gov_tx(
            "carrier-admin",
            t + 2_000,
            json!({"action": "UPDATE_REVOCATIONS", "crl": "AAAA"}),
        )?;
        let block = apply(&mut state, t + 2_000, &[&rollback, &garbage])?;
        assert_eq!(codes(&block), ["CRL_OUTDATED", "CRL_INVALID"]);
        Ok(())
    }

    /// A consortium of another network whose one member, ELSEWHERE, shares no name with ours,
    /// with a SHIPPER user valid for the first hour after `t0` only (`stranger-short`).
    fn stranger_consortium(dir: &std::path::Path, t0: i64) -> anyhow::Result<pki::dev::Consortium> {
        use pki::dev::{ConsortiumSpec, IdentityRequest, generate_consortium};
        use pki::identity::{IdentityKind, PartyCode};
        let elsewhere = MemberCode::new("ELSEWHERE").map_err(anyhow::Error::msg)?;
        let mut spec = ConsortiumSpec::dev(1);
        spec.members.truncate(1);
        spec.members[0].code = elsewhere.clone();
        spec.members[0].name = "Elsewhere Lines".into();
        for party in &mut spec.parties {
            party.sponsor = elsewhere.clone();
        }
        spec.nodes.clear();
        let mut stranger = generate_consortium(&spec, &dir.join("stranger"), t0)?;
        stranger.issue(&IdentityRequest {
            name: "stranger-short".into(),
            member: elsewhere,
            party: PartyCode::new("SHIPPER").map_err(anyhow::Error::msg)?,
            party_name: "Silk Road Exporters Ltd".into(),
            kind: IdentityKind::User,
            node_id: None,
            ips: Vec::new(),
            not_before: t0,
            not_after: t0 + 3_600,
        })?;
        Ok(stranger)
    }

    #[test]
    fn chain_expired_not_yet_valid_and_foreign_certificates_are_refused() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t0 = T0_S;
        // Valid for the first hour only; valid only from the second day.
        net.issue("carrier-short", "CARRIER", "CARRIER", t0, t0 + 3_600)?;
        net.issue(
            "carrier-later",
            "CARRIER",
            "CARRIER",
            t0 + 86_400,
            t0 + 2 * 86_400,
        )?;
        let foreign = foreign_consortium(net.dir.path())?;

        let t = GENESIS_MS + 2 * HOUR_MS; // the short certificate has expired
        let content = fixture("to-order-bill.json")?;
        let issue = json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"});
        let expired = net.doc_tx("carrier-short", t, ORDER, issue.clone())?;
        let early = net.doc_tx("carrier-later", t, ORDER, issue.clone())?;
        let p = net.payload(
            t,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER}, "command": issue}),
        );
        let alien = sign_with(&foreign, "carrier", &p)?;
        // A CA no member's name points to, whose user certificate has also expired: the chain
        // reaches no member CA, and that is the refusal (pki/PROFILE.md), not the expiry webpki
        // happens to notice first.
        let stranger = stranger_consortium(net.dir.path(), t0)?;
        let p = net.payload(
            t,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER}, "command": issue}),
        );
        let stranger_expired = sign_with(&stranger, "stranger-short", &p)?;
        let block = apply(
            &mut state,
            t,
            &[&expired, &early, &alien, &stranger_expired],
        )?;
        assert_eq!(
            codes(&block),
            [
                "CERTIFICATE_EXPIRED",
                "CERTIFICATE_NOT_YET_VALID",
                "UNKNOWN_ISSUER",
                "UNKNOWN_ISSUER"
            ],
            "{:?}",
            block.transactions
        );
        // The same short-lived certificate was fine while valid (checked at block time).
        let mut other = net.state("b")?;
        let t_ok = GENESIS_MS + 1_000;
        let ok = net.doc_tx("carrier-short", t_ok, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        assert_eq!(codes(&apply(&mut other, t_ok, &[&ok])?), ["COMMITTED"]);
        assert!(
            state.reader().document(&bill_key(ORDER))?.is_none(),
            "refusals change nothing"
        );
        Ok(())
    }

    #[test]
    fn chain_same_signed_transaction_commits_once() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let block = apply(&mut state, t, &[&issue, &issue])?;
        assert_eq!(codes(&block), ["COMMITTED", "DUPLICATE"]);
        let block = apply(&mut state, t + 1_000, &[&issue])?;
        match &block.transactions[0].outcome {
            Outcome::Refused { code, original, .. } => {
                assert_eq!(code, "DUPLICATE");
                assert_eq!(
                    *original,
                    Some(TxLocation {
                        height: 1,
                        position: 0
                    })
                );
            }
            other => panic!("expected DUPLICATE, got {other:?}"),
        }
        // The record keeps the original outcome.
        let record = state
            .reader()
            .transaction(&block.transactions[0].tx_hash)?
            .expect("record");
        assert!(record.outcome.is_committed());
        assert_eq!(
            state.reader().history(&bill_key(ORDER), None, 100)?.len(),
            1
        );

        // A different transaction reusing the nonce within its window is a replay.
        let p = json!({
            "network": NETWORK, "nonce": format!("{:032x}", 1), "notBefore": t - HOUR_MS, "notAfter": t + HOUR_MS,
            "document": {"carrier": "CARRIER", "reference": ORDER}, "command": {"action": "SIGN"},
        });
        let signed = net.sign("carrier", &p)?;
        let shipper_sign = net.doc_tx("shipper", t + 2_000, ORDER, json!({"action": "SIGN"}))?;
        let block = apply(&mut state, t + 2_000, &[&signed, &shipper_sign])?;
        assert_eq!(codes(&block), ["NONCE_REUSED", "COMMITTED"]);
        Ok(())
    }

    #[test]
    fn chain_network_window_and_sponsorship_rules() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let issue = json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"});
        let document = json!({"carrier": "CARRIER", "reference": ORDER});

        let mut wrong_net = net.payload(t, json!({"document": document, "command": issue}));
        wrong_net["network"] = json!("another-network");
        let wrong_net = net.sign("carrier", &wrong_net)?;

        let mut too_long = net.payload(t, json!({"document": document, "command": issue}));
        too_long["notAfter"] = json!(t + 25 * HOUR_MS);
        let too_long = net.sign("carrier", &too_long)?;

        let mut later = net.payload(t, json!({"document": document, "command": issue}));
        later["notBefore"] = json!(t + 1);
        later["notAfter"] = json!(t + HOUR_MS);
        let later = net.sign("carrier", &later)?;

        let mut past = net.payload(t, json!({"document": document, "command": issue}));
        past["notBefore"] = json!(t - HOUR_MS);
        past["notAfter"] = json!(t - 1);
        let past = net.sign("carrier", &past)?;

        let mut bad_nonce = net.payload(t, json!({"document": document, "command": issue}));
        bad_nonce["nonce"] = json!("short");
        let bad_nonce = net.sign("carrier", &bad_nonce)?;

        // BANK's CA issues a certificate naming CARRIER: a bank cannot act for the carrier.
        net.issue(
            "bank-as-carrier",
            "BANK",
            "CARRIER",
            T0_S,
            T0_S + 86_400 * 365,
        )?;
        let bank_as_carrier = net.doc_tx("bank-as-carrier", t, ORDER, issue.clone())?;
        // A party unknown to the network.
        net.issue("stranger", "CARRIER", "STRANGER", T0_S, T0_S + 86_400 * 365)?;
        let stranger = net.doc_tx("stranger", t, ORDER, issue.clone())?;
        // The workflow itself refuses: the shipper cannot issue.
        let shipper_issue = net.doc_tx("shipper", t, ORDER, issue.clone())?;

        let block = apply(
            &mut state,
            t,
            &[
                &wrong_net,
                &too_long,
                &later,
                &past,
                &bad_nonce,
                &bank_as_carrier,
                &stranger,
                &shipper_issue,
            ],
        )?;
        assert_eq!(
            codes(&block),
            [
                "WRONG_NETWORK",
                "WINDOW_TOO_LONG",
                "TRANSACTION_NOT_YET_VALID",
                "TRANSACTION_EXPIRED",
                "MALFORMED_NONCE",
                "PARTY_NOT_SPONSORED",
                "UNKNOWN_PARTY",
                "MISSING_ROLE",
            ]
        );
        for t in &block.transactions {
            if let Outcome::Refused { message, .. } = &t.outcome {
                assert!(!message.is_empty());
            }
        }
        Ok(())
    }

    #[test]
    fn chain_garbage_envelopes_are_refused_and_the_block_applies_the_others() -> anyhow::Result<()>
    {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let good = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let empty = Vec::new();
        let garbage = b"not a jws at all".to_vec();
        let binary = vec![0xff, 0xfe, 0x00, 0x01];
        let truncated = good[..good.len() - 10].to_vec();
        let mut tampered = good.clone();
        let dot = tampered.iter().rposition(|b| *b == b'.').unwrap();
        tampered[dot - 5] = if tampered[dot - 5] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let oversized = vec![b'a'; ledger::tx::ENVELOPE_BYTES_MAX + 1];
        let block = apply(
            &mut state,
            t,
            &[
                &empty, &garbage, &binary, &truncated, &tampered, &oversized, &good,
            ],
        )?;
        let c = codes(&block);
        assert_eq!(c[0], "ENVELOPE_EMPTY");
        assert_eq!(c[1], "MALFORMED_ENVELOPE");
        assert_eq!(c[2], "MALFORMED_ENVELOPE");
        assert!(
            ["BAD_SIGNATURE", "MALFORMED_ENVELOPE"].contains(&c[3].as_str()),
            "{c:?}"
        );
        assert!(
            [
                "BAD_SIGNATURE",
                "MALFORMED_ENVELOPE",
                "MALFORMED_TRANSACTION"
            ]
            .contains(&c[4].as_str()),
            "{c:?}"
        );
        assert_eq!(c[5], "ENVELOPE_TOO_LARGE");
        assert_eq!(c[6], "COMMITTED");
        assert!(state.reader().document(&bill_key(ORDER))?.is_some());
        Ok(())
    }

    #[test]
    fn chain_governance_onboards_parties_once() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let onboard = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER1", "name": "Trader One BV"}),
        )?;
        let again = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER1", "name": "Trader One BV"}),
        )?;
        let by_user = net.gov_tx(
            "bank",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER2", "name": "Trader Two BV"}),
        )?;
        let block = apply(&mut state, t, &[&onboard, &again, &by_user])?;
        assert_eq!(
            codes(&block),
            [
                "COMMITTED",
                "PARTY_ALREADY_EXISTS",
                "WRONG_CERTIFICATE_KIND"
            ]
        );
        let record = state.party(&party("TRADER1")).expect("onboarded");
        assert_eq!(record.sponsor.as_str(), "BANK");
        assert_eq!(record.role, doc_workflow::Role::Trader);

        // A user certificate for the new party, from its sponsor's CA, can act; from another
        // member's CA it cannot.
        net.issue("trader1", "BANK", "TRADER1", T0_S, T0_S + 86_400 * 365)?;
        net.issue(
            "trader1-by-carrier",
            "CARRIER",
            "TRADER1",
            T0_S,
            T0_S + 86_400 * 365,
        )?;
        let issue = net.doc_tx("carrier", t + 1_000, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "TRADER1"}))?;
        let sign_ok = net.doc_tx("trader1", t + 1_000, ORDER, json!({"action": "SIGN"}))?;
        let sign_foreign = net.doc_tx(
            "trader1-by-carrier",
            t + 1_000,
            ORDER,
            json!({"action": "SIGN"}),
        )?;
        let block = apply(&mut state, t + 1_000, &[&issue, &sign_ok, &sign_foreign])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED", "PARTY_NOT_SPONSORED"]
        );
        Ok(())
    }

    /// DOMAIN 6.8 on every replica: a party named by a command must be a party of the network
    /// at that block (an onboarding in an earlier block counts, one in the same block after it
    /// does not), and a cargo release goes only to a port. Refused at apply and at precheck alike.
    #[test]
    fn chain_named_parties_must_be_on_the_network() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let mut t = GENESIS_MS + 1_000;
        let content = fixture("to-order-bill.json")?;

        // Issued to a party no member knows: refused, nothing created.
        let to_nobody = net.doc_tx(
            "carrier",
            t,
            ORDER,
            json!({"action": "ISSUE", "content": content, "issueTo": "NOBODY"}),
        )?;
        assert_eq!(
            state.reader().precheck(&to_nobody, t)?.refusal_code(),
            Some("UNKNOWN_PARTY")
        );
        let block = apply(&mut state, t, &[&to_nobody])?;
        assert_eq!(codes(&block), ["UNKNOWN_PARTY"]);
        assert!(state.reader().document(&bill_key(ORDER))?.is_none());

        // Issued to the shipper; title cannot go to nobody, nor to a party onboarded later in
        // the same block, but can to it once its onboarding block is applied.
        t += 1_000;
        let issue = net.doc_tx(
            "carrier",
            t,
            ORDER,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        )?;
        let mut refused = Vec::new();
        for action in ["TRANSFER", "ENDORSE", "ENDORSE_TO_ORDER"] {
            refused.push(net.doc_tx(
                "shipper",
                t,
                ORDER,
                json!({"action": action, "to": "NOBODY"}),
            )?);
        }
        let early = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "TRADER1"}),
        )?;
        let onboard = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER1", "name": "Trader One BV"}),
        )?;
        let mut txs: Vec<&Vec<u8>> = vec![&issue];
        txs.extend(refused.iter());
        txs.push(&early);
        txs.push(&onboard);
        let block = apply(&mut state, t, &txs)?;
        assert_eq!(
            codes(&block),
            [
                "COMMITTED",
                "UNKNOWN_PARTY",
                "UNKNOWN_PARTY",
                "UNKNOWN_PARTY",
                "UNKNOWN_PARTY",
                "COMMITTED"
            ]
        );
        let bill = state.reader().document(&bill_key(ORDER))?.expect("issued");
        assert_eq!(bill.possessor, Some(party("SHIPPER")));
        assert_eq!(bill.sequence, 1, "the refusals changed nothing");

        t += 1_000;
        let endorse = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "TRADER1"}),
        )?;
        let block = apply(&mut state, t, &[&endorse])?;
        assert_eq!(codes(&block), ["COMMITTED"]);
        let bill = state.reader().document(&bill_key(ORDER))?.expect("issued");
        assert_eq!(bill.possessor, Some(party("TRADER1")));
        assert_eq!(bill.endorsee, Some(party("TRADER1")));
        Ok(())
    }

    /// A cargo release addressed to a bank, a trader or nobody is refused; to the PORT member's
    /// party it commits.
    #[test]
    fn chain_cargo_is_released_only_to_a_port() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let mut t = GENESIS_MS + 1_000;
        let content = fixture("to-order-bill.json")?;
        let steps = [
            (
                "carrier",
                json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
            ),
            ("shipper", json!({"action": "SURRENDER_FOR_DELIVERY"})),
            ("carrier", json!({"action": "ACCEPT_SURRENDER"})),
        ];
        for (who, command) in steps {
            let tx = net.doc_tx(who, t, ORDER, command)?;
            assert_eq!(
                codes(&apply(&mut state, t, &[&tx])?),
                ["COMMITTED"],
                "{who}"
            );
            t += 1_000;
        }
        let mut txs = Vec::new();
        for port in ["BANK", "SHIPPER", "NOBODY", "PORT"] {
            txs.push(net.doc_tx(
                "carrier",
                t,
                ORDER,
                json!({"action": "RELEASE_CARGO", "port": port}),
            )?);
        }
        assert_eq!(
            state.reader().precheck(&txs[0], t)?.refusal_code(),
            Some("NOT_A_PORT")
        );
        let txs: Vec<&Vec<u8>> = txs.iter().collect();
        let block = apply(&mut state, t, &txs)?;
        assert_eq!(
            codes(&block),
            ["NOT_A_PORT", "NOT_A_PORT", "UNKNOWN_PARTY", "COMMITTED"]
        );
        let release = state
            .reader()
            .document(&release_key(ORDER))?
            .expect("released");
        let release = release.release.expect("release details");
        assert!(
            release.rights.values().all(|r| r.terminal == party("PORT")),
            "every right is at the port"
        );
        Ok(())
    }

    fn membership(state: &LedgerState) -> (Vec<u64>, Vec<u64>) {
        let m = state.membership();
        (
            m.voters.into_iter().collect(),
            m.learners.into_iter().collect(),
        )
    }

    /// ADD_NODE, PROMOTE_NODE and REMOVE_NODE: each refusal names its rule, and the node set
    /// is part of the state hash, the store and snapshots. Genesis nodes: node1 (CARRIER),
    /// node2 (PORT), node3 (BANK).
    #[test]
    fn chain_membership_changes_follow_the_rules() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        let mut b = net.state("b")?;
        let t = GENESIS_MS + 1_000;
        let add = |raft: u64, node: &str, address: &str| json!({"action": "ADD_NODE", "raftId": raft, "nodeId": node, "address": address});
        let promote = |raft: u64| json!({"action": "PROMOTE_NODE", "raftId": raft});
        let remove = |raft: u64| json!({"action": "REMOVE_NODE", "raftId": raft});
        let first = [
            net.gov_tx("carrier-admin", t, add(4, "node4", "127.0.0.1:7104"))?,
            net.gov_tx("bank-admin", t, add(4, "node5", "127.0.0.1:7105"))?,
            net.gov_tx("port-admin", t, add(5, "node4", "127.0.0.1:7105"))?,
            net.gov_tx("carrier-admin", t, add(6, "node 6", "127.0.0.1:7106"))?,
            net.gov_tx("carrier-admin", t, add(6, "node6", "localhost"))?,
            net.gov_tx("carrier-admin", t, add(0, "node6", "127.0.0.1:7106"))?,
            net.gov_tx("carrier", t, add(6, "node6", "127.0.0.1:7106"))?,
            net.gov_tx("bank-admin", t, promote(4))?,
            net.gov_tx("carrier-admin", t, promote(1))?,
            net.gov_tx("carrier-admin", t, promote(9))?,
            net.gov_tx("carrier-admin", t, remove(1))?,
        ];
        let first: Vec<&Vec<u8>> = first.iter().collect();
        let block = apply(&mut a, t, &first)?;
        assert_eq!(
            codes(&block),
            [
                "COMMITTED",
                "NODE_ALREADY_EXISTS",
                "NODE_ALREADY_EXISTS",
                "INVALID_NODE",
                "INVALID_NODE",
                "INVALID_NODE",
                "WRONG_CERTIFICATE_KIND",
                "NODE_OF_ANOTHER_MEMBER",
                "NOT_A_LEARNER",
                "UNKNOWN_NODE",
                "LAST_VOTER",
            ]
        );
        let refused = |i: usize| match &block.transactions[i].outcome {
            Outcome::Refused { message, .. } => message.clone(),
            Outcome::Committed { .. } => String::new(),
        };
        assert!(
            refused(7).contains("belongs to member CARRIER"),
            "{}",
            refused(7)
        );
        assert!(
            refused(10).contains("at least 3 must remain"),
            "{}",
            refused(10)
        );
        assert_eq!(membership(&a), (vec![1, 2, 3], vec![4]));
        let added = a.nodes().find(|n| n.raft_id == 4).expect("node 4").clone();
        assert_eq!(added.node_id.as_deref(), Some("node4"));
        assert_eq!(added.member.as_str(), "CARRIER");
        assert_eq!(added.role, ledger::NodeRole::Learner);
        assert_eq!(added.since_height, 1);

        let t2 = t + 1_000;
        let second = [
            net.gov_tx("carrier-admin", t2, promote(4))?,
            net.gov_tx("port-admin", t2, remove(1))?,
            net.gov_tx("carrier-admin", t2, remove(1))?,
            net.gov_tx("bank-admin", t2, remove(3))?,
            net.gov_tx("carrier-admin", t2, remove(1))?,
            net.gov_tx("carrier-admin", t2, add(1, "node7", "127.0.0.1:7107"))?,
            net.gov_tx("carrier-admin", t2, promote(4))?,
        ];
        let second: Vec<&Vec<u8>> = second.iter().collect();
        let block2 = apply(&mut a, t2, &second)?;
        assert_eq!(
            codes(&block2),
            [
                "COMMITTED",
                "NODE_OF_ANOTHER_MEMBER",
                "COMMITTED",
                "LAST_VOTER",
                "UNKNOWN_NODE",
                "NODE_ALREADY_EXISTS",
                "NOT_A_LEARNER",
            ]
        );
        assert_eq!(membership(&a), (vec![2, 3, 4], vec![]));
        assert_eq!(
            replication::StateMachine::membership(&a).map(|m| m.voters.len()),
            Some(3)
        );

        // Another replica applying the same entries agrees on every hash; the node set moved
        // the state hash (a block of refusals only would leave other writes).
        let b1 = apply(&mut b, t, &first)?;
        let b2 = apply(&mut b, t2, &second)?;
        assert_eq!((b1.hash, b2.hash), (block.hash, block2.hash));
        assert_eq!(b.state_hash(), a.state_hash());
        assert_eq!(membership(&b), membership(&a));

        // Reopened and restored from a snapshot, the node set is the same.
        let snapshot = a.export_snapshot()?;
        let nodes: Vec<_> = a.nodes().cloned().collect();
        drop(a);
        let reopened = net.reopen("a")?;
        assert_eq!(reopened.nodes().cloned().collect::<Vec<_>>(), nodes);
        let mut restored = net.state("restored")?;
        restored.import_snapshot(&snapshot)?;
        assert_eq!(restored.nodes().cloned().collect::<Vec<_>>(), nodes);
        assert_eq!(restored.reader().nodes(), nodes);
        assert_eq!(membership(&restored), (vec![2, 3, 4], vec![]));
        Ok(())
    }

    #[test]
    fn chain_two_replicas_reach_identical_hashes() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        let blocks = scenario_6_1(&mut net, &mut a)?;
        // Replica b applies the same entries (same envelopes, same proposed times).
        let mut b = net.state("b")?;
        for (i, (block, envelopes)) in blocks.iter().enumerate() {
            let refs: Vec<&[u8]> = envelopes.iter().map(|e| e.as_slice()).collect();
            // Each entry attests a's block before it, which b holds too: the check passes.
            let attestation = match i.checked_sub(1) {
                Some(prev) => Attestation {
                    height: prev as u64 + 1,
                    digest: blocks[prev].0.hash.0,
                },
                None => Attestation::NONE,
            };
            let got = b.apply_block(i as u64 + 1, block.header.time_ms, attestation, &refs)?;
            assert_eq!(got.hash, block.hash, "block {}", i + 1);
            assert_eq!(got.header.state_hash, block.header.state_hash);
            assert_eq!(got, *block);
        }
        assert_eq!(a.state_hash(), b.state_hash());
        assert_eq!(a.reader().content_digest()?, b.reader().content_digest()?);
        assert_eq!(a.tip(), b.tip());
        Ok(())
    }

    #[test]
    fn chain_divergent_input_changes_the_state_hash_of_that_block() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        let mut b = net.state("b")?;
        let t = GENESIS_MS + 1_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let ba = apply(&mut a, t, &[&issue])?;
        let bb = apply(&mut b, t, &[&issue])?;
        assert_eq!(ba.hash, bb.hash);
        let to_bank = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
        )?;
        let to_consignee = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "CONSIGNEE"}),
        )?;
        let ba = apply(&mut a, t, &[&to_bank])?;
        let bb = apply(&mut b, t, &[&to_consignee])?;
        assert_ne!(ba.header.state_hash, bb.header.state_hash);
        Ok(())
    }

    #[test]
    fn chain_a_replica_whose_block_differs_from_the_proposers_stops_diverged() -> anyhow::Result<()>
    {
        use replication::{CommittedEntry, EntryKind, Proposal, ProposalId, StateMachine};
        let mut net = net()?;
        let mut a = net.state("a")?;
        let mut b = net.state("b")?;
        let t = GENESIS_MS + 1_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let first = apply(&mut a, t, &[&issue])?;
        assert_eq!(apply(&mut b, t, &[&issue])?.hash, first.hash);
        // At height 2 the two replicas apply different blocks (as a corrupted or buggy
        // replica would): from here their states differ.
        let endorse = |to: &str| json!({"action": "ENDORSE_TO_ORDER", "to": to});
        let to_bank = net.doc_tx("shipper", t, ORDER, endorse("BANK"))?;
        let to_consignee = net.doc_tx("shipper", t, ORDER, endorse("CONSIGNEE"))?;
        let ours_a = apply(&mut a, t, &[&to_bank])?;
        let ours_b = apply(&mut b, t, &[&to_consignee])?;
        assert_ne!(ours_a.hash, ours_b.hash);

        // a proposes the next entry, attesting its block 2.
        let attestation = StateMachine::attestation(&a);
        assert_eq!(
            attestation,
            Attestation {
                height: 2,
                digest: ours_a.hash.0
            }
        );
        let sign = net.doc_tx("bank", t, ORDER, json!({"action": "SIGN"}))?;
        let batch = [Proposal {
            id: ProposalId(3),
            payload: sign,
        }];
        let entry = CommittedEntry {
            index: 3,
            term: 1,
            kind: EntryKind::Proposals {
                time_ms: t,
                attestation,
                proposals: &batch,
            },
        };
        // The proposer itself agrees with its attestation and applies the entry.
        assert!(StateMachine::apply(&mut a, entry)?.is_some());

        // b holds another block at height 2: apply fails naming both hashes, and changes
        // nothing (an error that stops the replica, not a refusal recorded in a block).
        let tip_before = b.tip();
        let err = StateMachine::apply(&mut b, entry).expect_err("a diverged replica must stop");
        let StateMachineError::Diverged { index, detail } = &err else {
            panic!("expected Diverged, got {err}");
        };
        assert_eq!(*index, 3);
        assert!(
            detail.contains(&ours_a.hash.to_string()) && detail.contains(&ours_b.hash.to_string()),
            "{detail}"
        );
        assert_eq!(b.tip(), tip_before);
        assert_eq!(b.applied_index(), 2);
        let refs = [batch[0].payload.as_slice()];
        match b.apply_block(3, t, attestation, &refs) {
            Err(ChainError::Diverged {
                height,
                ours,
                proposer,
            }) => {
                assert_eq!((height, ours, proposer), (2, ours_b.hash, ours_a.hash));
            }
            other => panic!("expected Diverged, got {other:?}"),
        }

        // A lagging proposer attests an older block: checked against the stored block there.
        let at_one = |digest: Hash32| Attestation {
            height: 1,
            digest: digest.0,
        };
        b.check_attestation(&at_one(first.hash))?;
        assert!(matches!(
            b.check_attestation(&at_one(ours_a.hash)),
            Err(ChainError::Diverged { height: 1, .. })
        ));
        // A block the log says b has applied, but b's chain does not reach.
        assert!(matches!(
            b.check_attestation(&Attestation {
                height: 3,
                digest: [1; 32]
            }),
            Err(ChainError::AttestedBeyondTip {
                height: 3,
                tip: 2,
                ..
            })
        ));
        // An entry from before attestations (or proposed at genesis) checks nothing.
        b.check_attestation(&Attestation::NONE)?;
        let unattested = CommittedEntry {
            index: 3,
            term: 1,
            kind: EntryKind::Proposals {
                time_ms: t,
                attestation: Attestation::NONE,
                proposals: &batch,
            },
        };
        assert!(StateMachine::apply(&mut b, unattested)?.is_some());
        assert_eq!(b.applied_index(), 3);
        Ok(())
    }

    #[test]
    fn chain_reopen_and_snapshot_restore_give_the_same_state() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        scenario_6_1(&mut net, &mut a)?;
        a.advance_applied_index(a.applied_index() + 1)?; // a no-op entry
        let (hash, tip, applied, digest) = (
            a.state_hash(),
            a.tip(),
            a.applied_index(),
            a.reader().content_digest()?,
        );
        let snapshot = a.export_snapshot()?;
        drop(a);

        let reopened = net.reopen("a")?;
        assert_eq!(reopened.state_hash(), hash);
        assert_eq!(reopened.tip(), tip);
        assert_eq!(reopened.applied_index(), applied);
        assert_eq!(reopened.reader().content_digest()?, digest);
        assert_eq!(
            reopened
                .reader()
                .document(&bill_key(ORDER))?
                .map(|d| d.status),
            Some(Status::SurrenderedForDelivery)
        );

        let mut restored = net.state("restored")?;
        assert_eq!(restored.import_snapshot(&snapshot)?, applied);
        assert_eq!(restored.state_hash(), hash);
        assert_eq!(restored.tip(), tip);
        assert_eq!(restored.applied_index(), applied);
        assert_eq!(restored.reader().content_digest()?, digest);
        assert_eq!(
            restored
                .reader()
                .history(&bill_key(ORDER), None, 100)?
                .len(),
            5
        );

        // Both continue identically.
        let mut reopened = reopened;
        let t = tip.time_ms + 1_000;
        let sign = net.doc_tx("consignee", t, "SLK-NONE", json!({"action": "SIGN"}))?;
        let x = apply(&mut reopened, t, &[&sign])?;
        let y = apply(&mut restored, t, &[&sign])?;
        assert_eq!(x.hash, y.hash);

        // A corrupted snapshot is refused.
        let mut bad = snapshot.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        let mut fresh = net.state("fresh")?;
        assert!(fresh.import_snapshot(&bad).is_err());
        Ok(())
    }

    #[test]
    fn chain_genesis_hash_is_stable_and_checked_on_open() -> anyhow::Result<()> {
        let net = net()?;
        let json = serde_json::to_string(&net.genesis)?;
        let again = ledger::Genesis::from_json(&json)?;
        assert_eq!(again.genesis_hash(), net.genesis.genesis_hash());
        drop(net.state("a")?);
        let mut other = net.genesis.clone();
        other.network_id = "another".into();
        assert!(matches!(
            LedgerState::open(net.dir.path().join("a"), &other),
            Err(ledger::ChainError::GenesisMismatch { .. })
        ));
        Ok(())
    }

    #[test]
    fn chain_precheck_changes_nothing_and_block_time_never_runs_backwards() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut state = net.state("a")?;
        let t = GENESIS_MS + 10_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let before = state.state_hash();
        assert!(state.reader().precheck(&issue, t)?.is_committed());
        assert_eq!(
            state.reader().precheck(b"junk", t)?.refusal_code(),
            Some("MALFORMED_ENVELOPE")
        );
        assert_eq!(state.state_hash(), before);
        assert!(state.reader().document(&bill_key(ORDER))?.is_none());
        let block = apply(&mut state, t, &[&issue])?;
        assert_eq!(codes(&block), ["COMMITTED"]);
        assert_eq!(
            state.reader().precheck(&issue, t)?.refusal_code(),
            Some("DUPLICATE")
        );
        // A proposer whose clock is behind does not move block time backwards.
        let block = apply(&mut state, t - 5_000, &[])?;
        assert_eq!(block.header.time_ms, t);
        let _ = MemberCode::new("X");
        Ok(())
    }

    #[test]
    fn chain_state_machine_adapter_applies_batches_at_their_time() -> anyhow::Result<()> {
        use replication::{CommittedEntry, EntryKind, Proposal, ProposalId, StateMachine};
        let mut net = net()?;
        let mut a = net.state("a")?;
        let t = GENESIS_MS + 5_000;
        let issue = net.doc_tx("carrier", t, ORDER, json!({"action": "ISSUE", "content": fixture("to-order-bill.json")?, "issueTo": "SHIPPER"}))?;
        let proposal = |id, payload: Vec<u8>| Proposal {
            id: ProposalId(id),
            payload,
        };
        StateMachine::apply(
            &mut a,
            CommittedEntry {
                index: 1,
                term: 1,
                kind: EntryKind::Noop,
            },
        )?;
        let batch = [proposal(2, issue.clone())];
        let block = StateMachine::apply(
            &mut a,
            CommittedEntry {
                index: 2,
                term: 1,
                kind: EntryKind::Proposals {
                    time_ms: t,
                    attestation: Attestation::NONE,
                    proposals: &batch,
                },
            },
        )?
        .expect("a batch becomes a block");
        assert_eq!(block.header.time_ms, t);
        assert_eq!(block.header.log_index, 2);
        assert_eq!(codes(&block), ["COMMITTED"]);
        // Out of order is an error that stops the replica, not a refusal.
        assert!(
            StateMachine::apply(
                &mut a,
                CommittedEntry {
                    index: 9,
                    term: 1,
                    kind: EntryKind::Noop
                }
            )
            .is_err()
        );

        let snapshot = StateMachine::snapshot(&a)?;
        assert_eq!(snapshot.applied_index, 2);
        let mut b = net.state("b")?;
        StateMachine::restore(&mut b, &snapshot)?;
        assert_eq!(StateMachine::state_hash(&b), StateMachine::state_hash(&a));
        assert_eq!(StateMachine::applied_index(&b), 2);
        Ok(())
    }
}

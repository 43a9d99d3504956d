//! Governance by vote on the apply path: proposals, votes, their lifecycle and every action,
//! as signed transactions in blocks, checked on the state (and on a second replica and after a
//! reopen, where it matters that every node decides the same).

use crate::chain_common;

mod by_vote {
    use super::chain_common::*;
    use base64::Engine as _;
    use ledger::LedgerState;
    use ledger::consortium::{MemberStatus, ProposalState};
    use pki::dev::{Consortium, ConsortiumSpec, KeyAlgorithm, MemberSpec, generate_consortium};
    use pki::identity::MemberCode;
    use serde_json::{Value, json};

    const ORDER: &str = "SLK-ORDER-001";
    const DAY_MS: u64 = 24 * HOUR_MS;

    /// A one-member consortium whose member `code` is admitted to the net by vote (its own CA,
    /// made in its own directory: nobody else ever holds its keys).
    fn newcomer(net: &Net, code: &str, name: &str, role: &str) -> anyhow::Result<Consortium> {
        let spec = ConsortiumSpec {
            members: vec![MemberSpec {
                code: MemberCode::new(code).map_err(anyhow::Error::msg)?,
                name: name.into(),
                role: role.into(),
                algorithm: KeyAlgorithm::Ed25519,
                intermediate: false,
            }],
            parties: Vec::new(),
            nodes: Vec::new(),
        };
        Ok(generate_consortium(
            &spec,
            &net.dir.path().join(format!("newcomer-{code}-{name}")),
            T0_S,
        )?)
    }

    fn root_pem(c: &Consortium, code: &str) -> anyhow::Result<String> {
        let member = c
            .member(&MemberCode::new(code).map_err(anyhow::Error::msg)?)
            .expect("member");
        Ok(std::fs::read_to_string(c.path(&member.root_cert))?)
    }

    fn fingerprint(pem: &str) -> String {
        let der = pki::pem::certificates(pem).unwrap().remove(0);
        hex::encode(ledger::sha256(der.as_ref()))
    }

    fn admit_action(c: &Consortium, code: &str, name: &str, role: &str) -> anyhow::Result<Value> {
        let crl = c.crl_der(&MemberCode::new(code).map_err(anyhow::Error::msg)?)?;
        Ok(json!({
            "type": "ADMIT_MEMBER", "code": code, "name": name, "role": role,
            "caCertificatePem": root_pem(c, code)?,
            "initialCrl": base64::engine::general_purpose::STANDARD.encode(crl),
        }))
    }

    fn propose(
        net: &mut Net,
        who: &str,
        t: u64,
        actions: Value,
        base: u64,
    ) -> anyhow::Result<Vec<u8>> {
        net.gov_tx(
            who,
            t,
            json!({"action": "PROPOSE", "actions": actions, "description": "test",
                   "baseConfigVersion": base, "expiresAt": t + DAY_MS}),
        )
    }

    fn vote(net: &mut Net, who: &str, t: u64, id: &str, approve: bool) -> anyhow::Result<Vec<u8>> {
        net.gov_tx(
            who,
            t,
            json!({"action": "VOTE", "proposal": id, "approve": approve}),
        )
    }

    /// The id of the proposal the first transaction of `block` made.
    fn proposal_id(block: &ledger::Block) -> String {
        block.transactions[0].tx_hash.to_string()
    }

    fn state_of(state: &LedgerState, id: &str) -> ProposalState {
        let id = ledger::Hash32::from_hex(id).unwrap();
        state
            .reader()
            .proposal(&id)
            .unwrap()
            .expect("proposal")
            .state
    }

    fn issue(net: &mut Net, t: u64, reference: &str) -> anyhow::Result<Vec<u8>> {
        let content = fixture("to-order-bill.json")?;
        let mut content = content;
        content["transportDocumentReference"] = json!(reference);
        net.doc_tx(
            "carrier",
            t,
            reference,
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        )
    }

    /// Blocks applied to one replica, to apply again to another.
    type Log = Vec<(u64, Vec<Vec<u8>>)>;

    fn run(s: &mut LedgerState, log: &mut Log, t: u64, txs: Vec<Vec<u8>>) -> ledger::Block {
        let refs: Vec<&Vec<u8>> = txs.iter().collect();
        let block = apply(s, t, &refs).expect("apply");
        log.push((t, txs));
        block
    }

    fn replay(s: &mut LedgerState, log: &Log) -> anyhow::Result<()> {
        for (t, txs) in log {
            let refs: Vec<&Vec<u8>> = txs.iter().collect();
            apply(s, *t, &refs)?;
        }
        Ok(())
    }

    fn sign_as(
        c: &Consortium,
        who: &str,
        net: &mut Net,
        t: u64,
        body: Value,
    ) -> anyhow::Result<Vec<u8>> {
        let payload = net.payload(t, body);
        sign_with(c, who, &payload)
    }

    /// The issue's first test: a fourth member is admitted by 2 of 3 (the proposer and one
    /// vote), after which its users hold and transfer bills; 1 of 3 alone did nothing; a second
    /// replica and a reopened store agree.
    #[test]
    fn a_member_is_admitted_by_two_of_three_and_its_users_act() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        let mut b = net.state("b")?;
        let newbank = newcomer(&net, "NEWBANK", "New Trade Bank", "BANK")?;
        let mut t = GENESIS_MS + 1_000;
        let mut log = Log::new();

        let admit = admit_action(&newbank, "NEWBANK", "New Trade Bank", "BANK")?;
        let p = propose(&mut net, "carrier-admin", t, json!([admit]), 0)?;
        let block = run(&mut a, &mut log, t, vec![p]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let id = proposal_id(&block);
        assert_eq!(
            state_of(&a, &id),
            ProposalState::Open,
            "1 of 3 does nothing"
        );
        t += 1_000;
        // Before acceptance the newcomer's certificates chain to no member.
        let early = sign_as(
            &newbank,
            "newbank-admin",
            &mut net,
            t,
            json!({"governance": {"action": "ONBOARD_PARTY", "code": "NEWTRADER", "name": "New Trader"}}),
        )?;
        let block = run(&mut a, &mut log, t, vec![early]);
        assert_eq!(codes(&block), ["UNKNOWN_ISSUER"]);
        t += 1_000;

        let v = vote(&mut net, "bank-admin", t, &id, true)?;
        let block = run(&mut a, &mut log, t, vec![v]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        assert_eq!(state_of(&a, &id), ProposalState::Accepted);
        let reader = a.reader();
        assert_eq!(reader.consortium().version, 1);
        let members = reader.members();
        let admitted = members
            .iter()
            .find(|m| m.code.as_str() == "NEWBANK")
            .expect("admitted");
        assert_eq!(admitted.status, MemberStatus::Active);
        assert!(
            reader.party(&party("NEWBANK")).is_some(),
            "its own party exists"
        );
        t += 1_000;

        // Its users now hold and transfer bills.
        let issue_tx = issue(&mut net, t, ORDER)?;
        let to_newbank = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "NEWBANK"}),
        )?;
        let block = run(&mut a, &mut log, t, vec![issue_tx, to_newbank]);
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        t += 1_000;
        let onward = sign_as(
            &newbank,
            "newbank",
            &mut net,
            t,
            json!({"document": {"carrier": "CARRIER", "reference": ORDER}, "command": {"action": "ENDORSE", "to": "CONSIGNEE"}}),
        )?;
        let block = run(&mut a, &mut log, t, vec![onward]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let bill = a.reader().document(&bill_key(ORDER))?.expect("bill");
        assert_eq!(bill.possessor, Some(party("CONSIGNEE")));

        // Replica b applies the same blocks to the same state; a reopened a still trusts NEWBANK.
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        let applied = a.applied_index();
        drop(reader);
        drop(a);
        let mut a = net.reopen("a")?;
        assert_eq!(a.applied_index(), applied);
        t += 1_000;
        let after = sign_as(
            &newbank,
            "newbank-admin",
            &mut net,
            t,
            json!({"governance": {"action": "ONBOARD_PARTY", "code": "NEWTRADER", "name": "New Trader"}}),
        )?;
        let block = apply(&mut a, t, &[&after])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED"],
            "after a reopen: {:?}",
            block.transactions
        );
        Ok(())
    }

    /// Expired, withdrawn and superseded proposals cannot be voted; only the proposer
    /// withdraws; a non-admin's vote and a repeated vote count as nothing.
    #[test]
    fn closed_proposals_refuse_votes_and_votes_count_once_per_member() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut s = net.state("s")?;
        let t = GENESIS_MS + 1_000;

        // Expiry: a proposal expiring in a minute, voted two minutes later.
        let short = net.gov_tx("carrier-admin", t, json!({"action": "PROPOSE", "actions": [{"type": "PAUSE"}], "description": "short", "baseConfigVersion": 0, "expiresAt": t + 60_000}))?;
        let block = apply(&mut s, t, &[&short])?;
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let expiring = proposal_id(&block);
        let late = vote(&mut net, "bank-admin", t + 120_000, &expiring, true)?;
        let block = apply(&mut s, t + 120_000, &[&late])?;
        assert_eq!(codes(&block), ["PROPOSAL_EXPIRED"]);
        assert_eq!(state_of(&s, &expiring), ProposalState::Expired);
        let t = t + 120_000;

        // Withdrawal: not by another member; by the proposer; then no vote.
        let p = propose(
            &mut net,
            "port-admin",
            t,
            json!([{"type": "SET_PARAMETER", "name": "workflowActivationBlocksMin", "value": 5}]),
            0,
        )?;
        let block = apply(&mut s, t, &[&p])?;
        let withdrawn = proposal_id(&block);
        let by_other = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "WITHDRAW", "proposal": withdrawn}),
        )?;
        let by_proposer = net.gov_tx(
            "port-admin",
            t,
            json!({"action": "WITHDRAW", "proposal": withdrawn}),
        )?;
        let after = vote(&mut net, "bank-admin", t, &withdrawn, true)?;
        let block = apply(&mut s, t + 1_000, &[&by_other, &by_proposer, &after])?;
        assert_eq!(
            codes(&block),
            ["NOT_THE_PROPOSER", "COMMITTED", "PROPOSAL_WITHDRAWN"]
        );
        let t = t + 2_000;

        // Non-admin and repeated votes: CARRIER proposes (its approval), BANK rejects twice
        // (one rejection), a BANK user's vote is not a vote; PORT's approval decides.
        let p = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "SET_PARAMETER", "name": "workflowActivationBlocksMin", "value": 3}]),
            0,
        )?;
        let second = propose(
            &mut net,
            "bank-admin",
            t,
            json!([{"type": "SET_PARAMETER", "name": "workflowActivationBlocksMin", "value": 4}]),
            0,
        )?;
        let block = apply(&mut s, t, &[&p, &second])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        let voted = proposal_id(&block);
        let superseded = block.transactions[1].tx_hash.to_string();
        let user_vote = vote(&mut net, "bank", t, &voted, false)?;
        let reject1 = vote(&mut net, "bank-admin", t, &voted, false)?;
        let reject2 = vote(&mut net, "bank-admin", t, &voted, false)?;
        let block = apply(&mut s, t + 1_000, &[&user_vote, &reject1, &reject2])?;
        assert_eq!(
            codes(&block),
            ["WRONG_CERTIFICATE_KIND", "COMMITTED", "COMMITTED"]
        );
        let view = s
            .reader()
            .proposal(&ledger::Hash32::from_hex(&voted)?)?
            .unwrap();
        assert_eq!(view.state, ProposalState::Open, "one rejection of three");
        assert_eq!((view.tally.approvals, view.tally.rejections), (1, 1));
        let approve = vote(&mut net, "port-admin", t, &voted, true)?;
        let block = apply(&mut s, t + 2_000, &[&approve])?;
        assert_eq!(codes(&block), ["COMMITTED"]);
        assert_eq!(state_of(&s, &voted), ProposalState::Accepted);
        assert_eq!(
            s.reader()
                .consortium()
                .parameters
                .workflow_activation_blocks_min,
            3
        );

        // The other proposal was written against version 0: superseded, and refused a vote.
        assert_eq!(state_of(&s, &superseded), ProposalState::Superseded);
        let v = vote(&mut net, "carrier-admin", t, &superseded, true)?;
        let block = apply(&mut s, t + 3_000, &[&v])?;
        assert_eq!(codes(&block), ["PROPOSAL_SUPERSEDED"]);
        // And a new proposal must name the current version.
        let stale = propose(
            &mut net,
            "carrier-admin",
            t + 3_000,
            json!([{"type": "PAUSE"}]),
            0,
        )?;
        let unknown = vote(&mut net, "carrier-admin", t + 3_000, &"ab".repeat(32), true)?;
        let block = apply(&mut s, t + 4_000, &[&stale, &unknown])?;
        assert_eq!(codes(&block), ["STALE_CONFIG_VERSION", "UNKNOWN_PROPOSAL"]);
        Ok(())
    }

    /// Removal: the member removed is not counted (2 of the 3 others decide, where 2 of 4
    /// would not), its parties move to the successor, its certificates stop verifying.
    #[test]
    fn removal_excludes_the_target_and_hands_its_parties_to_a_successor() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut s = net.state("s")?;
        let newbank = newcomer(&net, "NEWBANK", "New Trade Bank", "BANK")?;
        let t = GENESIS_MS + 1_000;
        let admit = admit_action(&newbank, "NEWBANK", "New Trade Bank", "BANK")?;
        let p = propose(&mut net, "carrier-admin", t, json!([admit]), 0)?;
        let block = apply(&mut s, t, &[&p])?;
        let id = proposal_id(&block);
        let v = vote(&mut net, "port-admin", t, &id, true)?;
        apply(&mut s, t + 1_000, &[&v])?;
        assert_eq!(state_of(&s, &id), ProposalState::Accepted);
        let t = t + 2_000;
        let onboard = sign_as(
            &newbank,
            "newbank-admin",
            &mut net,
            t,
            json!({"governance": {"action": "ONBOARD_PARTY", "code": "NEWTRADER", "name": "New Trader"}}),
        )?;
        let block = apply(&mut s, t, &[&onboard])?;
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);

        // Without a successor the removal cannot apply: NEWBANK sponsors NEWTRADER.
        let t = t + 1_000;
        let bare = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "REMOVE_MEMBER", "code": "NEWBANK"}]),
            1,
        )?;
        let block = apply(&mut s, t, &[&bare])?;
        assert_eq!(codes(&block), ["INVALID_PROPOSAL"]);
        assert!(format!("{:?}", block.transactions[0].outcome).contains("SUCCESSOR_REQUIRED"));

        let remove = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "REMOVE_MEMBER", "code": "NEWBANK", "successor": "BANK"}]),
            1,
        )?;
        let block = apply(&mut s, t + 1_000, &[&remove])?;
        let id = proposal_id(&block);
        let view = s
            .reader()
            .proposal(&ledger::Hash32::from_hex(&id)?)?
            .unwrap();
        assert_eq!(view.tally.eligible, 3, "the target is not counted");
        let target_vote = sign_as(
            &newbank,
            "newbank-admin",
            &mut net,
            t,
            json!({"governance": {"action": "VOTE", "proposal": id, "approve": false}}),
        )?;
        let v = vote(&mut net, "bank-admin", t, &id, true)?;
        let block = apply(&mut s, t + 2_000, &[&target_vote, &v])?;
        assert_eq!(codes(&block), ["NOT_ELIGIBLE_TO_VOTE", "COMMITTED"]);
        assert_eq!(
            state_of(&s, &id),
            ProposalState::Accepted,
            "2 of 3 eligible"
        );
        let reader = s.reader();
        let removed = reader
            .members()
            .into_iter()
            .find(|m| m.code.as_str() == "NEWBANK")
            .unwrap();
        assert_eq!(removed.status, MemberStatus::Removed);
        assert_eq!(
            reader.party(&party("NEWTRADER")).unwrap().sponsor,
            party("BANK")
        );

        let after = sign_as(
            &newbank,
            "newbank-admin",
            &mut net,
            t + 3_000,
            json!({"governance": {"action": "ONBOARD_PARTY", "code": "OTHER", "name": "Other"}}),
        )?;
        let block = apply(&mut s, t + 3_000, &[&after])?;
        assert_eq!(
            codes(&block),
            ["UNKNOWN_ISSUER"],
            "a removed member's CA is not trusted"
        );
        Ok(())
    }

    /// A member rotates its own CA with overlap: both roots verify until the old one is
    /// retired; the last CA cannot be retired; another member's admin cannot touch it.
    #[test]
    fn a_member_rotates_its_ca_with_overlap() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut s = net.state("s")?;
        let next = newcomer(&net, "CARRIER", "Silkline Shipping Line 2027", "CARRIER")?;
        let new_pem = root_pem(&next, "CARRIER")?;
        let old_pem = root_pem(&net.consortium, "CARRIER")?;
        let t = GENESIS_MS + 1_000;

        let add = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ADD_CA", "caCertificatePem": new_pem}),
        )?;
        let block = apply(&mut s, t, &[&add])?;
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        // Overlap: the old admin and the new CA's admin both act.
        let t = t + 1_000;
        let old_signs = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER1", "name": "Trader One"}),
        )?;
        let new_signs = sign_as(
            &next,
            "carrier-admin",
            &mut net,
            t,
            json!({"governance": {"action": "ONBOARD_PARTY", "code": "TRADER2", "name": "Trader Two"}}),
        )?;
        let by_other = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "RETIRE_CA", "fingerprint": fingerprint(&old_pem)}),
        )?;
        let block = apply(&mut s, t, &[&old_signs, &new_signs, &by_other])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED", "INVALID_MEMBER_CA"],
            "{:?}",
            block.transactions
        );

        let t = t + 1_000;
        let retire = sign_as(
            &next,
            "carrier-admin",
            &mut net,
            t,
            json!({"governance": {"action": "RETIRE_CA", "fingerprint": fingerprint(&old_pem)}}),
        )?;
        let block = apply(&mut s, t, &[&retire])?;
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let t = t + 1_000;
        let old_after = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER3", "name": "Trader Three"}),
        )?;
        let last = sign_as(
            &next,
            "carrier-admin",
            &mut net,
            t,
            json!({"governance": {"action": "RETIRE_CA", "fingerprint": fingerprint(&new_pem)}}),
        )?;
        let block = apply(&mut s, t, &[&old_after, &last])?;
        assert_eq!(
            codes(&block),
            ["UNKNOWN_ISSUER", "INVALID_MEMBER_CA"],
            "{:?}",
            block.transactions
        );
        Ok(())
    }

    /// Pause refuses document actions with their own code, governance goes on, resume restores.
    #[test]
    fn pause_refuses_document_actions_and_resume_restores_them() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut s = net.state("s")?;
        let t = GENESIS_MS + 1_000;
        let p = propose(&mut net, "carrier-admin", t, json!([{"type": "PAUSE"}]), 0)?;
        let block = apply(&mut s, t, &[&p])?;
        let id = proposal_id(&block);
        let v = vote(&mut net, "port-admin", t, &id, true)?;
        let paused_issue = issue(&mut net, t, ORDER)?;
        let block = apply(&mut s, t + 1_000, &[&v, &paused_issue])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "NETWORK_PAUSED"],
            "{:?}",
            block.transactions
        );
        assert!(s.reader().consortium().paused);

        let t = t + 2_000;
        let r = propose(&mut net, "bank-admin", t, json!([{"type": "RESUME"}]), 1)?;
        let block = apply(&mut s, t, &[&r])?;
        let id = proposal_id(&block);
        let v = vote(&mut net, "carrier-admin", t, &id, true)?;
        let resumed_issue = issue(&mut net, t, ORDER)?;
        let block = apply(&mut s, t + 1_000, &[&v, &resumed_issue])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        Ok(())
    }

    /// A workflow upgrade needs two thirds, activates at its height on every replica, and a
    /// document created before keeps its version's rules.
    #[test]
    fn a_workflow_upgrade_activates_at_its_height_and_older_documents_keep_their_rules()
    -> anyhow::Result<()> {
        let mut net = net()?;
        let mut a = net.state("a")?;
        let mut b = net.state("b")?;
        // Version 2: a bill can no longer be blank-endorsed.
        let mut definitions = serde_json::to_value(&net.genesis.workflow_definitions)?;
        for definition in definitions.as_array_mut().unwrap() {
            if let Some(transitions) = definition["transitions"].as_array_mut() {
                transitions.retain(|t| t["action"] != "BLANK_ENDORSE");
            }
        }
        let mut t = GENESIS_MS + 1_000;
        let mut log = Log::new();

        let old_bill = issue(&mut net, t, "OLD-1")?;
        let block = run(&mut a, &mut log, t, vec![old_bill]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        t += 1_000;
        // Height 2 now; activation at 2 + 10 (the default minimum) is too early for a proposal
        // made at height 3... and 20 is fine.
        let too_soon = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "UPGRADE_WORKFLOW", "definitions": definitions, "activateAt": 5}]),
            0,
        )?;
        let p = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "UPGRADE_WORKFLOW", "definitions": definitions, "activateAt": 20}]),
            0,
        )?;
        let block = run(&mut a, &mut log, t, vec![too_soon, p]);
        assert_eq!(
            codes(&block),
            ["INVALID_PROPOSAL", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        let id = block.transactions[1].tx_hash.to_string();
        t += 1_000;
        // Two of three (the proposer and PORT) is two thirds: accepted.
        let v = vote(&mut net, "port-admin", t, &id, true)?;
        let block = run(&mut a, &mut log, t, vec![v]);
        assert_eq!(codes(&block), ["COMMITTED"]);
        assert_eq!(state_of(&a, &id), ProposalState::Accepted);
        t += 1_000;
        // Before height 20 a new bill still runs under version 1.
        let early_bill = issue(&mut net, t, "EARLY-1")?;
        run(&mut a, &mut log, t, vec![early_bill]);
        while a.tip().height < 19 {
            t += 1_000;
            run(&mut a, &mut log, t, vec![]);
        }
        t += 1_000;
        let new_bill = issue(&mut net, t, "NEW-1")?;
        let block = run(&mut a, &mut log, t, vec![new_bill]);
        assert_eq!(block.header.height, 20);
        assert_eq!(codes(&block), ["COMMITTED"]);
        t += 1_000;
        let blank_old = net.doc_tx("shipper", t, "OLD-1", json!({"action": "BLANK_ENDORSE"}))?;
        let blank_early =
            net.doc_tx("shipper", t, "EARLY-1", json!({"action": "BLANK_ENDORSE"}))?;
        let blank_new = net.doc_tx("shipper", t, "NEW-1", json!({"action": "BLANK_ENDORSE"}))?;
        let block = run(&mut a, &mut log, t, vec![blank_old, blank_early, blank_new]);
        let got = codes(&block);
        assert_eq!(
            got[..2],
            ["COMMITTED", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        assert_ne!(
            got[2], "COMMITTED",
            "version 2 has no BLANK_ENDORSE: {:?}",
            block.transactions
        );

        // Replica b, from the same blocks, reaches the same state.
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash());
        assert_eq!(a.reader().consortium().workflows.len(), 2);
        Ok(())
    }

    /// Emergency revocations by majority: another member's CA (its users then chain to no
    /// member) and another member's node (down to the voter floor, never below).
    #[test]
    fn emergency_revocations_of_another_members_ca_and_node() -> anyhow::Result<()> {
        let mut net = net()?;
        let mut s = net.state("s")?;
        let t = GENESIS_MS + 1_000;
        let bank_ca = fingerprint(&root_pem(&net.consortium, "BANK")?);
        let p = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "REVOKE_MEMBER_CA", "code": "BANK", "fingerprint": bank_ca}]),
            0,
        )?;
        let block = apply(&mut s, t, &[&p])?;
        let id = proposal_id(&block);
        let v = vote(&mut net, "port-admin", t, &id, true)?;
        let bank_acts = net.gov_tx(
            "bank-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "TRADER9", "name": "Trader Nine"}),
        )?;
        let block = apply(&mut s, t + 1_000, &[&v, &bank_acts])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "UNKNOWN_ISSUER"],
            "{:?}",
            block.transactions
        );

        // The dev network's three nodes are the voter floor: revoking one cannot apply.
        let t = t + 2_000;
        let node = propose(
            &mut net,
            "carrier-admin",
            t,
            json!([{"type": "REVOKE_NODE", "raftId": 3}]),
            1,
        )?;
        let block = apply(&mut s, t, &[&node])?;
        assert_eq!(codes(&block), ["INVALID_PROPOSAL"]);
        assert!(format!("{:?}", block.transactions[0].outcome).contains("LAST_VOTER"));
        Ok(())
    }
}

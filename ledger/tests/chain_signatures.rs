//! Signatures at the door and at apply (`ledger::signatures`, pki/PROFILE.md): a block's Ed25519
//! signatures verified in one batch, the door's good signatures remembered by the same node,
//! and every replica reaching the same block whichever path decided each signature.
//! Test names live under `signatures::`.

use crate::chain_common;

mod signatures {
    use super::chain_common::*;
    use ledger::Outcome;
    use serde_json::json;

    /// `count` issues of distinct bills by the carrier, signed (Ed25519, one envelope each).
    fn issues(net: &mut Net, t: u64, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        (0..count)
            .map(|n| {
                let reference = format!("SLK-SIG-{n:03}");
                let mut content = fixture("straight-bill.json")?;
                content["transportDocumentReference"] = json!(reference);
                net.doc_tx(
                    "carrier",
                    t,
                    &reference,
                    json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
                )
            })
            .collect()
    }

    /// The envelope with one base64url character of its signature changed (a different,
    /// well-formed 64-byte signature).
    fn bad_signature(envelope: &[u8]) -> Vec<u8> {
        let mut bad = envelope.to_vec();
        let dot = bad.iter().rposition(|b| *b == b'.').unwrap();
        let i = dot + 10;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        bad
    }

    fn refusal(block: &ledger::Block, position: usize) -> (String, String) {
        match &block.transactions[position].outcome {
            Outcome::Refused { code, message, .. } => (code.clone(), message.clone()),
            other => panic!("position {position} committed: {other:?}"),
        }
    }

    #[test]
    fn signatures_a_bad_signature_in_a_batch_is_refused_alone_with_the_single_answer()
    -> anyhow::Result<()> {
        let mut net = net()?;
        let t = GENESIS_MS + 1_000;
        let mut envelopes = issues(&mut net, t, 12)?;
        envelopes[7] = bad_signature(&envelopes[7]);

        // The whole block: one batch, which fails, then each signature decided alone.
        let mut batched = net.state("a")?;
        let refs: Vec<&Vec<u8>> = envelopes.iter().collect();
        let block = apply(&mut batched, t, &refs)?;
        let c = codes(&block);
        assert_eq!(c[7], "BAD_SIGNATURE", "{c:?}");
        assert!(
            c.iter()
                .enumerate()
                .all(|(i, code)| i == 7 || code == "COMMITTED"),
            "{c:?}"
        );

        // The bad envelope alone (a block of one is verified singly): the same refusal, word
        // for word, since the outcome is part of the block hash.
        let mut single = net.state("b")?;
        let alone = apply(&mut single, t, &[&envelopes[7]])?;
        assert_eq!(refusal(&alone, 0), refusal(&block, 7));

        // The door says the same, by its strict rule.
        let door = net.state("c")?.reader().precheck(&envelopes[7], t)?;
        match door {
            Outcome::Refused { code, .. } => assert_eq!(code, "BAD_SIGNATURE"),
            other => panic!("the door accepted a bad signature: {other:?}"),
        }
        Ok(())
    }

    #[test]
    fn signatures_a_node_that_checked_some_at_its_door_reaches_the_same_blocks()
    -> anyhow::Result<()> {
        let mut net = net()?;
        let t = GENESIS_MS + 1_000;
        let mut envelopes = issues(&mut net, t, 9)?;
        envelopes[4] = bad_signature(&envelopes[4]);
        let refs: Vec<&Vec<u8>> = envelopes.iter().collect();

        // Replica "door" received some of the envelopes from clients (its precheck verified and
        // remembered their signatures); replica "other" received none.
        let mut door = net.state("door")?;
        let reader = door.reader();
        for envelope in envelopes.iter().step_by(2) {
            reader.precheck(envelope, t)?;
        }
        let mut other = net.state("other")?;
        let a = apply(&mut door, t, &refs)?;
        let b = apply(&mut other, t, &refs)?;
        assert_eq!(a.hash, b.hash, "{:?} vs {:?}", codes(&a), codes(&b));
        assert_eq!(codes(&a)[4], "BAD_SIGNATURE");
        assert_eq!(codes(&a).iter().filter(|c| *c == "COMMITTED").count(), 8);

        // A remembered signature vouches for its own envelope only: the same transaction with
        // another (bad) signature is still refused on the node that remembers the good one.
        let mut net2 = super::chain_common::net()?;
        let good = issues(&mut net2, t, 1)?.remove(0);
        let mut node = net2.state("n")?;
        node.reader().precheck(&good, t)?;
        let block = apply(&mut node, t, &[&bad_signature(&good), &good])?;
        assert_eq!(codes(&block), ["BAD_SIGNATURE", "COMMITTED"]);
        Ok(())
    }
}

//! Streamed snapshots of the document ledger (`ledger::stream`): a view read in small
//! chunks while blocks keep changing, creating and removing the keys it covers still yields
//! exactly the state at its index; the import on another store restores that state and both
//! continue identically; and an import that is incomplete, out of order, for another network,
//! or cut short by a crash is refused and leaves the live state as it was.

use crate::chain_common;

use chain_common::*;
use ledger::LedgerState;
use ledger::stream::Descriptor;
use replication::StateMachine as _;
use replication::stream::ChunkReader;
use serde_json::json;

/// Small chunks, so that a view of a few bills is read in many steps.
const CHUNK_BYTES: usize = 2 * 1024;

/// Issues `reference` to the shipper in a block of its own at `t`; returns the block's
/// transactions.
fn issue(
    net: &mut Net,
    state: &mut LedgerState,
    reference: &str,
    t: u64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut content = fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(reference);
    let tx = net.doc_tx(
        "carrier",
        t,
        reference,
        json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
    )?;
    let block = apply(state, t, &[&tx])?;
    assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
    Ok(vec![tx])
}

/// The shipper endorses `reference` to the bank, then the bank to the consignee: both write the
/// document, its history and its party indexes (and remove index keys).
fn endorse(
    net: &mut Net,
    state: &mut LedgerState,
    reference: &str,
    t: u64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let a = net.doc_tx(
        "shipper",
        t,
        reference,
        json!({"action": "ENDORSE_TO_ORDER", "to": "BANK"}),
    )?;
    let b = net.doc_tx(
        "bank",
        t,
        reference,
        json!({"action": "ENDORSE", "to": "CONSIGNEE"}),
    )?;
    let block = apply(state, t, &[&a, &b])?;
    assert_eq!(codes(&block), ["COMMITTED", "COMMITTED"]);
    Ok(vec![a, b])
}

/// What two states must agree on.
fn fingerprint(state: &LedgerState) -> anyhow::Result<(u64, ledger::Tip, String)> {
    Ok((
        state.applied_index(),
        state.tip(),
        state.reader().content_digest()?.to_string(),
    ))
}

/// Every chunk a reader still has.
fn read_rest(reader: &mut dyn ChunkReader) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk(CHUNK_BYTES).map_err(anyhow::Error::msg)? {
        assert!(!chunk.is_empty());
        chunks.push(chunk);
    }
    Ok(chunks)
}

fn import(state: &LedgerState, data: &[u8], chunks: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut importer = state
        .snapshot_streams()
        .importer(data)
        .map_err(anyhow::Error::msg)?;
    for chunk in chunks {
        importer.chunk(chunk).map_err(anyhow::Error::msg)?;
    }
    importer.finish().map_err(anyhow::Error::msg)
}

const T0: u64 = GENESIS_MS + 1_000;

#[test]
fn a_view_read_while_blocks_change_its_keys_is_the_state_at_its_index() -> anyhow::Result<()> {
    let mut net = net()?;
    let mut a = net.state("a")?;
    a.enable_streamed_snapshots();
    for (i, reference) in ["SLK-A1", "SLK-M1", "SLK-Z1"].iter().enumerate() {
        issue(&mut net, &mut a, reference, T0 + i as u64)?;
    }
    let snapshot = a.snapshot()?;
    assert!(
        Descriptor::decode(&snapshot.data).is_some(),
        "a streaming ledger's snapshot names a view"
    );
    assert_eq!(snapshot.applied_index, a.applied_index());
    let at_view = fingerprint(&a)?;
    let hash_at_view = a.state_hash();

    let streams = a.snapshot_streams();
    let mut reader = streams
        .reader(&snapshot.data)
        .expect("a descriptor")
        .map_err(anyhow::Error::msg)?;
    let mut chunks = vec![
        reader
            .next_chunk(CHUNK_BYTES)
            .map_err(anyhow::Error::msg)?
            .expect("a first chunk"),
    ];

    // Between chunks: documents before and after the reader's position change, new documents
    // (new keys on both sides) appear, and, hours later, the nonces of the first blocks
    // expire and are removed. `later` is every block applied after the view.
    let mut later = Vec::new();
    later.push((T0 + 10, endorse(&mut net, &mut a, "SLK-A1", T0 + 10)?));
    chunks.push(
        reader
            .next_chunk(CHUNK_BYTES)
            .map_err(anyhow::Error::msg)?
            .expect("a second chunk"),
    );
    later.push((T0 + 20, endorse(&mut net, &mut a, "SLK-Z1", T0 + 20)?));
    later.push((T0 + 30, issue(&mut net, &mut a, "SLK-B2", T0 + 30)?));
    later.push((T0 + 40, issue(&mut net, &mut a, "SLK-Y2", T0 + 40)?));
    let much_later = T0 + 3 * 3_600_000;
    later.push((much_later, issue(&mut net, &mut a, "SLK-N3", much_later)?));
    chunks.extend(read_rest(reader.as_mut())?);
    assert!(chunks.len() > 4, "{} chunks", chunks.len());
    assert_ne!(fingerprint(&a)?, at_view, "the live state moved on");

    let mut b = net.state("b")?;
    assert!(!b.can_restore(&snapshot.data), "nothing imported yet");
    import(&b, &snapshot.data, &chunks)?;
    assert!(b.can_restore(&snapshot.data));
    b.restore(&snapshot)?;
    assert_eq!(fingerprint(&b)?, at_view);
    assert_eq!(b.state_hash(), hash_at_view);
    assert!(!b.can_restore(&snapshot.data), "an import is used once");

    let reopened = {
        drop(b);
        net.reopen("b")?
    };
    assert_eq!(fingerprint(&reopened)?, at_view, "the switch is durable");

    // From the view, the same blocks bring the restored state to exactly a's.
    let mut b = reopened;
    for (t, txs) in &later {
        let refs: Vec<&Vec<u8>> = txs.iter().collect();
        apply(&mut b, *t, &refs)?;
    }
    assert_eq!(fingerprint(&b)?, fingerprint(&a)?);
    assert_eq!(b.state_hash(), a.state_hash());
    Ok(())
}

#[test]
fn a_closed_view_is_not_read_and_an_incomplete_import_is_not_restored() -> anyhow::Result<()> {
    let mut net = net()?;
    let mut a = net.state("a")?;
    a.enable_streamed_snapshots();
    issue(&mut net, &mut a, "SLK-A1", T0)?;
    issue(&mut net, &mut a, "SLK-B1", T0 + 1)?;
    let snapshot = a.snapshot()?;
    let chunks = read_rest(
        a.snapshot_streams()
            .reader(&snapshot.data)
            .expect("a descriptor")
            .map_err(anyhow::Error::msg)?
            .as_mut(),
    )?;

    // The replica replaced the stored snapshot by one without state: the view is closed.
    a.sync()?;
    assert!(
        a.snapshot_streams()
            .reader(&snapshot.data)
            .expect("a descriptor")
            .is_err()
    );

    let mut b = net.state("b")?;
    issue(&mut net, &mut b, "SLK-OWN", T0)?;
    let before = fingerprint(&b)?;
    let streams = b.snapshot_streams();

    // Cut short: not restorable, the live state untouched.
    let mut importer = streams
        .importer(&snapshot.data)
        .map_err(anyhow::Error::msg)?;
    importer.chunk(&chunks[0]).map_err(anyhow::Error::msg)?;
    drop(importer);
    assert!(!b.can_restore(&snapshot.data));
    let refused = b.restore(&snapshot).unwrap_err().to_string();
    assert!(refused.contains("not received completely"), "{refused}");
    assert_eq!(fingerprint(&b)?, before);

    // Out of order: refused.
    let mut importer = streams
        .importer(&snapshot.data)
        .map_err(anyhow::Error::msg)?;
    importer.chunk(&chunks[1]).map_err(anyhow::Error::msg)?;
    let refused = importer.chunk(&chunks[0]).unwrap_err();
    assert!(refused.contains("out of order"), "{refused}");
    drop(importer);

    // Missing its end: the applied index is not there, finishing refuses.
    let mut importer = streams
        .importer(&snapshot.data)
        .map_err(anyhow::Error::msg)?;
    importer.chunk(&chunks[0]).map_err(anyhow::Error::msg)?;
    assert!(importer.finish().is_err());
    assert!(!b.can_restore(&snapshot.data));

    // A crash in the middle of an import: reopening discards it.
    let mut importer = streams
        .importer(&snapshot.data)
        .map_err(anyhow::Error::msg)?;
    importer.chunk(&chunks[0]).map_err(anyhow::Error::msg)?;
    drop((importer, streams, b));
    let b = net.reopen("b")?;
    assert_eq!(fingerprint(&b)?, before);
    assert!(!b.can_restore(&snapshot.data));

    // A complete import survives a crash before its restore.
    import(&b, &snapshot.data, &chunks)?;
    drop(b);
    let mut b = net.reopen("b")?;
    assert_eq!(fingerprint(&b)?, before, "not restored yet");
    assert!(b.can_restore(&snapshot.data));
    b.restore(&snapshot)?;
    assert_eq!(b.applied_index(), snapshot.applied_index);
    assert_eq!(b.state_hash(), a.state_hash());

    // Another network's store takes none of it.
    // (A fresh consortium: other CAs, so another genesis hash.)
    let other = chain_common::net()?;
    assert_ne!(other.genesis.genesis_hash(), net.genesis.genesis_hash());
    let foreign = other.state("foreign")?;
    assert!(foreign.snapshot_streams().importer(&snapshot.data).is_err());
    Ok(())
}

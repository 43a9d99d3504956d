//! Bills crossing to and from other eBL platforms (DCSA PINT 3.0) on the apply path: trusting a
//! platform by vote, `PINT_SEND` / `PINT_DISPATCH` / `PINT_RECEIPT` for a bill leaving, and
//! `PINT_IMPORT` for one arriving, as signed transactions in blocks, checked on the state, on a
//! second replica and after a reopen. The other platforms are `pint::testkit`'s: pinned ES256
//! certificates trusted by `TRUST_PLATFORM`, envelopes built with `pint::build_*`.

use crate::chain_common::*;
use doc_workflow::{DocumentId, DocumentKey, DocumentRef, EventKind, Status};
use ledger::LedgerState;
use ledger::records::ExportStage;
use pint::testkit::{self, Identity, World};
use pint::{EnvelopeTransferFinishedResponse, Party, ResponseCode};
use serde_json::{Value, json};

/// This network's platform code (the testkit's "here").
const HERE: &str = testkit::HERE;
/// The platform bills leave for, and the one the testkit's envelopes come from.
const WAVE: &str = testkit::SENDER_PLATFORM;
/// The testkit carrier's platform.
const BOLE: &str = testkit::CARRIER_PLATFORM;
const ORDER: &str = "SLK-ORDER-001";
const DAY_MS: u64 = 24 * HOUR_MS;

/// A dev net whose genesis names this network's platform code.
fn pint_net() -> anyhow::Result<Net> {
    let mut net = net()?;
    net.genesis.platform = Some(HERE.to_owned());
    Ok(net)
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

fn pem(der: &[u8]) -> String {
    pki::pem::certificate_pem(der)
}

fn fingerprint(der: &[u8]) -> String {
    hex::encode(ledger::sha256(der))
}

fn trust_action(code: &str, certificates: &[&str]) -> Value {
    json!({"type": "TRUST_PLATFORM", "code": code, "name": format!("{code} eBL platform"),
           "url": format!("https://pint.{}.example/", code.to_lowercase()),
           "certificates": certificates})
}

fn propose(net: &mut Net, s: &LedgerState, t: u64, actions: Value) -> anyhow::Result<Vec<u8>> {
    let base = s.reader().consortium().version;
    net.gov_tx(
        "carrier-admin",
        t,
        json!({"action": "PROPOSE", "actions": actions, "description": "pint test",
               "baseConfigVersion": base, "expiresAt": t + DAY_MS}),
    )
}

/// Proposes `actions` (CARRIER) and approves them (BANK): 2 of 3. Returns the next time.
fn by_vote(
    net: &mut Net,
    s: &mut LedgerState,
    log: &mut Log,
    t: u64,
    actions: Value,
) -> anyhow::Result<u64> {
    let p = propose(net, s, t, actions)?;
    let block = run(s, log, t, vec![p]);
    assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
    let id = block.transactions[0].tx_hash.to_string();
    let v = net.gov_tx(
        "bank-admin",
        t + 1_000,
        json!({"action": "VOTE", "proposal": id, "approve": true}),
    )?;
    let block = run(s, log, t + 1_000, vec![v]);
    assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
    let id = ledger::Hash32::from_hex(&id)?;
    assert_eq!(
        s.reader().proposal(&id)?.expect("proposal").state,
        ledger::consortium::ProposalState::Accepted
    );
    Ok(t + 2_000)
}

/// A signed PINT transaction by `who`.
fn pint_tx(net: &mut Net, who: &str, t: u64, body: Value) -> anyhow::Result<Vec<u8>> {
    let p = net.payload(t, json!({ "pint": body }));
    net.sign(who, &p)
}

fn doc(reference: &str) -> Value {
    json!({"carrier": "CARRIER", "reference": reference})
}

fn buyer() -> Party {
    testkit::party(WAVE, "BUYER", "Buyer on WAVE")
}

fn send_body(reference: &str, platform: &str, action: &str, recipient: &Party) -> Value {
    json!({"action": "SEND", "document": doc(reference), "platform": platform,
           "actionCode": action, "recipient": recipient})
}

fn issue(net: &mut Net, t: u64, reference: &str) -> anyhow::Result<Vec<u8>> {
    let mut content = fixture("to-order-bill.json")?;
    content["transportDocumentReference"] = json!(reference);
    net.doc_tx(
        "carrier",
        t,
        reference,
        json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
    )
}

/// A party of this platform as its nodes name it in a chain entry.
fn here(code: &str) -> Party {
    testkit::party(HERE, code, code)
}

fn transaction(
    action: &str,
    actor: Party,
    recipient: Option<Party>,
    time_ms: u64,
) -> pint::Transaction {
    pint::Transaction {
        action_code: action.to_owned(),
        actor,
        recipient,
        action_date_time: pint::action_date_time(time_ms as i64),
        reason_code: None,
        comments: None,
        audit_reference: None,
        action: None,
    }
}

/// The signer of a node of this network (its certificate chain in `x5c`), as the node signs.
fn node_signer(net: &Net, node: &str) -> anyhow::Result<pint::Signer> {
    let id = net.consortium.identity(node).expect("node identity");
    let key = std::fs::read_to_string(net.consortium.path(&id.key))?;
    let chain = std::fs::read_to_string(net.consortium.path(&id.cert))?;
    Ok(pint::Signer::from_pem(&key, &chain)?)
}

/// The entry and manifest for a bill issued here to SHIPPER and sent by SHIPPER, as
/// `build_dispatch` (node/src/pint_node.rs) makes them: the bill's history here (its ISSUE),
/// then the requested transfer.
fn dispatch_of(
    net: &Net,
    s: &LedgerState,
    key: &DocumentKey,
    last: pint::Transaction,
) -> anyhow::Result<(String, String)> {
    dispatch_with(net, s, key, vec![last])
}

/// As [`dispatch_of`], with the bill's transactions here after its ISSUE and the transfer.
fn dispatch_with(
    net: &Net,
    s: &LedgerState,
    key: &DocumentKey,
    after_issue: Vec<pint::Transaction>,
) -> anyhow::Result<(String, String)> {
    dispatch_listing(net, s, key, after_issue, &[])
}

/// As [`dispatch_with`], the manifest listing `documents` as supporting documents.
fn dispatch_listing(
    net: &Net,
    s: &LedgerState,
    key: &DocumentKey,
    after_issue: Vec<pint::Transaction>,
    documents: &[pint::DocumentMetadata],
) -> anyhow::Result<(String, String)> {
    let signer = node_signer(net, "node1")?;
    let state = s.reader().document(key)?.expect("bill");
    let content = state.content.expect("content");
    let document = content.json();
    let history = s.reader().history(key, None, 100)?;
    let issued_ms = history[0].time_ms;
    let manifest = pint::sign_issuance_manifest(&signer, &document, &here("SHIPPER"), None)?;
    let entry = pint::build_entry(
        &signer,
        HERE,
        &content.sha256,
        None,
        Some(&manifest),
        &[
            vec![transaction(
                "ISSUE",
                here("CARRIER"),
                Some(here("SHIPPER")),
                issued_ms,
            )],
            after_issue,
        ]
        .concat(),
    )?;
    let envelope: pint::EblEnvelope = serde_json::from_slice(&pint::build_envelope(
        &signer,
        &document,
        std::slice::from_ref(&entry),
        None,
        documents,
    )?)?;
    Ok((entry, envelope.envelope_manifest_signed_content))
}

fn answer(by: &Identity, entry: &str, code: ResponseCode) -> anyhow::Result<String> {
    Ok(pint::sign_response(
        &by.signer,
        &EnvelopeTransferFinishedResponse {
            last_envelope_transfer_chain_entry_signed_content_checksum:
                pint::signed_content_checksum(entry),
            response_code: code,
            duplicate_of_accepted_envelope_transfer_chain_entry_signed_content: None,
            reason: (code != ResponseCode::Rece).then(|| "refused by the test".to_owned()),
            missing_additional_document_checksums: None,
            received_additional_document_checksums: None,
        },
    )?)
}

/// The checksum `SLK-ORDER-001`'s chain is kept under: its content's.
fn order_checksum(reader: &ledger::LedgerReader) -> anyhow::Result<String> {
    Ok(reader
        .document(&bill_key(ORDER))?
        .and_then(|d| d.content)
        .map(|c| c.sha256)
        .expect("the bill has content"))
}

fn export_stage(s: &LedgerState, reference: &str) -> Option<ExportStage> {
    s.reader()
        .pint_export(&bill_key(reference))
        .unwrap()
        .map(|e| e.stage)
}

mod trust {
    use super::*;

    fn refused_proposal(
        net: &mut Net,
        s: &mut LedgerState,
        log: &mut Log,
        t: u64,
        action: Value,
        why: &str,
    ) -> anyhow::Result<()> {
        let p = propose(net, s, t, json!([action]))?;
        let block = run(s, log, t, vec![p]);
        assert_eq!(codes(&block), ["INVALID_PROPOSAL"], "{why}");
        let outcome = format!("{:?}", block.transactions[0].outcome);
        assert!(outcome.contains("TRUST_PLATFORM"), "{why}: {outcome}");
        Ok(())
    }

    /// A platform trusted by vote with two certificates; refused at PROPOSE for a bad code,
    /// this network's own code, a bad URL, a PEM that is not one certificate, a certificate
    /// twice; one certificate distrusted by fingerprint, then the platform; a second replica
    /// and a reopened store agree.
    #[test]
    fn a_platform_is_trusted_and_distrusted_by_vote() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let mut t = GENESIS_MS + 1_000;
        let one = testkit::pinned_es256("wave-1");
        let two = testkit::pinned_es256("wave-2");
        let (pem1, pem2) = (pem(&one.trust_der), pem(&two.trust_der));

        for (action, why) in [
            (trust_action("wave", &[pem1.as_str()]), "lower case code"),
            (trust_action("WAV", &[pem1.as_str()]), "three characters"),
            (trust_action("WAVE1", &[pem1.as_str()]), "five characters"),
            (trust_action("WA-E", &[pem1.as_str()]), "a dash"),
            (
                trust_action(HERE, &[pem1.as_str()]),
                "this network's own code",
            ),
            (
                json!({"type": "TRUST_PLATFORM", "code": WAVE, "name": "Wave",
                       "url": "ftp://pint.wave.example", "certificates": [pem1]}),
                "not http(s)",
            ),
            (
                json!({"type": "TRUST_PLATFORM", "code": WAVE, "name": "Wave",
                       "url": "https://pint.wave.example/?x=1", "certificates": [pem1]}),
                "a query",
            ),
            (
                json!({"type": "TRUST_PLATFORM", "code": WAVE, "name": "Wave",
                       "url": "https://pint wave.example", "certificates": [pem1]}),
                "a space",
            ),
            (trust_action(WAVE, &["not a certificate"]), "no PEM"),
            (
                trust_action(WAVE, &[format!("{pem1}{pem2}").as_str()]),
                "two certificates in one entry",
            ),
            (
                trust_action(WAVE, &[pem1.as_str(), pem1.as_str()]),
                "one certificate twice",
            ),
            (trust_action(WAVE, &[]), "no certificate"),
        ] {
            refused_proposal(&mut net, &mut a, &mut log, t, action, why)?;
            t += 1_000;
        }
        assert!(a.reader().consortium().platforms.is_empty());

        t = by_vote(
            &mut net,
            &mut a,
            &mut log,
            t,
            json!([trust_action(WAVE, &[pem1.as_str(), pem2.as_str()])]),
        )?;
        let platforms = a.reader().consortium().platforms.clone();
        let wave = &platforms[WAVE];
        assert_eq!(wave.name, "WAVE eBL platform");
        assert_eq!(
            wave.url, "https://pint.wave.example",
            "the trailing / is dropped"
        );
        assert_eq!(wave.certificates, [pem1.clone(), pem2.clone()]);
        assert!(a.reader().pint_trusted_platforms().is_trusted(WAVE));

        // A certificate the platform already has is refused when proposed again.
        refused_proposal(
            &mut net,
            &mut a,
            &mut log,
            t,
            trust_action(WAVE, &[pem2.as_str()]),
            "already trusted",
        )?;
        t += 1_000;

        // One certificate distrusted by its fingerprint: the other stays.
        t = by_vote(
            &mut net,
            &mut a,
            &mut log,
            t,
            json!([{"type": "DISTRUST_PLATFORM", "code": WAVE,
                    "fingerprint": fingerprint(&one.trust_der)}]),
        )?;
        assert_eq!(
            a.reader().consortium().platforms[WAVE].certificates,
            std::slice::from_ref(&pem2)
        );
        // Its last certificate is not distrusted alone, nor a platform not trusted.
        for action in [
            json!({"type": "DISTRUST_PLATFORM", "code": WAVE,
                   "fingerprint": fingerprint(&two.trust_der)}),
            json!({"type": "DISTRUST_PLATFORM", "code": BOLE}),
        ] {
            let p = propose(&mut net, &a, t, json!([action]))?;
            let block = run(&mut a, &mut log, t, vec![p]);
            assert_eq!(codes(&block), ["INVALID_PROPOSAL"]);
            assert!(format!("{:?}", block.transactions[0].outcome).contains("DISTRUST_PLATFORM"));
            t += 1_000;
        }

        // Replica b agrees on the platform.
        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(
            b.reader().consortium().platforms,
            a.reader().consortium().platforms
        );

        // The whole platform distrusted.
        by_vote(
            &mut net,
            &mut a,
            &mut log,
            t,
            json!([{"type": "DISTRUST_PLATFORM", "code": WAVE}]),
        )?;
        assert!(a.reader().consortium().platforms.is_empty());
        assert!(!a.reader().pint_trusted_platforms().is_trusted(WAVE));
        drop(a);
        let a = net.reopen("a")?;
        assert!(a.reader().consortium().platforms.is_empty());
        Ok(())
    }

    /// `ABCD:xyz` names a party of another platform: no member onboards it.
    #[test]
    fn a_foreign_party_code_is_reserved() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let reserved = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "WAVE:xyz", "name": "Not ours"}),
        )?;
        let digits = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "AB12:SHIPPER", "name": "Not ours"}),
        )?;
        // Not of that form: a code with a colon elsewhere is a local party.
        let local = net.gov_tx(
            "carrier-admin",
            t,
            json!({"action": "ONBOARD_PARTY", "code": "LEI:5493001KJTIIGC8Y1R12", "name": "Ours"}),
        )?;
        let block = apply(&mut a, t, &[&reserved, &digits, &local])?;
        assert_eq!(
            codes(&block),
            ["RESERVED_PARTY_CODE", "RESERVED_PARTY_CODE", "COMMITTED"]
        );
        assert!(a.reader().party(&party("WAVE:xyz")).is_none());
        Ok(())
    }
}

mod leaving {
    use super::*;

    /// A net trusting WAVE (`wave` signs its answers) with ORDER issued to SHIPPER; the next time.
    fn setup(
        net: &mut Net,
        a: &mut LedgerState,
        log: &mut Log,
        wave: &Identity,
        references: &[&str],
    ) -> anyhow::Result<u64> {
        let t = GENESIS_MS + 1_000;
        let t = by_vote(
            net,
            a,
            log,
            t,
            json!([trust_action(WAVE, &[pem(&wave.trust_der).as_str()])]),
        )?;
        let issues = references
            .iter()
            .map(|r| issue(net, t, r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let block = run(a, log, t, issues);
        assert!(
            codes(&block).iter().all(|c| c == "COMMITTED"),
            "{:?}",
            block.transactions
        );
        Ok(t + 1_000)
    }

    /// A send with two supporting documents keeps their bytes on the ledger, by checksum, for
    /// whichever node delivers; the dispatch's manifest must list them as sent; the answer
    /// removes them. Refused: a set over `PINT_DOCUMENTS_BYTES_MAX`, content that is not base64,
    /// an empty document, one sent twice, a media type that is none.
    #[test]
    fn supporting_documents_travel_in_the_send() -> anyhow::Result<()> {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;
        let packing = b"%PDF-1.7 packing list".to_vec();
        let invoice = br#"{"invoice": 42}"#.to_vec();
        let with = |documents: Value| {
            let mut body = send_body(ORDER, WAVE, "TRANSFER", &buyer());
            body["documents"] = documents;
            body
        };
        let doc_json = |name: &str, media: &str, bytes: &[u8]| json!({"name": name, "mediaType": media, "content": b64(bytes)});
        let too_large = vec![7u8; ledger::tx::PINT_DOCUMENTS_BYTES_MAX + 1];
        let refused = vec![
            pint_tx(
                &mut net,
                "shipper",
                t,
                with(json!([doc_json(
                    "big.bin",
                    "application/octet-stream",
                    &too_large
                )])),
            )?,
            pint_tx(
                &mut net,
                "shipper",
                t,
                with(
                    json!([{"name": "x.pdf", "mediaType": "application/pdf", "content": "not base64!"}]),
                ),
            )?,
            pint_tx(
                &mut net,
                "shipper",
                t,
                with(json!([doc_json("empty.pdf", "application/pdf", b"")])),
            )?,
            pint_tx(
                &mut net,
                "shipper",
                t,
                with(json!([
                    doc_json("a.pdf", "application/pdf", &packing),
                    doc_json("b.pdf", "application/pdf", &packing)
                ])),
            )?,
            pint_tx(
                &mut net,
                "shipper",
                t,
                with(json!([doc_json("a.pdf", "pdf", &packing)])),
            )?,
        ];
        let block = run(&mut a, &mut log, t, refused);
        assert_eq!(
            codes(&block),
            [
                "PINT_DOCUMENTS_TOO_LARGE",
                "PINT_INVALID_DOCUMENTS",
                "PINT_INVALID_DOCUMENTS",
                "PINT_INVALID_DOCUMENTS",
                "PINT_INVALID_DOCUMENTS",
            ],
            "{:?}",
            block.transactions
        );
        assert!(
            format!("{:?}", block.transactions[0].outcome).contains("PINT_DOCUMENTS_BYTES_MAX")
        );
        assert_eq!(export_stage(&a, ORDER), None, "nothing was sent");
        t += 1_000;

        let send = pint_tx(
            &mut net,
            "shipper",
            t,
            with(json!([
                doc_json("packing-list.pdf", "application/pdf", &packing),
                doc_json("invoice.json", "application/json", &invoice)
            ])),
        )?;
        assert_eq!(codes(&run(&mut a, &mut log, t, vec![send])), ["COMMITTED"]);
        let requested_ms = t;
        t += 1_000;
        let export = a.reader().pint_export(&bill_key(ORDER))?.expect("export");
        let expected = vec![
            pint::document_metadata("packing-list.pdf", "application/pdf", &packing),
            pint::document_metadata("invoice.json", "application/json", &invoice),
        ];
        assert_eq!(export.documents, expected);
        for (metadata, bytes) in expected.iter().zip([&packing, &invoice]) {
            assert_eq!(
                a.reader()
                    .pint_outgoing_document(&bill_key(ORDER), &metadata.document_checksum)?
                    .as_ref(),
                Some(bytes)
            );
        }

        // The manifest lists the documents as sent, or the dispatch is refused.
        let last = || transaction("TRANSFER", here("SHIPPER"), Some(buyer()), requested_ms);
        let (entry, unlisted) = dispatch_listing(&net, &a, &bill_key(ORDER), vec![last()], &[])?;
        let (_, one) = dispatch_listing(&net, &a, &bill_key(ORDER), vec![last()], &expected[..1])?;
        let (listed_entry, listed) =
            dispatch_listing(&net, &a, &bill_key(ORDER), vec![last()], &expected)?;
        assert_eq!(entry, listed_entry, "node signatures are deterministic");
        let dispatch = |manifest: &str| json!({"action": "DISPATCH", "document": doc(ORDER), "entry": entry, "manifest": manifest});
        let txs = vec![
            pint_tx(&mut net, "node1", t, dispatch(&unlisted))?,
            pint_tx(&mut net, "node1", t, dispatch(&one))?,
            pint_tx(&mut net, "node1", t, dispatch(&listed))?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            ["PINT_INVALID_ENTRY", "PINT_INVALID_ENTRY", "COMMITTED"],
            "{:?}",
            block.transactions
        );
        t += 1_000;

        // A replica agrees before the answer, documents included.
        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        assert_eq!(
            b.reader()
                .pint_outgoing_document(&bill_key(ORDER), &expected[1].document_checksum)?,
            Some(invoice.clone())
        );

        let rece = answer(&wave, &entry, ResponseCode::Rece)?;
        let receipt = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "RECEIPT", "document": doc(ORDER), "response": rece}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![receipt])),
            ["COMMITTED"]
        );
        assert_eq!(export_stage(&a, ORDER), Some(ExportStage::Delivered));
        for metadata in &expected {
            assert_eq!(
                a.reader()
                    .pint_outgoing_document(&bill_key(ORDER), &metadata.document_checksum)?,
                None,
                "the answer removes the documents"
            );
        }
        Ok(())
    }

    #[test]
    fn pint_is_refused_without_a_platform_code() -> anyhow::Result<()> {
        let mut net = net()?;
        assert!(net.genesis.platform.is_none());
        let mut a = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let i = issue(&mut net, t, ORDER)?;
        let send = pint_tx(
            &mut net,
            "shipper",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        let world = World::new();
        let import = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "IMPORT",
                   "envelope": serde_json::from_slice::<Value>(&world.envelope(&world.chain()))?}),
        )?;
        let block = apply(&mut a, t, &[&i, &send, &import])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED", "PINT_NOT_ENABLED", "PINT_NOT_ENABLED"]
        );
        assert_eq!(export_stage(&a, ORDER), None);
        Ok(())
    }

    /// Who may send, to whom, how; then the bill is held: no local action, no second send.
    #[test]
    fn only_the_possessor_sends_and_the_bill_is_then_held() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;

        let refused = vec![
            // BANK never was a party to the bill: it does not exist for it.
            pint_tx(
                &mut net,
                "bank",
                t,
                send_body(ORDER, WAVE, "TRANSFER", &buyer()),
            )?,
            // BOLE is not trusted.
            pint_tx(
                &mut net,
                "shipper",
                t,
                send_body(ORDER, BOLE, "TRANSFER", &testkit::party(BOLE, "X", "X")),
            )?,
            // The carrier is a party to it but not its possessor.
            pint_tx(
                &mut net,
                "carrier",
                t,
                send_body(ORDER, WAVE, "TRANSFER", &buyer()),
            )?,
            // Not a PINT action code; one that does not hand a bill over.
            pint_tx(
                &mut net,
                "shipper",
                t,
                send_body(ORDER, WAVE, "GIVE", &buyer()),
            )?,
            pint_tx(
                &mut net,
                "shipper",
                t,
                send_body(ORDER, WAVE, "SIGN", &buyer()),
            )?,
            // A surrender of a bill issued here goes to CARRIER, not to a party on WAVE.
            pint_tx(
                &mut net,
                "shipper",
                t,
                send_body(ORDER, WAVE, "SURRENDER_FOR_DELIVERY", &buyer()),
            )?,
            // A recipient of another platform than the one named.
            pint_tx(
                &mut net,
                "shipper",
                t,
                send_body(ORDER, WAVE, "TRANSFER", &testkit::party(BOLE, "X", "X")),
            )?,
            // A node does not sign a SEND.
            pint_tx(
                &mut net,
                "node1",
                t,
                send_body(ORDER, WAVE, "TRANSFER", &buyer()),
            )?,
        ];
        let block = run(&mut a, &mut log, t, refused);
        assert_eq!(
            codes(&block),
            [
                "DOCUMENT_NOT_FOUND",
                "PINT_UNKNOWN_PLATFORM",
                "PINT_NOT_POSSESSOR",
                "PINT_INVALID_ACTION",
                "PINT_INVALID_ACTION",
                "PINT_SURRENDER_NOT_TO_ISSUER",
                "PINT_INVALID_RECIPIENT",
                "WRONG_CERTIFICATE_KIND",
            ],
            "{:?}",
            block.transactions
        );
        assert_eq!(export_stage(&a, ORDER), None);
        t += 1_000;

        // ENDORSE by a possessor that is not an endorsee who may endorse: SHIPPER endorses
        // to CONSIGNEE (who may not endorse further) here first.
        let endorse = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE", "to": "CONSIGNEE"}),
        )?;
        let across = pint_tx(
            &mut net,
            "consignee",
            t,
            send_body(ORDER, WAVE, "ENDORSE", &buyer()),
        )?;
        let block = run(&mut a, &mut log, t, vec![endorse, across]);
        assert_eq!(codes(&block), ["COMMITTED", "PINT_INVALID_ACTION"]);
        t += 1_000;

        // The possessor sends it.
        let send = pint_tx(
            &mut net,
            "consignee",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        let block = run(&mut a, &mut log, t, vec![send]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let export = a
            .reader()
            .pint_export(&bill_key(ORDER))?
            .expect("an export");
        assert_eq!(export.stage, ExportStage::Requested);
        assert_eq!(export.platform, WAVE);
        assert_eq!(export.action_code, "TRANSFER");
        assert_eq!(export.recipient_code.as_str(), "WAVE:BUYER");
        assert_eq!(export.sender.as_str(), "CONSIGNEE");
        assert_eq!(export.member.as_str(), "CARRIER");
        let outbox = a.reader().pint_outbox(10)?;
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].0, bill_key(ORDER));
        t += 1_000;

        // From that block the bill is held by WAVE: nothing is done with it here.
        let transfer = net.doc_tx(
            "consignee",
            t,
            ORDER,
            json!({"action": "SURRENDER_FOR_DELIVERY"}),
        )?;
        let again = pint_tx(
            &mut net,
            "consignee",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        // BANK never was a party to it: it is not told where the bill went.
        let stranger = net.doc_tx(
            "bank",
            t,
            ORDER,
            json!({"action": "SURRENDER_FOR_DELIVERY"}),
        )?;
        let block = run(&mut a, &mut log, t, vec![transfer, again, stranger]);
        assert_eq!(
            codes(&block),
            [
                "HELD_ON_OTHER_PLATFORM",
                "HELD_ON_OTHER_PLATFORM",
                "DOCUMENT_NOT_FOUND"
            ]
        );

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        Ok(())
    }

    /// DISPATCH and RECEIPT are a node's of the sender's member; the entry must end with the
    /// requested transfer; a `RECE` signed by WAVE delivers the bill (possessor `WAVE:BUYER`),
    /// an answer signed by a key WAVE does not have is refused.
    #[test]
    fn a_signed_receipt_delivers_the_bill() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;
        let send = pint_tx(
            &mut net,
            "shipper",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        assert_eq!(codes(&run(&mut a, &mut log, t, vec![send])), ["COMMITTED"]);
        let requested_ms = t;
        t += 1_000;

        // A receipt before the envelope is fixed.
        let (entry, manifest) = dispatch_of(
            &net,
            &a,
            &bill_key(ORDER),
            transaction("TRANSFER", here("SHIPPER"), Some(buyer()), requested_ms),
        )?;
        let rece = answer(&wave, &entry, ResponseCode::Rece)?;
        let early = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "RECEIPT", "document": doc(ORDER), "response": rece}),
        )?;
        // Entries that do not end with the requested transfer.
        let (to_other, to_other_manifest) = dispatch_of(
            &net,
            &a,
            &bill_key(ORDER),
            transaction(
                "TRANSFER",
                here("SHIPPER"),
                Some(testkit::party(WAVE, "OTHER", "Other")),
                requested_ms,
            ),
        )?;
        let (endorse, endorse_manifest) = dispatch_of(
            &net,
            &a,
            &bill_key(ORDER),
            transaction("ENDORSE", here("SHIPPER"), Some(buyer()), requested_ms),
        )?;
        let dispatch = |entry: &str, manifest: &str| json!({"action": "DISPATCH", "document": doc(ORDER), "entry": entry, "manifest": manifest});
        let txs = vec![
            early,
            // node2 is PORT's: not the sending member's.
            pint_tx(&mut net, "node2", t, dispatch(&entry, &manifest))?,
            // A user does not sign a DISPATCH.
            pint_tx(&mut net, "shipper", t, dispatch(&entry, &manifest))?,
            pint_tx(
                &mut net,
                "node1",
                t,
                dispatch(&to_other, &to_other_manifest),
            )?,
            pint_tx(&mut net, "node1", t, dispatch(&endorse, &endorse_manifest))?,
            // A manifest that names another entry.
            pint_tx(&mut net, "node1", t, dispatch(&entry, &to_other_manifest))?,
            pint_tx(&mut net, "node1", t, dispatch("not.a.jws", &manifest))?,
            pint_tx(&mut net, "node1", t, dispatch(&entry, &manifest))?,
            pint_tx(&mut net, "node1", t, dispatch(&entry, &manifest))?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            [
                "PINT_NO_TRANSFER",
                "PINT_NOT_SENDING_MEMBER",
                "WRONG_CERTIFICATE_KIND",
                "PINT_INVALID_ENTRY",
                "PINT_INVALID_ENTRY",
                "PINT_INVALID_ENTRY",
                "PINT_INVALID_ENTRY",
                "COMMITTED",
                "PINT_ALREADY_DISPATCHED",
            ],
            "{:?}",
            block.transactions
        );
        let export = a.reader().pint_export(&bill_key(ORDER))?.expect("export");
        assert_eq!(export.stage, ExportStage::Dispatched);
        assert_eq!(export.entry.as_deref(), Some(entry.as_str()));
        assert_eq!(export.manifest.as_deref(), Some(manifest.as_str()));
        t += 1_000;

        let impostor = testkit::pinned_es256("wave-impostor");
        let receipt = |response: &str| json!({"action": "RECEIPT", "document": doc(ORDER), "response": response});
        let txs = vec![
            pint_tx(&mut net, "node2", t, receipt(&rece))?,
            pint_tx(&mut net, "shipper", t, receipt(&rece))?,
            // Signed by a key WAVE was never trusted with.
            pint_tx(
                &mut net,
                "node1",
                t,
                receipt(&answer(&impostor, &entry, ResponseCode::Rece)?),
            )?,
            // About another entry.
            pint_tx(
                &mut net,
                "node1",
                t,
                receipt(&answer(&wave, &to_other, ResponseCode::Rece)?),
            )?,
            // INCD leaves the transfer open: not recorded.
            pint_tx(
                &mut net,
                "node1",
                t,
                receipt(&answer(&wave, &entry, ResponseCode::Incd)?),
            )?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            [
                "PINT_NOT_SENDING_MEMBER",
                "WRONG_CERTIFICATE_KIND",
                "PINT_JWS_UNTRUSTED_KEY",
                "PINT_RESPONSE_OTHER_ENTRY",
                "PINT_TRANSFER_OPEN",
            ],
            "{:?}",
            block.transactions
        );
        assert_eq!(export_stage(&a, ORDER), Some(ExportStage::Dispatched));
        t += 1_000;

        let block = run(
            &mut a,
            &mut log,
            t,
            vec![pint_tx(&mut net, "node1", t, receipt(&rece))?],
        );
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let check = |s: &LedgerState| -> anyhow::Result<()> {
            let reader = s.reader();
            let export = reader.pint_export(&bill_key(ORDER))?.expect("export");
            assert_eq!(export.stage, ExportStage::Delivered);
            assert_eq!(export.response_code.as_deref(), Some("RECE"));
            let state = reader.document(&bill_key(ORDER))?.expect("bill");
            assert_eq!(state.possessor, Some(party("WAVE:BUYER")));
            let history = reader.history(&bill_key(ORDER), None, 100)?;
            let last = history.last().expect("history");
            assert_eq!(last.recipient, Some(party("WAVE:BUYER")));
            assert!(
                matches!(&last.event.kind, EventKind::SentToPlatform { platform, response_code, .. }
                    if platform == WAVE && response_code == "RECE"),
                "{:?}",
                last.event.kind
            );
            // The chain as WAVE accepted it, for the bill's return; the outbox is empty.
            let chain = reader
                .pint_chain(&order_checksum(&reader)?)?
                .expect("chain");
            assert_eq!(chain.entries, std::slice::from_ref(&entry));
            assert_eq!(chain.document, bill_key(ORDER));
            assert!(reader.pint_outbox(10)?.is_empty());
            Ok(())
        };
        check(&a)?;
        t += 1_000;

        // Delivered: still held; a second receipt finds nothing to answer.
        let txs = vec![
            net.doc_tx(
                "shipper",
                t,
                ORDER,
                json!({"action": "ENDORSE", "to": "CONSIGNEE"}),
            )?,
            pint_tx(&mut net, "node1", t, receipt(&rece))?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            ["HELD_ON_OTHER_PLATFORM", "PINT_NO_TRANSFER"]
        );

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        check(&b)?;
        drop(a);
        let a = net.reopen("a")?;
        check(&a)?;
        Ok(())
    }

    /// A signed BENV returns the bill: the export is RETURNED, the bill is its sender's
    /// again and usable here (a TRANSFER commits), and it may be sent again.
    #[test]
    fn a_signed_refusal_returns_the_bill() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;
        let send = pint_tx(
            &mut net,
            "shipper",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        assert_eq!(codes(&run(&mut a, &mut log, t, vec![send])), ["COMMITTED"]);
        let requested_ms = t;
        t += 1_000;
        let (entry, manifest) = dispatch_of(
            &net,
            &a,
            &bill_key(ORDER),
            transaction("TRANSFER", here("SHIPPER"), Some(buyer()), requested_ms),
        )?;
        let dispatch = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "DISPATCH", "document": doc(ORDER), "entry": entry, "manifest": manifest}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![dispatch])),
            ["COMMITTED"]
        );
        t += 1_000;

        let benv = answer(&wave, &entry, ResponseCode::Benv)?;
        let receipt = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "RECEIPT", "document": doc(ORDER), "response": benv}),
        )?;
        let block = run(&mut a, &mut log, t, vec![receipt]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let export = a.reader().pint_export(&bill_key(ORDER))?.expect("export");
        assert_eq!(export.stage, ExportStage::Returned);
        assert_eq!(export.response_code.as_deref(), Some("BENV"));
        assert_eq!(export.reason.as_deref(), Some("refused by the test"));
        let state = a.reader().document(&bill_key(ORDER))?.expect("bill");
        assert_eq!(state.possessor, Some(party("SHIPPER")));
        assert_eq!(state.status, Status::Issued);
        let history = a.reader().history(&bill_key(ORDER), None, 100)?;
        assert!(matches!(
            &history.last().expect("history").event.kind,
            EventKind::ReturnedByPlatform { possessor, .. } if possessor.as_str() == "SHIPPER"
        ));
        // Nothing was accepted by WAVE: no chain is kept.
        assert!(
            a.reader()
                .pint_chain(&order_checksum(&a.reader())?)?
                .is_none()
        );
        assert!(a.reader().pint_outbox(10)?.is_empty());
        t += 1_000;

        // Usable here again.
        let transfer = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE", "to": "CONSIGNEE"}),
        )?;
        let block = run(&mut a, &mut log, t, vec![transfer]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        assert_eq!(
            a.reader()
                .document(&bill_key(ORDER))?
                .expect("bill")
                .possessor,
            Some(party("CONSIGNEE"))
        );
        t += 1_000;
        // And it may be sent again, by its new possessor.
        let again = pint_tx(
            &mut net,
            "consignee",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        assert_eq!(codes(&run(&mut a, &mut log, t, vec![again])), ["COMMITTED"]);
        assert_eq!(export_stage(&a, ORDER), Some(ExportStage::Requested));

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        Ok(())
    }

    /// A possessor just appointed here (a transfer it could still reject) sends the bill on
    /// as its next action, as it would act locally; once delivered, the bill has no pending
    /// transfer left (its appointee no longer possesses it).
    #[test]
    fn a_possessor_just_appointed_sends_the_bill_on() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;
        let endorse = net.doc_tx(
            "shipper",
            t,
            ORDER,
            json!({"action": "ENDORSE_TO_ORDER", "to": "CONSIGNEE"}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![endorse])),
            ["COMMITTED"]
        );
        let endorsed_ms = t;
        let state = a.reader().document(&bill_key(ORDER))?.expect("bill");
        assert_eq!(
            state.pending_transfer.map(|p| p.appointee),
            Some(party("CONSIGNEE"))
        );
        t += 1_000;

        let send = pint_tx(
            &mut net,
            "consignee",
            t,
            send_body(ORDER, WAVE, "ENDORSE", &buyer()),
        )?;
        let block = run(&mut a, &mut log, t, vec![send]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let requested_ms = t;
        t += 1_000;
        let (entry, manifest) = dispatch_with(
            &net,
            &a,
            &bill_key(ORDER),
            vec![
                transaction(
                    "ENDORSE_TO_ORDER",
                    here("SHIPPER"),
                    Some(here("CONSIGNEE")),
                    endorsed_ms,
                ),
                transaction("ENDORSE", here("CONSIGNEE"), Some(buyer()), requested_ms),
            ],
        )?;
        let dispatch = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "DISPATCH", "document": doc(ORDER), "entry": entry, "manifest": manifest}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![dispatch])),
            ["COMMITTED"]
        );
        t += 1_000;
        let receipt = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "RECEIPT", "document": doc(ORDER),
                   "response": answer(&wave, &entry, ResponseCode::Rece)?}),
        )?;
        let block = run(&mut a, &mut log, t, vec![receipt]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let state = a.reader().document(&bill_key(ORDER))?.expect("bill");
        assert_eq!(state.possessor, Some(party("WAVE:BUYER")));
        assert_eq!(state.endorsee, Some(party("WAVE:BUYER")));
        assert_eq!(state.pending_transfer, None);

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        Ok(())
    }

    /// A bill delivered to WAVE comes back: WAVE's envelope carries this network's own entry
    /// (checked against its members' root CAs) and WAVE's, for CONSIGNEE here. The same bill
    /// (`CARRIER/SLK-ORDER-001`) is CONSIGNEE's, no longer held elsewhere, and usable here.
    #[test]
    fn a_delivered_bill_comes_back() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let wave = testkit::pinned_es256("wave");
        let mut t = setup(&mut net, &mut a, &mut log, &wave, &[ORDER])?;
        let send = pint_tx(
            &mut net,
            "shipper",
            t,
            send_body(ORDER, WAVE, "TRANSFER", &buyer()),
        )?;
        assert_eq!(codes(&run(&mut a, &mut log, t, vec![send])), ["COMMITTED"]);
        let requested_ms = t;
        t += 1_000;
        let (entry, manifest) = dispatch_of(
            &net,
            &a,
            &bill_key(ORDER),
            transaction("TRANSFER", here("SHIPPER"), Some(buyer()), requested_ms),
        )?;
        let dispatch = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "DISPATCH", "document": doc(ORDER), "entry": entry, "manifest": manifest}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![dispatch])),
            ["COMMITTED"]
        );
        t += 1_000;
        let receipt = pint_tx(
            &mut net,
            "node1",
            t,
            json!({"action": "RECEIPT", "document": doc(ORDER),
                   "response": answer(&wave, &entry, ResponseCode::Rece)?}),
        )?;
        assert_eq!(
            codes(&run(&mut a, &mut log, t, vec![receipt])),
            ["COMMITTED"]
        );
        t += 1_000;

        // WAVE's buyer transfers it back to CONSIGNEE here.
        let document = a
            .reader()
            .document(&bill_key(ORDER))?
            .and_then(|d| d.content)
            .expect("content");
        let back = pint::build_entry(
            &wave.signer,
            WAVE,
            &document.sha256,
            Some(&entry),
            None,
            &[transaction(
                "TRANSFER",
                buyer(),
                Some(here("CONSIGNEE")),
                t - 500,
            )],
        )?;
        let chain = vec![entry.clone(), back];
        let envelope: Value = serde_json::from_slice(&pint::build_envelope(
            &wave.signer,
            &document.json(),
            &chain,
            None,
            &[],
        )?)?;
        let import = pint_tx(
            &mut net,
            "node2",
            t,
            json!({"action": "IMPORT", "envelope": envelope}),
        )?;
        let block = run(&mut a, &mut log, t, vec![import]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let check = |s: &LedgerState| -> anyhow::Result<()> {
            let reader = s.reader();
            let state = reader.document(&bill_key(ORDER))?.expect("bill");
            assert_eq!(state.possessor, Some(party("CONSIGNEE")));
            assert_eq!(state.carrier, party("CARRIER"));
            assert_eq!(state.status, Status::Issued);
            assert!(
                reader.pint_export(&bill_key(ORDER))?.is_none(),
                "no longer held"
            );
            assert_eq!(
                reader
                    .pint_chain(&order_checksum(&reader)?)?
                    .expect("chain")
                    .entries,
                chain
            );
            let history = reader.history(&bill_key(ORDER), None, 100)?;
            assert!(matches!(
                &history.last().expect("history").event.kind,
                EventKind::ReceivedFromPlatform { from, to, .. }
                    if from.as_str() == "WAVE:BUYER" && to.as_str() == "CONSIGNEE"
            ));
            Ok(())
        };
        check(&a)?;
        t += 1_000;

        // Usable here again.
        let transfer = net.doc_tx(
            "consignee",
            t,
            ORDER,
            json!({"action": "TRANSFER", "to": "SHIPPER"}),
        )?;
        let block = run(&mut a, &mut log, t, vec![transfer]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        Ok(())
    }
}

mod arriving {
    use super::*;

    /// The imported bill's key: `BOLE:MSC/TDREF0001`.
    fn imported_key() -> DocumentKey {
        DocumentKey::transport_document(DocumentId::new(
            party("BOLE:MSC"),
            DocumentRef::new("TDREF0001").unwrap(),
        ))
    }

    fn import(
        net: &mut Net,
        who: &str,
        t: u64,
        envelope: &[u8],
        documents: &[String],
    ) -> anyhow::Result<Vec<u8>> {
        let envelope: Value = serde_json::from_slice(envelope)?;
        pint_tx(
            net,
            who,
            t,
            json!({"action": "IMPORT", "envelope": envelope, "documents": documents}),
        )
    }

    /// The testkit's envelope (BOLE issues to WAVE's shipper, who transfers to BANK here),
    /// refused while its platforms are untrusted, then checked again by the ledger and
    /// imported: the bill exists here as `BOLE:MSC/TDREF0001`, BANK's. Each refusal names the
    /// PINT rule and changes nothing; the same envelope again is a duplicate.
    #[test]
    fn an_envelope_from_a_trusted_platform_creates_the_bill() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let world = World::new();
        let chain = world.chain();
        let envelope = world.envelope(&chain);
        let mut t = GENESIS_MS + 1_000;

        // Neither BOLE nor WAVE is trusted yet; a user does not sign an import.
        let txs = vec![
            import(&mut net, "node1", t, &envelope, &[])?,
            import(&mut net, "bank", t, &envelope, &[])?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            ["PINT_JWS_UNKNOWN_PLATFORM", "WRONG_CERTIFICATE_KIND"],
            "{:?}",
            block.transactions
        );
        assert!(a.reader().document(&imported_key())?.is_none());
        t += 1_000;

        t = by_vote(
            &mut net,
            &mut a,
            &mut log,
            t,
            json!([
                trust_action(BOLE, &[pem(&world.carrier.trust_der).as_str()]),
                trust_action(WAVE, &[pem(&world.sender.trust_der).as_str()]),
            ]),
        )?;

        // A manifest changed after signing (BSIG).
        let mut tampered: Value = serde_json::from_slice(&envelope)?;
        let manifest = tampered["envelopeManifestSignedContent"]
            .as_str()
            .expect("manifest")
            .to_owned();
        tampered["envelopeManifestSignedContent"] = json!(testkit::tamper_payload(
            &manifest,
            |m| {
                m["supportingDocuments"] = json!([{"name": "x", "size": 1, "mediaType": "text/plain",
                "documentChecksum": "0".repeat(64)}]);
            }
        ));
        let tampered = serde_json::to_vec(&tampered)?;
        // For a party of this platform that it does not host (BENV).
        let e0 = world.entry0();
        let nobody = testkit::party(HERE, "NOBODY", "Nobody here");
        let to_nobody = world.envelope(&[
            e0.clone(),
            world.sender_entry(
                &e0,
                vec![testkit::tx(
                    "TRANSFER",
                    &testkit::shipper(),
                    Some(&nobody),
                    5,
                )],
            ),
        ]);
        // With an additional document the node did not receive.
        let extra =
            pint::document_metadata("packing-list.pdf", "application/pdf", b"%PDF-1.7 test");
        let with_document = pint::build_envelope(
            &world.sender.signer,
            &world.document,
            &chain,
            None,
            std::slice::from_ref(&extra),
        )?;
        let txs = vec![
            import(&mut net, "node1", t, &tampered, &[])?,
            import(&mut net, "node1", t, &to_nobody, &[])?,
            import(&mut net, "node1", t, &with_document, &[])?,
            import(&mut net, "node1", t, &with_document, &["0".repeat(64)])?,
        ];
        let block = run(&mut a, &mut log, t, txs);
        assert_eq!(
            codes(&block),
            [
                "PINT_JWS_BAD_SIGNATURE",
                "PINT_UNKNOWN_RECIPIENT",
                "PINT_DOCUMENT_MISSING",
                "PINT_DOCUMENT_MISSING",
            ],
            "{:?}",
            block.transactions
        );
        assert!(a.reader().document(&imported_key())?.is_none());
        assert!(a.reader().pint_chain(&world.document_checksum())?.is_none());
        t += 1_000;

        // The envelope, as a node of any member received it (node3 is BANK's).
        let block = run(
            &mut a,
            &mut log,
            t,
            vec![import(&mut net, "node3", t, &envelope, &[])?],
        );
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let check = |s: &LedgerState| -> anyhow::Result<()> {
            let reader = s.reader();
            let state = reader.document(&imported_key())?.expect("imported");
            assert_eq!(state.status, Status::Issued);
            assert_eq!(state.possessor, Some(party("BANK")));
            assert_eq!(state.carrier, party("BOLE:MSC"));
            assert_eq!(state.id.to_string(), "BOLE:MSC/TDREF0001");
            let content = state.content.as_ref().expect("content");
            assert_eq!(content.sha256, world.document_checksum());
            assert_eq!(state.sequence, 1);
            let history = reader.history(&imported_key(), None, 100)?;
            assert_eq!(history.len(), 1);
            assert_eq!(history[0].event.kind.code(), "RECEIVED_FROM_PLATFORM");
            assert!(
                matches!(&history[0].event.kind,
                    EventKind::ReceivedFromPlatform { platform, from, to, action }
                        if platform == WAVE && from.as_str() == "WAVE:SHIPPER"
                            && to.as_str() == "BANK" && action == "TRANSFER"),
                "{:?}",
                history[0].event.kind
            );
            assert_eq!(history[0].actor.as_str(), "WAVE:SHIPPER");
            // BANK sees it; the chain is kept, by reference, for the bill's next move.
            assert!(
                reader
                    .parties_ever(&imported_key())?
                    .contains(&party("BANK"))
            );
            let held = reader
                .pint_chain(&world.document_checksum())?
                .expect("chain");
            assert_eq!(held.entries, chain);
            assert_eq!(held.document, imported_key());
            Ok(())
        };
        check(&a)?;
        t += 1_000;

        // The same envelope again, from any node.
        let block = run(
            &mut a,
            &mut log,
            t,
            vec![import(&mut net, "node1", t, &envelope, &[])?],
        );
        assert_eq!(codes(&block), ["PINT_DUPLICATE"]);
        check(&a)?;

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        check(&b)?;
        drop(a);
        let a = net.reopen("a")?;
        check(&a)?;
        Ok(())
    }

    /// An envelope whose manifest lists an additional document is imported when the node has
    /// received it, and the ledger keeps the checksum.
    #[test]
    fn an_envelope_with_its_documents_is_imported() -> anyhow::Result<()> {
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let world = World::new();
        let t = by_vote(
            &mut net,
            &mut a,
            &mut log,
            GENESIS_MS + 1_000,
            json!([
                trust_action(BOLE, &[pem(&world.carrier.trust_der).as_str()]),
                trust_action(WAVE, &[pem(&world.sender.trust_der).as_str()]),
            ]),
        )?;
        let extra =
            pint::document_metadata("packing-list.pdf", "application/pdf", b"%PDF-1.7 test");
        let envelope = pint::build_envelope(
            &world.sender.signer,
            &world.document,
            &world.chain(),
            None,
            std::slice::from_ref(&extra),
        )?;
        let tx = import(
            &mut net,
            "node2",
            t,
            &envelope,
            std::slice::from_ref(&extra.document_checksum),
        )?;
        let block = run(&mut a, &mut log, t, vec![tx]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        let held = a
            .reader()
            .pint_chain(&world.document_checksum())?
            .expect("chain");
        assert_eq!(held.documents, [extra.document_checksum]);
        Ok(())
    }
}

/// The carrier's issuance manifest, signed by the carrier's key beside its `ISSUE`: checked by
/// every replica against the bill the ISSUE makes and the transaction's own certificate, and
/// kept with the bill for its first chain entry.
mod issuance_manifest {
    use super::*;

    /// The signer of a user of this network (its certificate chain in `x5c`).
    fn user_signer(net: &Net, who: &str) -> anyhow::Result<pint::Signer> {
        node_signer(net, who)
    }

    fn content(reference: &str) -> anyhow::Result<Value> {
        let mut content = fixture("to-order-bill.json")?;
        content["transportDocumentReference"] = json!(reference);
        Ok(content)
    }

    fn shipper(s: &LedgerState) -> Party {
        let name = s.reader().party(&party("SHIPPER")).expect("SHIPPER").name;
        ledger::pint_party(HERE, &party("SHIPPER"), &name)
    }

    /// `ISSUE` of `reference` to SHIPPER, by `who`, carrying `manifest`.
    fn issue_with(
        net: &mut Net,
        who: &str,
        t: u64,
        reference: &str,
        manifest: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let p = net.payload(
            t,
            json!({"document": doc(reference),
                   "command": {"action": "ISSUE", "content": content(reference)?, "issueTo": "SHIPPER"},
                   "issuanceManifest": manifest}),
        );
        net.sign(who, &p)
    }

    fn refused_because(block: &ledger::Block, why: &str) {
        assert_eq!(
            codes(block),
            ["INVALID_ISSUANCE_MANIFEST"],
            "{why}: {:?}",
            block.transactions
        );
        let outcome = format!("{:?}", block.transactions[0].outcome);
        assert!(outcome.contains(why), "expected {why:?} in {outcome}");
    }

    /// Forged manifests are refused, each naming what failed (documentChecksum, issueTo, a
    /// visualisation, another certificate than the transaction's, a signature that does not
    /// cover the payload, no x5c, not a JWS, on another action than ISSUE); the carrier's own is
    /// kept with the bill, verifies as this platform's (its chain to the carrier's member's
    /// root CA, as another Silkline network trusts it), and a second replica and a reopened
    /// store agree.
    #[test]
    fn a_forged_issuance_manifest_is_refused_and_the_carriers_is_kept() -> anyhow::Result<()> {
        const REF: &str = "SLK-MANIFEST-1";
        let mut net = pint_net()?;
        let mut a = net.state("a")?;
        let mut log = Log::new();
        let mut t = GENESIS_MS + 1_000;
        let carrier = user_signer(&net, "carrier")?;
        let document = content(REF)?;
        let to = shipper(&a);

        let mut other_document = document.clone();
        other_document["transportDocumentReference"] = json!("SLK-MANIFEST-OTHER");
        let wrong_document = pint::sign_issuance_manifest(&carrier, &other_document, &to, None)?;
        let wrong_party = pint::sign_issuance_manifest(
            &carrier,
            &document,
            &ledger::pint_party(HERE, &party("SHIPPER"), "Someone Else Ltd"),
            None,
        )?;
        let with_visualisation =
            pint::sign_issuance_manifest(&carrier, &document, &to, Some(&"ab".repeat(32)))?;
        let by_shipper =
            pint::sign_issuance_manifest(&user_signer(&net, "shipper")?, &document, &to, None)?;
        let good = pint::sign_issuance_manifest(&carrier, &document, &to, None)?;
        // The carrier's header and a payload it did not sign (the good one's, under the
        // signature of the wrong-document manifest).
        let spliced = {
            let bad: Vec<&str> = wrong_document.split('.').collect();
            let good_parts: Vec<&str> = good.split('.').collect();
            format!("{}.{}.{}", bad[0], good_parts[1], bad[2])
        };
        let without_x5c = pint::sign_issuance_manifest(
            &user_signer(&net, "carrier")?.without_x5c(),
            &document,
            &to,
            None,
        )?;

        for (manifest, who, why) in [
            (wrong_document.as_str(), "carrier", "documentChecksum"),
            (wrong_party.as_str(), "carrier", "issueToChecksum"),
            (
                with_visualisation.as_str(),
                "carrier",
                "eBLVisualisationByCarrier",
            ),
            (
                by_shipper.as_str(),
                "carrier",
                "not the certificate that signed",
            ),
            (spliced.as_str(), "carrier", "its signature"),
            (without_x5c.as_str(), "carrier", "no x5c"),
            ("not.a-jws", "carrier", "not a compact JWS"),
        ] {
            let tx = issue_with(&mut net, who, t, REF, manifest)?;
            let block = run(&mut a, &mut log, t, vec![tx]);
            refused_because(&block, why);
            assert!(a.reader().document(&bill_key(REF))?.is_none(), "{why}");
            t += 1_000;
        }

        let tx = issue_with(&mut net, "carrier", t, REF, &good)?;
        let block = run(&mut a, &mut log, t, vec![tx]);
        assert_eq!(codes(&block), ["COMMITTED"], "{:?}", block.transactions);
        t += 1_000;
        let checksum = a
            .reader()
            .document(&bill_key(REF))?
            .and_then(|d| d.content)
            .expect("content")
            .sha256;
        assert_eq!(
            a.reader()
                .pint_issuance_manifest(&bill_key(REF), &checksum)?
                .as_deref(),
            Some(good.as_str())
        );
        // What a receiving Silkline network checks: the chain to this network's member roots.
        let verified =
            a.reader()
                .pint_trusted_platforms()
                .verify(HERE, &good, (t / 1000) as i64)?;
        let manifest: pint::IssuanceManifest = serde_json::from_slice(&verified.payload)?;
        assert_eq!(manifest.document_checksum, checksum);

        // Only an ISSUE carries one.
        let p = net.payload(
            t,
            json!({"document": doc(REF),
                   "command": {"action": "TRANSFER", "to": "CONSIGNEE"},
                   "issuanceManifest": good}),
        );
        let transfer = net.sign("shipper", &p)?;
        let block = run(&mut a, &mut log, t, vec![transfer]);
        refused_because(&block, "only an ISSUE");

        let mut b = net.state("b")?;
        replay(&mut b, &log)?;
        assert_eq!(a.state_hash(), b.state_hash(), "replicas agree");
        drop(a);
        let a = net.reopen("a")?;
        assert_eq!(
            a.reader()
                .pint_issuance_manifest(&bill_key(REF), &checksum)?
                .as_deref(),
            Some(good.as_str())
        );
        Ok(())
    }

    /// A network without a platform code refuses a manifest: none of its bills leaves it.
    #[test]
    fn a_network_without_a_platform_refuses_a_manifest() -> anyhow::Result<()> {
        const REF: &str = "SLK-MANIFEST-2";
        let mut net = net()?;
        let mut a = net.state("a")?;
        let t = GENESIS_MS + 1_000;
        let carrier = user_signer(&net, "carrier")?;
        let to = ledger::pint_party(HERE, &party("SHIPPER"), "Shipper");
        let manifest = pint::sign_issuance_manifest(&carrier, &content(REF)?, &to, None)?;
        let tx = issue_with(&mut net, "carrier", t, REF, &manifest)?;
        let block = apply(&mut a, t, &[&tx])?;
        refused_because(&block, "no platform code");
        Ok(())
    }
}

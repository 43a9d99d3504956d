//! Container release rights at apply (DOMAIN.md section 10): the rules hold on every replica,
//! whatever the client did. A gate-out signed by anyone but the terminal, or twice for one
//! container (in one block or two), is refused by the ledger itself; the gate check's index
//! finds the release by container number.

use crate::chain_common::*;
use doc_workflow::{ContainerNumber, RightStatus};
use ledger::LedgerState;
use serde_json::{Value, json};

const ORDER: &str = "SLK-ORDER-001";
const C1: &str = "CARU1000003";
const C2: &str = "CARU1000019";

/// The to-order fixture surrendered by the consignee and accepted; returns the next time.
fn delivered(net: &mut Net, state: &mut LedgerState) -> anyhow::Result<u64> {
    let content = fixture("to-order-bill.json")?;
    let mut t = GENESIS_MS + 1_000;
    for (who, command) in [
        (
            "carrier",
            json!({"action": "ISSUE", "content": content, "issueTo": "SHIPPER"}),
        ),
        ("shipper", json!({"action": "ENDORSE", "to": "CONSIGNEE"})),
        ("consignee", json!({"action": "SURRENDER_FOR_DELIVERY"})),
        ("carrier", json!({"action": "ACCEPT_SURRENDER"})),
        (
            "carrier",
            json!({"action": "RELEASE_CONTAINERS", "containers": [C1, C2],
                   "to": "CONSIGNEE", "terminal": "PORT"}),
        ),
        (
            "consignee",
            json!({"action": "NOMINATE_HAULIER", "containers": [C1, C2],
                   "haulier": "HAULIER", "truck": "TRUCK-1"}),
        ),
    ] {
        let tx = net.doc_tx(who, t, ORDER, command)?;
        let block = apply(state, t, &[&tx])?;
        assert_eq!(
            codes(&block),
            ["COMMITTED"],
            "{who}: {:?}",
            block.transactions
        );
        t += 1_000;
    }
    Ok(t)
}

fn gate_out(container: &str) -> Value {
    json!({"action": "GATE_OUT", "containers": [container], "truck": "TRUCK-1"})
}

#[test]
fn only_the_terminal_gates_out_and_a_right_is_spent_once() -> anyhow::Result<()> {
    let mut net = net()?;
    let mut state = net.state("a")?;
    let mut t = delivered(&mut net, &mut state)?;

    // The haulier, the holder and the carrier sign gate-outs: each is refused at apply.
    let forged: Vec<Vec<u8>> = ["haulier", "consignee", "carrier"]
        .into_iter()
        .map(|who| net.doc_tx(who, t, ORDER, gate_out(C1)))
        .collect::<anyhow::Result<_>>()?;
    let forged: Vec<&Vec<u8>> = forged.iter().collect();
    let block = apply(&mut state, t, &forged)?;
    assert_eq!(
        codes(&block),
        ["MISSING_ROLE", "MISSING_ROLE", "MISSING_ROLE"]
    );
    // A terminal of another consortium with the same names is not this network's PORT.
    let foreign_dir = tempfile::tempdir()?;
    let foreign = foreign_consortium(foreign_dir.path())?;
    let payload = net.payload(
        t,
        json!({"document": {"carrier": "CARRIER", "reference": ORDER},
               "command": gate_out(C1)}),
    );
    let foreign_tx = sign_with(&foreign, "port", &payload)?;
    let block = apply(&mut state, t, &[&foreign_tx])?;
    assert_ne!(codes(&block), ["COMMITTED"]);
    t += 1_000;

    // Two gate-outs of one container in one block: the first spends the right.
    let first = net.doc_tx("port", t, ORDER, gate_out(C1))?;
    let second = net.doc_tx("port", t, ORDER, gate_out(C1))?;
    let block = apply(&mut state, t, &[&first, &second])?;
    assert_eq!(codes(&block), ["COMMITTED", "CONTAINER_ALREADY_GATED_OUT"]);
    t += 1_000;
    // And in a later block.
    let third = net.doc_tx("port", t, ORDER, gate_out(C1))?;
    assert_eq!(
        codes(&apply(&mut state, t, &[&third])?),
        ["CONTAINER_ALREADY_GATED_OUT"]
    );

    let release = state
        .reader()
        .document(&release_key(ORDER))?
        .and_then(|d| d.release)
        .expect("released");
    let c1 = ContainerNumber::new(C1)?;
    assert_eq!(release.rights[&c1].status, RightStatus::Collected);
    assert_eq!(
        release.rights[&c1]
            .collected
            .as_ref()
            .map(|c| c.by.as_str()),
        Some("HAULIER")
    );
    Ok(())
}

#[test]
fn the_gate_index_finds_the_release_by_container() -> anyhow::Result<()> {
    let mut net = net()?;
    let mut state = net.state("a")?;
    delivered(&mut net, &mut state)?;
    let reader = state.reader();
    let found = reader.container_releases(&ContainerNumber::new(C2)?)?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, doc_id(ORDER));
    assert!(
        reader
            .container_releases(&ContainerNumber::new("CSQU3054383")?)?
            .is_empty()
    );
    // The haulier, nominated, is now party to the release; the bank is not.
    let parties = reader.parties_ever(&release_key(ORDER))?;
    assert!(parties.iter().any(|p| p.as_str() == "HAULIER"));
    assert!(!parties.iter().any(|p| p.as_str() == "BANK"));
    Ok(())
}

/// A revoked right cannot be nominated or gated out; a stranger's nomination on an existing
/// release is refused as if it did not exist.
#[test]
fn a_revoked_right_and_a_strangers_nomination_are_refused() -> anyhow::Result<()> {
    let mut net = net()?;
    let mut state = net.state("a")?;
    let t = delivered(&mut net, &mut state)?;
    let revoke = net.doc_tx(
        "carrier",
        t,
        ORDER,
        json!({"action": "REVOKE_RELEASE", "containers": [C2], "reason": "wrong party"}),
    )?;
    let gate = net.doc_tx("port", t, ORDER, gate_out(C2))?;
    let stranger = net.doc_tx(
        "bank",
        t,
        ORDER,
        json!({"action": "NOMINATE_HAULIER", "containers": [C1], "haulier": "BANK"}),
    )?;
    assert_eq!(
        codes(&apply(&mut state, t, &[&revoke, &gate, &stranger])?),
        ["COMMITTED", "RELEASE_REVOKED", "DOCUMENT_NOT_FOUND"]
    );
    Ok(())
}

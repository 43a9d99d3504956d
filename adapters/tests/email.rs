//! E-mail: who is told of what (pure), the configuration, and the outbox end to end against a
//! real SMTP server (Python's aiosmtpd, `tests/support/smtp_sink.py`) on 127.0.0.1, stopped and
//! restarted mid-way. No sleeps decide anything: every wait polls a condition with a deadline.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use adapters::email::{
    CommittedEvent, EmailConfig, EmailError, Outbox, Reason, RetryPolicy, TlsMode, mailing_node,
    mails_block, member_parties, notifications, plan, spawn_sender,
};
use anyhow::{Context, Result, bail, ensure};
use common::*;
use doc_workflow::{AmendmentReason, Command, PartyCode, Role};
use ledger::{NodeRecord, NodeRole, PartyRecord};

fn event(c: &Committed) -> CommittedEvent {
    CommittedEvent {
        height: c.height,
        position: c.position,
        tx_hash: c.tx_hash,
        time_ms: c.time_ms,
        document: c.event.document.clone(),
        event: c.event.clone(),
        state: c.state.clone(),
    }
}

fn told(events: &[Committed]) -> Vec<(String, Reason)> {
    events
        .iter()
        .flat_map(|c| notifications(&event(c)))
        .map(|n| (n.party.to_string(), n.reason))
        .collect()
}

#[test]
fn the_right_party_hears_of_each_event() {
    let mut world = World::default();
    let id = id("SLK-MAIL-1");
    let issue = world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(fixture_as("to-order-bill", "SLK-MAIL-1")),
            issue_to: party("SHIPPER"),
        },
    );
    assert_eq!(told(&issue), [("SHIPPER".into(), Reason::BillReceived)]);
    let sign = world.ok(&shipper(), &id, Command::Sign);
    assert_eq!(told(&sign), []);
    let endorse = world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    );
    assert_eq!(told(&endorse), [("BANK".into(), Reason::BillReceived)]);
    let reject = world.ok(&bank(), &id, Command::RejectTransfer { reason: None });
    assert_eq!(told(&reject), [("SHIPPER".into(), Reason::BillReceived)]);
    let endorse = world.ok(
        &shipper(),
        &id,
        Command::Endorse {
            to: party("CONSIGNEE"),
        },
    );
    assert_eq!(told(&endorse), [("CONSIGNEE".into(), Reason::BillReceived)]);
    let surrender = world.ok(&consignee(), &id, Command::SurrenderForDelivery);
    assert_eq!(
        told(&surrender),
        [("CARRIER".into(), Reason::SurrenderRequested)]
    );
    let rejected = world.ok(
        &carrier(),
        &id,
        Command::RejectSurrender {
            comment: "unpaid".into(),
        },
    );
    assert_eq!(
        told(&rejected),
        [("CONSIGNEE".into(), Reason::SurrenderRejected)]
    );
    world.ok(&consignee(), &id, Command::SurrenderForDelivery);
    let accepted = world.ok(&carrier(), &id, Command::AcceptSurrender);
    assert_eq!(
        told(&accepted),
        [("CONSIGNEE".into(), Reason::SurrenderAccepted)]
    );
    let released = world.ok(
        &carrier(),
        &id,
        Command::ReleaseCargo {
            port: party("PORT"),
        },
    );
    assert_eq!(
        told(&released),
        [
            ("PORT".into(), Reason::CargoReleased),
            ("CONSIGNEE".into(), Reason::ReleaseGranted)
        ]
    );
    // The haulier hears it is nominated, the terminal of each change; the actor never.
    let nominated = world.ok(
        &consignee(),
        &id,
        Command::NominateHaulier {
            containers: vec![doc_workflow::ContainerNumber::new("CARU1000003").unwrap()],
            haulier: party("BANK"),
            truck: None,
            haulier_may_renominate: false,
        },
    );
    assert_eq!(
        told(&nominated),
        [
            ("BANK".into(), Reason::HaulierNominated),
            ("PORT".into(), Reason::ReleaseChanged)
        ]
    );
    let revoked = world.ok(
        &carrier(),
        &id,
        Command::RevokeRelease {
            containers: vec![doc_workflow::ContainerNumber::new("CARU1000003").unwrap()],
            reason: "wrong haulier".into(),
        },
    );
    assert_eq!(
        told(&revoked),
        [
            ("PORT".into(), Reason::ReleaseChanged),
            ("BANK".into(), Reason::ReleaseChanged)
        ]
    );

    // Amendment: the carrier hears of the request, the requester of the answer.
    let other = id_for_amendment(&mut world);
    let accepted = world.ok(&carrier(), &other, Command::AcceptSurrender);
    assert_eq!(
        told(&accepted),
        [("SHIPPER".into(), Reason::SurrenderAccepted)]
    );
    assert_eq!(
        told(&world.ok(&carrier(), &other, Command::Void { replacement: None })),
        []
    );
}

fn id_for_amendment(world: &mut World) -> doc_workflow::DocumentId {
    let id = id("SLK-MAIL-2");
    world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(fixture_as("straight-bill", "SLK-MAIL-2")),
            issue_to: party("SHIPPER"),
        },
    );
    let request = world.ok(
        &shipper(),
        &id,
        Command::SurrenderForAmendment {
            reason: AmendmentReason::SwitchToPaper,
        },
    );
    assert_eq!(
        told(&request),
        [("CARRIER".into(), Reason::SurrenderRequested)]
    );
    id
}

fn config(port: u16, contacts: &[(&str, &[&str])]) -> EmailConfig {
    EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        tls: TlsMode::None,
        credentials: None,
        sender: "Silkline <ebl@bank.example.test>".into(),
        contacts: contacts
            .iter()
            .map(|(party, addresses)| {
                (
                    PartyCode::new(*party).unwrap(),
                    addresses.iter().map(|a| a.to_string()).collect(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        // Short delays keep the test fast; the doubling and the cap are what is exercised.
        retry: RetryPolicy {
            initial_ms: 50,
            max_ms: 200,
        },
    }
}

#[test]
fn a_node_mails_only_the_contacts_it_is_configured_with() {
    let mut world = World::default();
    let id = id("SLK-MAIL-3");
    let mut events = world.ok(
        &carrier(),
        &id,
        Command::Issue {
            content: Some(fixture_as("to-order-bill", "SLK-MAIL-3")),
            issue_to: party("SHIPPER"),
        },
    );
    events.extend(world.ok(
        &shipper(),
        &id,
        Command::EndorseToOrder { to: party("BANK") },
    ));
    // This node is the bank's: it knows the bank's two mailboxes and nobody else's.
    let config = config(
        25,
        &[("BANK", &["desk@bank.example.test", "ops@bank.example.test"])],
    );
    let bank_parties = parties(&["BANK"]);
    let mails: Vec<_> = events
        .iter()
        .flat_map(|c| plan(&event(c), &config, &bank_parties))
        .collect();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].to, "desk@bank.example.test");
    assert_eq!(mails[1].to, "ops@bank.example.test");
    assert_eq!(
        mails[0].subject,
        "[Silkline] bill of lading CARRIER/SLK-MAIL-3: is now in your control"
    );
    assert!(mails[0].body.contains("Event: ENDORSED by SHIPPER"));
    // The told party and why, in words rather than an internal name.
    assert!(
        mails[0]
            .body
            .starts_with("To: BANK, the bill's new holder\n"),
        "{}",
        mails[0].body
    );
    assert!(!mails[0].body.contains("BillReceived"));
    assert!(mails[0].message_id.starts_with("<12.0."));
    assert!(mails[0].message_id.ends_with("@silkline>"));
    assert_ne!(mails[0].message_id, mails[1].message_id);
    // Planning again gives the same ids: they are the outbox's idempotency key.
    let again: Vec<_> = events
        .iter()
        .flat_map(|c| plan(&event(c), &config, &bank_parties))
        .collect();
    assert_eq!(mails, again);

    // A contact of a party this node's member does not sponsor is never mailed, even if listed.
    let listed_everyone = self::config(
        25,
        &[
            ("BANK", &["desk@bank.example.test"]),
            ("SHIPPER", &["exports@shipper.example.test"]),
        ],
    );
    let mails: Vec<_> = events
        .iter()
        .flat_map(|c| plan(&event(c), &listed_everyone, &bank_parties))
        .collect();
    let to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(to, ["desk@bank.example.test"]);
}

fn parties(codes: &[&str]) -> BTreeSet<PartyCode> {
    codes.iter().map(|c| party(c)).collect()
}

#[test]
fn each_reason_reads_as_words() {
    let reasons = [
        Reason::BillReceived,
        Reason::SurrenderRequested,
        Reason::SurrenderAccepted,
        Reason::SurrenderRejected,
        Reason::CargoReleased,
        Reason::ReleaseGranted,
        Reason::HaulierNominated,
        Reason::ReleaseChanged,
    ];
    for reason in reasons {
        let role = reason.role();
        assert!(role.starts_with("the "), "{role}");
        assert!(!role.contains(&format!("{reason:?}")), "{role}");
    }
    assert_eq!(
        Reason::SurrenderRequested.role(),
        "the carrier that issued the bill"
    );
}

fn party_record(code: &str, sponsor: &str) -> PartyRecord {
    PartyRecord {
        code: party(code),
        name: format!("{code} Ltd"),
        sponsor: party(sponsor),
        role: if code == sponsor {
            Role::Carrier
        } else {
            Role::Trader
        },
        since_height: 0,
    }
}

#[test]
fn contacts_must_be_the_members_own_parties() {
    let ledger_parties = [
        party_record("CARRIER", "CARRIER"),
        party_record("SHIPPER", "CARRIER"),
        party_record("BANK", "BANK"),
    ];
    let carriers = config(
        25,
        &[
            ("CARRIER", &["docs@carrier.example.test"]),
            ("SHIPPER", &["exports@shipper.example.test"]),
            ("LATER", &["new@later.example.test"]),
        ],
    );
    let warnings = carriers
        .check_contacts(&party("CARRIER"), &ledger_parties)
        .unwrap();
    // A party not onboarded yet is a warning, not a refusal.
    assert_eq!(warnings.unknown_parties, [party("LATER")]);
    // The bank's node may not list the carrier's shipper.
    match carriers.check_contacts(&party("BANK"), &ledger_parties) {
        Err(EmailError::Config(message)) => {
            assert!(message.contains("CARRIER"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        member_parties(&party("CARRIER"), &ledger_parties),
        parties(&["CARRIER", "SHIPPER"])
    );
}

fn node(raft_id: u64, member: &str, role: NodeRole, since_height: u64) -> NodeRecord {
    NodeRecord {
        raft_id,
        node_id: None,
        address: format!("127.0.0.1:{}", 7100 + raft_id),
        member: party(member),
        role,
        since_height,
    }
}

#[test]
fn one_node_of_a_member_mails_each_block() {
    // CARRIER runs genesis voters 1 and 4; BANK runs 3.
    let nodes = [
        node(1, "CARRIER", NodeRole::Voter, 0),
        node(3, "BANK", NodeRole::Voter, 0),
        node(4, "CARRIER", NodeRole::Voter, 0),
    ];
    for height in [1, 50] {
        assert_eq!(mailing_node(&party("CARRIER"), &nodes, height), Some(1));
        assert!(mails_block(1, &nodes, height));
        assert!(!mails_block(4, &nodes, height));
        assert!(mails_block(3, &nodes, height));
    }
    // A node the records do not know (joining, before its snapshot) mails nothing.
    assert!(!mails_block(9, &nodes, 1));
    // A member without nodes has no mailing node.
    assert_eq!(mailing_node(&party("PORT"), &nodes, 1), None);

    // Node 1 is removed at height 10: it owns the blocks before, node 4 those from 10 on, and
    // node 1 itself mails nothing more.
    let removed = [
        node(1, "CARRIER", NodeRole::Removed, 10),
        node(3, "BANK", NodeRole::Voter, 0),
        node(4, "CARRIER", NodeRole::Voter, 0),
    ];
    assert_eq!(mailing_node(&party("CARRIER"), &removed, 9), Some(1));
    assert_eq!(mailing_node(&party("CARRIER"), &removed, 10), Some(4));
    assert!(!mails_block(1, &removed, 9));
    assert!(!mails_block(4, &removed, 9));
    assert!(mails_block(4, &removed, 10));
}

/// One node's life: added (a learner) at `added`, promoted at `promoted`, removed at `removed`;
/// genesis voters are added and promoted at 0.
#[derive(Debug, Clone, Copy)]
struct Life {
    raft_id: u64,
    added: u64,
    promoted: Option<u64>,
    removed: Option<u64>,
}

impl Life {
    /// The node's record as the ledger holds it once block `now` has applied, if it exists.
    fn record_at(&self, now: u64) -> Option<NodeRecord> {
        if self.added > now {
            return None;
        }
        let (role, since) = match (self.promoted, self.removed) {
            (_, Some(r)) if r <= now => (NodeRole::Removed, r),
            (Some(p), _) if p <= now => (NodeRole::Voter, p),
            _ => (NodeRole::Learner, self.added),
        };
        Some(node(self.raft_id, "CARRIER", role, since))
    }

    fn voter_at(&self, height: u64) -> bool {
        self.promoted.is_some_and(|p| p <= height) && self.removed.is_none_or(|r| r > height)
    }
}

/// Seeded xorshift, so that a failing case replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn nodes_that_judge_a_block_at_different_times_never_both_mail_it() {
    const HEIGHTS: u64 = 40;
    const SEEDS: u64 = 300;
    for seed in 1..=SEEDS {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // Two genesis voters, then up to three nodes added by governance, each maybe promoted
        // and maybe removed later, with raft ids in any order.
        let mut lives = vec![
            Life {
                raft_id: 2 + rng.below(5),
                added: 0,
                promoted: Some(0),
                removed: None,
            },
            Life {
                raft_id: 10 + rng.below(5),
                added: 0,
                promoted: Some(0),
                removed: None,
            },
        ];
        for raft_id in [1, 7, 20].into_iter().take(1 + rng.below(3) as usize) {
            let added = 1 + rng.below(HEIGHTS);
            let promoted = (rng.below(3) > 0).then(|| added + rng.below(HEIGHTS));
            lives.push(Life {
                raft_id,
                added,
                promoted,
                removed: None,
            });
        }
        for life in &mut lives {
            if rng.below(3) == 0 {
                life.removed = Some(life.promoted.unwrap_or(life.added) + 1 + rng.below(HEIGHTS));
            }
        }
        for height in 1..=HEIGHTS {
            let truth = lives
                .iter()
                .filter(|l| l.voter_at(height))
                .map(|l| l.raft_id)
                .min();
            // Every node, judging the block at any later time, as the records then are.
            let mut senders = BTreeSet::new();
            for now in height..=3 * HEIGHTS {
                let records: Vec<NodeRecord> =
                    lives.iter().filter_map(|l| l.record_at(now)).collect();
                for life in &lives {
                    if mails_block(life.raft_id, &records, height) {
                        senders.insert(life.raft_id);
                    }
                }
                // Judged when the block has just applied, the answer is exact.
                if now == height {
                    assert_eq!(
                        mailing_node(&party("CARRIER"), &records, height),
                        truth,
                        "seed {seed} height {height} {lives:?}"
                    );
                }
            }
            assert!(
                senders.len() <= 1,
                "seed {seed}: block {height} mailed by {senders:?}; {lives:?}"
            );
            // The one who mails is the true mailing node, whenever it judges.
            if let Some(sender) = senders.first() {
                assert_eq!(Some(*sender), truth, "seed {seed} height {height}");
            }
        }
    }
}

#[test]
fn configuration_is_json_and_checked() {
    let good = r#"{
        "smtpHost": "smtp.bank.example.test", "smtpPort": 587, "tls": "starttls",
        "credentials": {"username": "ebl", "password": "secret"},
        "sender": "Silkline <ebl@bank.example.test>",
        "contacts": {"BANK": ["desk@bank.example.test"]},
        "retry": {"initialMs": 500, "maxMs": 60000}
    }"#;
    let config = EmailConfig::from_json(good).unwrap();
    assert_eq!(config.tls, TlsMode::Starttls);
    assert_eq!(config.retry.max_ms, 60_000);

    let minimal = r#"{"smtpHost": "localhost", "smtpPort": 25, "tls": "none",
        "sender": "ebl@bank.example.test", "contacts": {}}"#;
    assert_eq!(
        EmailConfig::from_json(minimal).unwrap().retry,
        RetryPolicy::default()
    );

    for bad in [
        good.replace("desk@bank.example.test", "not an address"),
        good.replace("\"tls\": \"starttls\"", "\"tls\": \"ssl\""),
        good.replace("\"BANK\"", "\"BAD CODE\""),
        good.replace("\"smtpPort\"", "\"smtpPortt\""),
        good.replace("\"initialMs\": 500", "\"initialMs\": 0"),
    ] {
        assert!(
            matches!(EmailConfig::from_json(&bad), Err(EmailError::Config(_))),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end against a real SMTP server
// ---------------------------------------------------------------------------------------------

/// The Python SMTP sink, killed when dropped.
struct Sink {
    child: Child,
}

impl Sink {
    fn start(port: u16, dir: &Path) -> Result<Sink> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Process::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdout(Stdio::piped())
            .spawn()
            .context("python3 must be installed")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut line = String::new();
        // Returns at READY, or at end of output if the sink failed (aiosmtpd missing, port busy).
        BufReader::new(stdout).read_line(&mut line)?;
        if line.trim() != "READY" {
            let _ = child.kill();
            bail!("the SMTP sink did not start (is aiosmtpd installed? scripts/test installs it)");
        }
        Ok(Sink { child })
    }

    fn stop(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A received message: envelope recipients, unfolded headers, body.
#[derive(Debug)]
struct Received {
    envelope_to: Vec<String>,
    headers: BTreeMap<String, String>,
    body: String,
}

fn received(dir: &Path) -> Result<Vec<Received>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let text = std::fs::read_to_string(&path)?.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").context("headers end")?;
        let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
        let mut headers = BTreeMap::new();
        let mut envelope_to = Vec::new();
        for line in unfolded.lines() {
            let (name, value) = line.split_once(':').context("header line")?;
            let value = value.trim().to_owned();
            if name == "X-Envelope-To" {
                envelope_to.push(value);
            } else {
                headers.insert(name.to_ascii_lowercase(), value);
            }
        }
        out.push(Received {
            envelope_to,
            headers,
            body: body.to_owned(),
        });
    }
    Ok(out)
}

/// Polls `check` until it returns `Some`, or fails after `deadline`.
async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_arrives_exactly_once_across_smtp_and_outbox_restarts() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mail_dir = tmp.path().join("mail");
    std::fs::create_dir(&mail_dir)?;
    let outbox_path = tmp.path().join("outbox.redb");
    let port = free_port()?;
    let sink = Sink::start(port, &mail_dir)?;

    // This node serves the bank (two mailboxes) and the shipper it onboarded.
    let config = config(
        port,
        &[
            ("BANK", &["desk@bank.example.test", "ops@bank.example.test"]),
            ("SHIPPER", &["exports@shipper.example.test"]),
        ],
    );
    let own = parties(&["BANK", "SHIPPER"]);
    let mut world = World::default();
    let id = id("SLK-MAIL-E2E");
    let issued: Vec<CommittedEvent> = world
        .ok(
            &carrier(),
            &id,
            Command::Issue {
                content: Some(fixture_as("to-order-bill", "SLK-MAIL-E2E")),
                issue_to: party("SHIPPER"),
            },
        )
        .iter()
        .map(event)
        .collect();
    let endorsed: Vec<CommittedEvent> = world
        .ok(
            &shipper(),
            &id,
            Command::EndorseToOrder { to: party("BANK") },
        )
        .iter()
        .map(event)
        .collect();

    // 1. The server is up: the shipper hears of the issue.
    let outbox = Outbox::open(&outbox_path)?;
    let sender = spawn_sender(outbox.clone(), &config)?;
    assert_eq!(outbox.enqueue_events(&issued, &config, &own)?, 1);
    let first = wait_for("the first message", || {
        let got = received(&mail_dir)?;
        Ok((got.len() == 1).then_some(got))
    })
    .await?;
    let mail = &first[0];
    assert_eq!(mail.envelope_to, ["exports@shipper.example.test"]);
    assert_eq!(mail.headers["to"], "exports@shipper.example.test");
    assert_eq!(mail.headers["from"], "Silkline <ebl@bank.example.test>");
    assert_eq!(
        mail.headers["subject"],
        "[Silkline] bill of lading CARRIER/SLK-MAIL-E2E: is now in your control"
    );
    let issue_id = plan(&issued[0], &config, &own)[0].message_id.clone();
    assert_eq!(mail.headers["message-id"], issue_id);
    assert!(
        mail.body.contains("Event: ISSUED by CARRIER"),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("Possessor: SHIPPER"));
    assert!(
        mail.body
            .contains(&format!("Transaction:\n  {}\n", issued[0].tx_hash)),
        "{}",
        mail.body
    );
    wait_for("the outbox to record it sent", || {
        Ok(outbox.pending()?.is_empty().then_some(()))
    })
    .await?;

    // 2. The server goes away. The endorsement is queued (and the issue again: a no-op), and
    //    the sender keeps failing without losing anything.
    sink.stop()?;
    assert_eq!(outbox.enqueue_events(&endorsed, &config, &own)?, 2);
    assert_eq!(outbox.enqueue_events(&issued, &config, &own)?, 0);
    wait_for("failed attempts while the server is down", || {
        let pending = outbox.pending()?;
        Ok((pending.len() == 2 && pending.iter().all(|p| p.attempts >= 2)).then_some(()))
    })
    .await?;
    assert_eq!(received(&mail_dir)?.len(), 1);

    // 3. The server comes back on the same port: the two messages arrive, once each.
    let sink = Sink::start(port, &mail_dir)?;
    let all = wait_for("the endorsement messages", || {
        let got = received(&mail_dir)?;
        Ok((got.len() == 3 && outbox.pending()?.is_empty()).then_some(got))
    })
    .await?;
    let mut to: Vec<&str> = all[1..].iter().map(|m| m.envelope_to[0].as_str()).collect();
    to.sort();
    assert_eq!(to, ["desk@bank.example.test", "ops@bank.example.test"]);
    for m in &all[1..] {
        assert!(m.body.contains("Event: ENDORSED by SHIPPER"));
        assert!(m.headers["subject"].ends_with("is now in your control"));
    }

    // 4. The node restarts: a new outbox over the same file remembers what was sent, so a replay
    //    of the committed events sends nothing again...
    sender.stop().await;
    drop(outbox);
    let outbox = Outbox::open(&outbox_path)?;
    assert_eq!(outbox.sent()?.len(), 3);
    assert_eq!(outbox.enqueue_events(&issued, &config, &own)?, 0);
    assert_eq!(outbox.enqueue_events(&endorsed, &config, &own)?, 0);

    // ...and a message queued before a restart, with no sender running, is sent after it.
    let rejected: Vec<CommittedEvent> = world
        .ok(
            &bank(),
            &id,
            Command::RejectTransfer {
                reason: Some("wrong bank".into()),
            },
        )
        .iter()
        .map(event)
        .collect();
    assert_eq!(outbox.enqueue_events(&rejected, &config, &own)?, 1);
    drop(outbox);
    let outbox = Outbox::open(&outbox_path)?;
    assert_eq!(outbox.pending()?.len(), 1);
    let sender = spawn_sender(outbox.clone(), &config)?;
    let all = wait_for("the message queued before the restart", || {
        let got = received(&mail_dir)?;
        Ok((got.len() == 4 && outbox.pending()?.is_empty()).then_some(got))
    })
    .await?;
    assert_eq!(all[3].envelope_to, ["exports@shipper.example.test"]);
    assert!(all[3].body.contains("Reason: wrong bank"));

    // Exactly once: every Message-ID arrived one time, and they are the outbox's ids.
    let mut ids: Vec<&str> = all
        .iter()
        .map(|m| m.headers["message-id"].as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let mut sent: Vec<String> = outbox.sent()?.into_iter().map(|s| s.message_id).collect();
    sent.sort();
    assert_eq!(ids, sent.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(outbox.failed()?.is_empty());

    sender.stop().await;
    sink.stop()?;
    Ok(())
}

//! The messages governance calls for: every member's admins are told when a proposal opens,
//! when it nears its expiry while still open, and when it closes (accepted, rejected,
//! withdrawn). Each member's mailing node tells its own member's party, through the same
//! outbox as document events, so each admin gets each message once.

use ledger::consortium::ProposalState;
use ledger::reader::ProposalView;

use super::config::EmailConfig;
use super::message::{MailId, MailIdBytes, OutgoingMail};
use crate::time::iso8601_utc;

/// How long before a proposal's expiry its open reminder goes out: a day, to vote in.
pub const EXPIRY_NOTICE_MS: u64 = 24 * 3_600_000;

/// What happened to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalNotice {
    Opened,
    /// Still open, and its expiry is less than [`EXPIRY_NOTICE_MS`] away.
    NearingExpiry,
    Closed(ProposalState),
}

impl ProposalNotice {
    /// What to tell about `view` at the block of `height` and `time_ms`, if anything.
    pub fn of(view: &ProposalView, height: u64, time_ms: u64) -> Option<ProposalNotice> {
        let r = &view.record;
        match view.state {
            ProposalState::Open if r.created_height == height => Some(ProposalNotice::Opened),
            ProposalState::Open if r.expires_at_ms.saturating_sub(time_ms) <= EXPIRY_NOTICE_MS => {
                Some(ProposalNotice::NearingExpiry)
            }
            ProposalState::Accepted | ProposalState::Rejected | ProposalState::Withdrawn
                if r.closed_height == Some(height) =>
            {
                Some(ProposalNotice::Closed(view.state))
            }
            _ => None,
        }
    }

    /// The message slot: one per proposal and notice, whichever block finds it first.
    fn slot(self) -> u32 {
        match self {
            ProposalNotice::Opened => 0,
            ProposalNotice::NearingExpiry => 1,
            ProposalNotice::Closed(_) => 2,
        }
    }

    fn subject(self) -> String {
        match self {
            ProposalNotice::Opened => "new proposal to vote on".into(),
            ProposalNotice::NearingExpiry => "proposal expires within a day".into(),
            ProposalNotice::Closed(state) => format!("proposal {}", state.code().to_lowercase()),
        }
    }
}

/// The messages of `notice` about `view` for the admins of the member whose own party's
/// contacts `config` lists (`member`).
pub fn plan_proposal(
    view: &ProposalView,
    notice: ProposalNotice,
    time_ms: u64,
    config: &EmailConfig,
    member: &doc_workflow::PartyCode,
) -> Vec<OutgoingMail> {
    let Some(addresses) = config.contacts.get(member) else {
        return Vec::new();
    };
    let r = &view.record;
    let subject_key = format!("proposal/{}", r.id);
    let actions: Vec<&str> = r.actions.iter().map(|a| a.code()).collect();
    let votes: Vec<String> = r
        .votes
        .iter()
        .map(|(m, approve)| format!("{m}: {}", if *approve { "approve" } else { "reject" }))
        .collect();
    let body = [
        format!("To: {member}, member admin"),
        format!("Proposal: {}", r.id),
        format!("By: {}", r.proposer),
        format!("Actions: {}", actions.join(", ")),
        format!("Description: {}", r.description),
        format!("State: {}", view.state.code()),
        format!(
            "Votes: {} approve, {} reject of {} eligible ({})",
            view.tally.approvals,
            view.tally.rejections,
            view.tally.eligible,
            votes.join("; ")
        ),
        format!("Expires: {}", iso8601_utc(r.expires_at_ms)),
        format!(
            "Vote: silkline gov vote --as ADMIN {} --approve|--reject",
            r.id
        ),
    ]
    .join("\n");
    addresses
        .iter()
        .map(|address| {
            // Keyed by the proposal's first block, so the reminder found again by later blocks
            // is the same message (the outbox skips it).
            let id = MailId::for_subject(r.created_height, notice.slot(), &subject_key, address);
            OutgoingMail {
                message_id: id.message_id(),
                to: address.clone(),
                subject: format!(
                    "[Silkline] {}: {}",
                    notice.subject(),
                    short(&r.id.to_string())
                ),
                body: body.clone(),
                time_ms,
                id: Some(MailIdBytes(id.to_bytes())),
            }
        })
        .collect()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use doc_workflow::PartyCode;
    use ledger::Hash32;
    use ledger::consortium::{ProposalAction, ProposalRecord, Tally, Threshold};

    use super::*;

    fn view(state: ProposalState, closed_height: Option<u64>) -> ProposalView {
        let bank = PartyCode::new("BANK").unwrap();
        ProposalView {
            record: ProposalRecord {
                id: Hash32([7; 32]),
                proposer: bank.clone(),
                actions: vec![ProposalAction::Pause],
                description: "pause for the audit".into(),
                base_config_version: 0,
                expires_at_ms: 10 * EXPIRY_NOTICE_MS,
                created_height: 5,
                created_ms: 0,
                updated_height: 5,
                state,
                votes: BTreeMap::from([(bank, true)]),
                closed_height,
                reason: None,
            },
            state,
            tally: Tally {
                eligible: 3,
                approvals: 1,
                rejections: 0,
                threshold: Threshold::Majority,
            },
        }
    }

    #[test]
    fn admins_hear_of_an_opening_a_near_expiry_and_a_closing_once_each() {
        let open = view(ProposalState::Open, None);
        assert_eq!(
            ProposalNotice::of(&open, 5, 0),
            Some(ProposalNotice::Opened)
        );
        assert_eq!(ProposalNotice::of(&open, 6, 0), None, "nothing to say yet");
        let near = 9 * EXPIRY_NOTICE_MS + 1;
        assert_eq!(
            ProposalNotice::of(&open, 80, near),
            Some(ProposalNotice::NearingExpiry)
        );
        let accepted = view(ProposalState::Accepted, Some(9));
        assert_eq!(
            ProposalNotice::of(&accepted, 9, 0),
            Some(ProposalNotice::Closed(ProposalState::Accepted))
        );
        assert_eq!(ProposalNotice::of(&accepted, 10, 0), None);

        let config = EmailConfig::from_json(
            r#"{"smtpHost": "smtp.example.test", "smtpPort": 25, "tls": "none",
                "sender": "Silkline <ebl@bank.example.test>",
                "contacts": {"BANK": ["board@bank.example.test", "desk@bank.example.test"]}}"#,
        )
        .unwrap();
        let bank = PartyCode::new("BANK").unwrap();
        let mails = plan_proposal(&open, ProposalNotice::NearingExpiry, near, &config, &bank);
        assert_eq!(mails.len(), 2, "one per contact of the member's own party");
        assert!(mails[0].subject.contains("expires within a day"));
        assert!(mails[0].body.contains("pause for the audit") && mails[0].body.contains("PAUSE"));
        // Found again by a later block, the reminder is the same message (the outbox skips it).
        let again = plan_proposal(
            &open,
            ProposalNotice::NearingExpiry,
            near + 1,
            &config,
            &bank,
        );
        assert_eq!(mails[0].message_id, again[0].message_id);
        let other = PartyCode::new("PORT").unwrap();
        assert!(plan_proposal(&open, ProposalNotice::Opened, 0, &config, &other).is_empty());
    }
}

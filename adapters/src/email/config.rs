//! The `email` section of a node's configuration: the SMTP server, its security and
//! credentials, the retry policy, and the contact addresses of this member's parties.

use std::collections::BTreeMap;

use doc_workflow::PartyCode;
use ledger::PartyRecord;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use super::{CONTACTS_PER_PARTY_MAX, EmailError, RETRY_INITIAL_MS_DEFAULT, RETRY_MAX_MS_DEFAULT};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP; only for a relay on the same host or in tests.
    None,
    /// Plain connection upgraded with STARTTLS (submission port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Retry timing for transient SMTP failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_ms: RETRY_INITIAL_MS_DEFAULT,
            max_ms: RETRY_MAX_MS_DEFAULT,
        }
    }
}

impl RetryPolicy {
    /// The delay after `failures` failed attempts: initial, doubled each time, capped.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(32);
        self.initial_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }
}

/// A node's e-mail configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// The From mailbox, e.g. `Silkline <ebl@carrier.example>`.
    pub sender: String,
    /// Addresses per party code, for this node's member's parties only.
    pub contacts: BTreeMap<PartyCode, Vec<String>>,
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// What a check of the contacts against the ledger's parties found acceptable but worth a
/// warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWarnings {
    /// Contacts of parties the ledger does not know (yet): an `ONBOARD_PARTY` may still come;
    /// until then nothing is mailed to them.
    pub unknown_parties: Vec<PartyCode>,
}

impl EmailConfig {
    /// Parses and checks a configuration: the sender and every contact must be a valid address.
    pub fn from_json(text: &str) -> Result<EmailConfig, EmailError> {
        let config: EmailConfig =
            serde_json::from_str(text).map_err(|e| EmailError::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: addresses parse, contact lists are bounded, retry is sane.
    pub fn check(&self) -> Result<(), EmailError> {
        self.sender
            .parse::<Mailbox>()
            .map_err(|e| EmailError::Config(format!("sender {:?}: {e}", self.sender)))?;
        for (party, addresses) in &self.contacts {
            if addresses.len() > CONTACTS_PER_PARTY_MAX {
                return Err(EmailError::Config(format!(
                    "party {party} has {} contacts; at most {CONTACTS_PER_PARTY_MAX} are allowed",
                    addresses.len()
                )));
            }
            for address in addresses {
                address.parse::<Mailbox>().map_err(|e| {
                    EmailError::Config(format!("contact {address:?} of {party}: {e}"))
                })?;
            }
        }
        if self.retry.initial_ms == 0 || self.retry.max_ms < self.retry.initial_ms {
            return Err(EmailError::Config(
                "retry needs 0 < initialMs <= maxMs".into(),
            ));
        }
        Ok(())
    }

    /// Checks the contacts of a node of `member` against the ledger's `parties`: a contact of a
    /// party that another member sponsors is refused, since that member's nodes tell it (and a
    /// node that mailed it too would send each of its messages twice). Contacts of parties the
    /// ledger does not know are returned as warnings.
    pub fn check_contacts(
        &self,
        member: &PartyCode,
        parties: &[PartyRecord],
    ) -> Result<ContactWarnings, EmailError> {
        let mut unknown_parties = Vec::new();
        for party in self.contacts.keys() {
            match parties.iter().find(|p| p.code == *party) {
                Some(record) if record.sponsor != *member => {
                    return Err(EmailError::Config(format!(
                        "contacts list party {party}, which member {} sponsors; a node of {member} mails only {member}'s parties",
                        record.sponsor
                    )));
                }
                Some(_) => {}
                None => unknown_parties.push(party.clone()),
            }
        }
        Ok(ContactWarnings { unknown_parties })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            initial_ms: 100,
            max_ms: 1_000,
        };
        let delays: Vec<u64> = (1..=6).map(|n| p.delay_ms(n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.delay_ms(u32::MAX), 1_000);
    }
}

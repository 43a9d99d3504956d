//! The sender: a tokio task that sends due messages over SMTP, retries transient failures
//! with bounded exponential backoff and sets permanently refused ones aside.

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials as SmtpCredentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;

use super::config::{EmailConfig, TlsMode};
use super::message::OutgoingMail;
use super::outbox::{Outbox, now_ms};
use super::{EmailError, SEND_BATCH_MAX, SMTP_TIMEOUT_MS};

/// The running sender task; stop it with [`SenderHandle::stop`].
pub struct SenderHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SenderHandle {
    /// Asks the task to stop after the message in flight, and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn transport(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let builder = match config.tls {
        TlsMode::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
        }
        TlsMode::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| EmailError::Config(e.to_string()))?
        }
        TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.smtp_host)
            .map_err(|e| EmailError::Config(e.to_string()))?,
    };
    let mut builder = builder
        .port(config.smtp_port)
        .timeout(Some(Duration::from_millis(SMTP_TIMEOUT_MS)));
    if let Some(c) = &config.credentials {
        builder = builder.credentials(SmtpCredentials::new(c.username.clone(), c.password.clone()));
    }
    Ok(builder.build())
}

fn message(config: &EmailConfig, mail: &OutgoingMail) -> Result<Message, String> {
    let from: Mailbox = config.sender.parse().map_err(|e| format!("sender: {e}"))?;
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .date(UNIX_EPOCH + Duration::from_millis(mail.time_ms))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

/// Starts the sender on the current tokio runtime. It drains due messages oldest first, sleeps
/// until the next retry is due or [`Outbox::enqueue`] wakes it, and stops on
/// [`SenderHandle::stop`]. An outbox storage error is logged and retried after the longest
/// backoff rather than ending the task: mail is a side effect, never a reason to stop a node.
pub fn spawn_sender(outbox: Outbox, config: &EmailConfig) -> Result<SenderHandle, EmailError> {
    config.check()?;
    let transport = transport(config)?;
    let config = config.clone();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            if *stop_rx.borrow() {
                return;
            }
            let wait_ms = match send_round(&outbox, &transport, &config, &stop_rx).await {
                Ok(Some(next_ms)) => next_ms.saturating_sub(now_ms()),
                // Nothing pending: sleep until woken. The bound is only a safety net.
                Ok(None) => config.retry.max_ms,
                Err(e) => {
                    tracing::error!(error = %e, "e-mail outbox");
                    config.retry.max_ms
                }
            };
            if wait_ms == 0 {
                continue;
            }
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                _ = stop_rx.changed() => {}
            }
        }
    });
    Ok(SenderHandle {
        stop: stop_tx,
        task,
    })
}

/// Sends what is due; returns when the next not-yet-due message becomes due, if any.
async fn send_round(
    outbox: &Outbox,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    config: &EmailConfig,
    stop: &watch::Receiver<bool>,
) -> Result<Option<u64>, EmailError> {
    let due = outbox.due(now_ms(), SEND_BATCH_MAX)?;
    for (key, entry) in due {
        if *stop.borrow() {
            break;
        }
        let message = match message(config, &entry.mail) {
            Ok(m) => m,
            Err(e) => {
                outbox.mark_done(&key, &entry, Some(e))?;
                continue;
            }
        };
        match transport.send(message).await {
            Ok(_) => {
                tracing::debug!(message_id = %entry.mail.message_id, to = %entry.mail.to, "e-mail sent");
                outbox.mark_done(&key, &entry, None)?;
            }
            Err(e) if e.is_permanent() => {
                tracing::warn!(message_id = %entry.mail.message_id, error = %e, "e-mail refused for good");
                outbox.mark_done(&key, &entry, Some(e.to_string()))?;
            }
            Err(e) => {
                tracing::debug!(message_id = %entry.mail.message_id, error = %e, "e-mail will be retried");
                // Each message keeps its own backoff; the others of the batch are still tried.
                outbox.mark_retry(&key, &entry, e.to_string(), &config.retry)?;
            }
        }
    }
    outbox.next_due()
}

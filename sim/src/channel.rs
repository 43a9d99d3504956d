//! [`ChannelTransport`]: the runtime's [`Transport`] over in-process channels, so tests run a
//! cluster of tokio replicas in one process. Never compiled into the `silkline` binary.

use std::collections::BTreeMap;

use raft::eraftpb::Message;
use replication::runtime::Transport;
use tokio::sync::mpsc;

/// A [`Transport`] over in-process channels, one per peer.
#[derive(Debug, Clone, Default)]
pub struct ChannelTransport {
    peers: BTreeMap<u64, mpsc::Sender<Message>>,
}

impl ChannelTransport {
    /// A transport that reaches the given peers.
    pub fn new(peers: BTreeMap<u64, mpsc::Sender<Message>>) -> ChannelTransport {
        ChannelTransport { peers }
    }
}

impl Transport for ChannelTransport {
    fn send(&mut self, message: Message) {
        if let Some(peer) = self.peers.get(&message.to) {
            // Full or closed: drop, like a congested or broken link.
            let _ = peer.try_send(message);
        }
    }
}

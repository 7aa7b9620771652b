//! Which peer nodes are alive, judged by their heartbeat keys.
//!
//! Every node keeps a key in Redis, renewed every [`HEARTBEAT_INTERVAL`] with a time to live of
//! [`HEARTBEAT_TTL`]. A node killed with `kill -9` stops renewing, and its key expires. The others
//! check the keys of the peers they have heard from at every heartbeat; a missing key means the
//! peer is gone, and every room drops the awareness states of that peer's clients (y-protocols
//! would otherwise keep showing them for 30 s, and Hocuspocus's Redis extension forever, its
//! issue #361). A peer heard from again after that is simply alive again.
//!
//! The decisions live here, without I/O; the link asks Redis and reports the answers.

use std::collections::HashSet;
use std::time::Duration;

use super::message::NodeId;

/// How often a node renews its key and checks its peers'.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How long a node's key outlives its last renewal: a dead node's clients vanish from the other
/// nodes within this (plus one check).
pub(crate) const HEARTBEAT_TTL: Duration = Duration::from_secs(5);

/// The key holding `node`'s heartbeat.
pub(crate) fn heartbeat_key(node: NodeId) -> String {
    format!("quire:node:{node}")
}

/// The peers this node has heard from and not yet found gone.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    known: HashSet<NodeId>,
}

impl Liveness {
    /// A message from `node` arrived.
    pub(crate) fn handle_heard(&mut self, node: NodeId) {
        self.known.insert(node);
    }

    /// The peers whose keys to check now, in a stable order.
    pub(crate) fn poll_checks(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self.known.iter().copied().collect();
        nodes.sort_unstable();
        nodes
    }

    /// The keys of `nodes` were checked: `alive[i]` tells whether `nodes[i]`'s exists. Returns
    /// the nodes found gone, each reported once.
    pub(crate) fn handle_checked(&mut self, nodes: &[NodeId], alive: &[bool]) -> Vec<NodeId> {
        let gone: Vec<NodeId> = nodes
            .iter()
            .zip(alive)
            .filter(|(_, alive)| !**alive)
            .map(|(node, _)| *node)
            .collect();
        for node in &gone {
            self.known.remove(node);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_whose_key_expired_is_reported_gone_once() {
        let (first, second) = (NodeId::random(), NodeId::random());
        let mut liveness = Liveness::default();
        assert!(liveness.poll_checks().is_empty(), "nobody heard from yet");
        liveness.handle_heard(first);
        liveness.handle_heard(second);
        liveness.handle_heard(first);
        let checks = liveness.poll_checks();
        assert_eq!(checks.len(), 2);
        let alive: Vec<bool> = checks.iter().map(|node| *node == second).collect();
        assert_eq!(liveness.handle_checked(&checks, &alive), vec![first]);
        assert_eq!(liveness.poll_checks(), vec![second]);
        assert_eq!(liveness.handle_checked(&[second], &[true]), vec![]);
    }

    #[test]
    fn a_peer_heard_from_again_is_watched_again() {
        let node = NodeId::random();
        let mut liveness = Liveness::default();
        liveness.handle_heard(node);
        assert_eq!(liveness.handle_checked(&[node], &[false]), vec![node]);
        assert!(liveness.poll_checks().is_empty());
        liveness.handle_heard(node);
        assert_eq!(liveness.poll_checks(), vec![node]);
    }

    #[test]
    fn keys_name_the_node() {
        let node = NodeId::random();
        assert_eq!(heartbeat_key(node), format!("quire:node:{}", node.0));
    }
}

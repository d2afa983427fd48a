//! Node presence through Zenoh liveliness tokens.

use std::time::Duration;

use striatum_msgs::topics;
use zenoh::sample::SampleKind;

use crate::error::BusError;

/// A node's identity: the robot it serves and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Robot (or sim environment) id; `all` for nodes serving every robot.
    pub robot: String,
    /// Node name.
    pub node: String,
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.robot, self.node)
    }
}

/// Keeps a node's liveliness token declared; the node disappears from `striatum nodes` when
/// this is dropped or its process dies.
pub struct NodeHandle {
    id: NodeId,
    _token: zenoh::liveliness::LivelinessToken,
}

impl NodeHandle {
    pub(crate) async fn declare(
        session: &zenoh::Session,
        robot: &str,
        node: &str,
    ) -> Result<Self, BusError> {
        let key = topics::liveliness_key(robot, node)?;
        let token = session
            .liveliness()
            .declare_token(key)
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self {
            id: NodeId {
                robot: robot.to_owned(),
                node: node.to_owned(),
            },
            _token: token,
        })
    }

    /// The node's identity.
    pub fn id(&self) -> &NodeId {
        &self.id
    }
}

/// A node appearing or disappearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// The node's token appeared.
    Joined(NodeId),
    /// The node's token was undeclared or its session was lost.
    Left(NodeId),
}

/// Streams [`NodeEvent`]s, starting with one `Joined` per node alive at declaration.
pub struct NodeWatcher {
    inner: zenoh::pubsub::Subscriber<flume::Receiver<zenoh::sample::Sample>>,
}

impl NodeWatcher {
    pub(crate) async fn declare(session: &zenoh::Session) -> Result<Self, BusError> {
        let inner = session
            .liveliness()
            .declare_subscriber(topics::liveliness_pattern())
            .history(true)
            .with(flume::unbounded())
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self { inner })
    }

    /// Waits up to `timeout` for the next event.
    pub async fn next(&self, timeout: Duration) -> Result<NodeEvent, BusError> {
        loop {
            let sample = tokio::time::timeout(timeout, self.inner.handler().recv_async())
                .await
                .map_err(|_| BusError::Timeout(timeout))?
                .map_err(|_| BusError::Closed)?;
            // Tokens under our prefix that are not node keys are skipped.
            let Ok((robot, node)) = topics::parse_liveliness_key(sample.key_expr().as_str()) else {
                continue;
            };
            let id = NodeId { robot, node };
            return Ok(match sample.kind() {
                SampleKind::Put => NodeEvent::Joined(id),
                SampleKind::Delete => NodeEvent::Left(id),
            });
        }
    }
}

/// The nodes whose tokens answer within `timeout`, sorted.
pub(crate) async fn live_nodes(
    session: &zenoh::Session,
    timeout: Duration,
) -> Result<Vec<NodeId>, BusError> {
    let replies = session
        .liveliness()
        .get(topics::liveliness_pattern())
        .timeout(timeout)
        .await
        .map_err(BusError::zenoh)?;
    let mut nodes = Vec::new();
    while let Ok(reply) = replies.recv_async().await {
        if let Some((robot, node)) = reply
            .result()
            .ok()
            .and_then(|s| topics::parse_liveliness_key(s.key_expr().as_str()).ok())
        {
            nodes.push(NodeId { robot, node });
        }
    }
    nodes.sort();
    nodes.dedup();
    Ok(nodes)
}

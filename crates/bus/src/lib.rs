//! Striatum's message bus: Zenoh sessions, typed publishers and subscribers with QoS presets,
//! node liveliness and typed services.
//!
//! ```no_run
//! # async fn demo() -> Result<(), striatum_bus::BusError> {
//! use striatum_bus::{Bus, BusConfig, Qos};
//! use striatum_msgs::{JointState, Topic, topics::streams};
//!
//! let bus = Bus::open(&BusConfig::default()).await?;
//! let _alive = bus.declare_node("so101_0", "driver").await?;
//! let topic = Topic::<JointState>::new("so101_0", "driver", streams::JOINT_STATE)?;
//! let publisher = bus.publisher(&topic, Qos::Telemetry).await?;
//! publisher.put(&JointState::default())?;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod health;
mod pubsub;
mod qos;
mod service;

use std::time::Duration;

pub use config::{BusConfig, Mode, RENDEZVOUS_ENDPOINT, free_local_endpoint};
pub use error::BusError;
pub use health::{NodeEvent, NodeHandle, NodeId, NodeWatcher};
pub use pubsub::{
    Publisher, Received, Subscriber, SubscriberStats, announced_type, decode_sample, encoding_for,
};
pub use qos::{Qos, QueuePolicy};
pub use service::Service;
use striatum_msgs::{Message, Topic};
/// Zenoh, re-exported so users reach the raw session without a second dependency.
pub use zenoh;

/// An open Zenoh session with Striatum's typed helpers.
#[derive(Clone)]
pub struct Bus {
    session: zenoh::Session,
}

impl Bus {
    /// Opens a session.
    pub async fn open(config: &BusConfig) -> Result<Self, BusError> {
        let session = zenoh::open(config.to_zenoh()?)
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self { session })
    }

    /// The underlying Zenoh session.
    pub fn session(&self) -> &zenoh::Session {
        &self.session
    }

    /// Declares a publisher of `M` on `topic` with a QoS preset.
    pub async fn publisher<M: Message>(
        &self,
        topic: &Topic<M>,
        qos: Qos,
    ) -> Result<Publisher<M>, BusError> {
        Publisher::declare(&self.session, topic, qos).await
    }

    /// Subscribes to `M` on a key expression (a topic key or a [`striatum_msgs::topics::pattern`]).
    pub async fn subscriber<M: Message>(
        &self,
        key_expr: &str,
        qos: Qos,
    ) -> Result<Subscriber<M>, BusError> {
        Subscriber::declare(&self.session, key_expr, qos.queue()).await
    }

    /// Subscribes to `M` with an explicit subscriber queue instead of the QoS preset's, e.g.
    /// a node that takes one stream from many robots through one wildcard subscription and
    /// needs room for each robot's newest message.
    pub async fn subscriber_with_queue<M: Message>(
        &self,
        key_expr: &str,
        queue: QueuePolicy,
    ) -> Result<Subscriber<M>, BusError> {
        Subscriber::declare(&self.session, key_expr, queue).await
    }

    /// Declares this process as node `node` serving `robot`, visible until the handle drops.
    pub async fn declare_node(&self, robot: &str, node: &str) -> Result<NodeHandle, BusError> {
        NodeHandle::declare(&self.session, robot, node).await
    }

    /// The nodes alive now (those whose tokens answer within `timeout`).
    pub async fn live_nodes(&self, timeout: Duration) -> Result<Vec<NodeId>, BusError> {
        health::live_nodes(&self.session, timeout).await
    }

    /// Watches nodes join and leave.
    pub async fn watch_nodes(&self) -> Result<NodeWatcher, BusError> {
        NodeWatcher::declare(&self.session).await
    }

    /// Serves requests of type `Req` at `key` with `handler`; an `Err` is sent back as text.
    pub async fn serve<Req, Resp, F>(
        &self,
        key: &str,
        handler: F,
    ) -> Result<Service<Req, Resp>, BusError>
    where
        Req: Message,
        Resp: Message,
        F: Fn(Req) -> Result<Resp, String> + Send + Sync + 'static,
    {
        Service::declare(&self.session, key, handler).await
    }

    /// Calls the service at `key`.
    pub async fn call<Req: Message, Resp: Message>(
        &self,
        key: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, BusError> {
        service::call(&self.session, key, request, timeout).await
    }

    /// Closes the session (undeclaring everything it declared).
    pub async fn close(self) -> Result<(), BusError> {
        self.session.close().await.map_err(BusError::zenoh)
    }
}

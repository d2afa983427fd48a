//! Actors and the learner over the bus.
//!
//! - Actors publish every [`msgs::Transition`] the moment it happens on
//!   `striatum/@v1/<robot>/actor/transitions` (reliable QoS), numbered per actor incarnation:
//!   the actor id is `<name>:<incarnation>` (the incarnation a fresh number per process start), so
//!   the learner tells a restarted actor from duplicates and counts losses as gaps.
//! - The learner publishes its policy as [`msgs::PolicyWeights`] chunks on
//!   `striatum/@v1/<run>/learner/weights` (bulk QoS); actors reassemble and act on the newest
//!   complete version. The policy id carries the learner's incarnation, so an actor accepts the
//!   versions of a restarted learner even when they count from a lower number.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use striatum_bus::{Bus, Publisher, Qos, QueuePolicy, Subscriber};
use striatum_msgs as msgs;
use striatum_msgs::topics::{pattern, streams};
use striatum_msgs::{Header, Topic, WeightsAssembler};
use tch::Tensor;

use crate::RlError;
use crate::sac::Weights;

/// Node name actors publish under.
pub const ACTOR_NODE: &str = "actor";
/// Node name the learner publishes under.
pub const LEARNER_NODE: &str = "learner";
/// Largest weights chunk (bytes).
pub const WEIGHTS_CHUNK: usize = 256 * 1024;

fn bus_err(e: impl std::fmt::Display) -> RlError {
    RlError::Transport(e.to_string())
}

/// Serialises policy weights (PyTorch's C++ tensor archive format).
pub fn weights_to_blob(weights: &Weights) -> Result<Vec<u8>, RlError> {
    let mut out = Vec::new();
    Tensor::save_multi_to_stream(weights, &mut out).map_err(|e| RlError::Torch(e.to_string()))?;
    Ok(out)
}

/// Reads weights written by [`weights_to_blob`].
pub fn blob_to_weights(blob: &[u8]) -> Result<Weights, RlError> {
    let mut w = Tensor::load_multi_from_stream(Cursor::new(blob))
        .map_err(|e| RlError::Input(format!("policy weights blob: {e}")))?;
    w.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(w)
}

/// A number that differs between two starts of the same process (nanoseconds since the Unix
/// epoch at the call).
pub fn incarnation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `<name>:<incarnation>`.
pub fn actor_id(name: &str, incarnation: u64) -> String {
    format!("{name}:{incarnation:x}")
}

/// Splits an actor id into its name and incarnation.
pub fn parse_actor_id(id: &str) -> Option<(&str, u64)> {
    let (name, inc) = id.rsplit_once(':')?;
    Some((name, u64::from_str_radix(inc, 16).ok()?))
}

/// What the sequence number of an arriving transition says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The next one expected (or the first of an actor).
    InOrder,
    /// Seen already (or older than the newest): drop it.
    Duplicate,
    /// New, but `n` transitions before it never arrived.
    Gap(u64),
    /// The first of a new incarnation of a known actor.
    Restart,
    /// From an older incarnation than the newest seen: drop it.
    Stale,
}

impl Arrival {
    /// Whether the transition should be stored.
    pub fn accept(self) -> bool {
        matches!(self, Arrival::InOrder | Arrival::Gap(_) | Arrival::Restart)
    }
}

/// Transport counters, totals over actors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransportCounters {
    /// Transitions accepted.
    pub accepted: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Transitions known lost (sequence gaps).
    pub lost: u64,
    /// Transitions from superseded incarnations dropped.
    pub stale: u64,
    /// Actor restarts seen (a new incarnation of a known name).
    pub restarts: u64,
    /// Actor names seen.
    pub actors: u64,
    /// Messages with an unreadable actor id.
    pub bad_ids: u64,
}

#[derive(Debug, Clone, Copy)]
struct ActorSeq {
    incarnation: u64,
    next: u64,
}

/// Tracks each actor's sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    actors: BTreeMap<String, ActorSeq>,
    counters: TransportCounters,
}

impl SeqTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Classifies transition `seq` from `actor_id` and updates the counters.
    pub fn observe(&mut self, actor_id: &str, seq: u64) -> Arrival {
        let Some((name, inc)) = parse_actor_id(actor_id) else {
            self.counters.bad_ids += 1;
            return Arrival::Stale;
        };
        let c = &mut self.counters;
        let arrival = match self.actors.get_mut(name) {
            None => {
                c.actors += 1;
                self.actors.insert(
                    name.to_string(),
                    ActorSeq {
                        incarnation: inc,
                        next: seq + 1,
                    },
                );
                if seq == 0 {
                    Arrival::InOrder
                } else {
                    c.lost += seq;
                    Arrival::Gap(seq)
                }
            }
            Some(a) if inc < a.incarnation => {
                c.stale += 1;
                Arrival::Stale
            }
            Some(a) if inc > a.incarnation => {
                c.restarts += 1;
                c.lost += seq;
                *a = ActorSeq {
                    incarnation: inc,
                    next: seq + 1,
                };
                Arrival::Restart
            }
            Some(a) if seq < a.next => {
                c.duplicates += 1;
                Arrival::Duplicate
            }
            Some(a) => {
                let gap = seq - a.next;
                a.next = seq + 1;
                if gap == 0 {
                    Arrival::InOrder
                } else {
                    c.lost += gap;
                    Arrival::Gap(gap)
                }
            }
        };
        if arrival.accept() {
            self.counters.accepted += 1;
        }
        arrival
    }

    /// The counters so far.
    pub fn counters(&self) -> TransportCounters {
        self.counters
    }
}

/// An actor's outgoing transitions: fills in its id and the next sequence number.
pub struct TransitionOutbox {
    publisher: Publisher<msgs::Transition>,
    actor_id: String,
    next_seq: u64,
}

impl TransitionOutbox {
    /// Declares the publisher on `striatum/@v1/<robot>/actor/transitions`.
    pub async fn new(bus: &Bus, robot: &str, actor_name: &str) -> Result<Self, RlError> {
        let topic = Topic::new(robot, ACTOR_NODE, streams::TRANSITIONS).map_err(bus_err)?;
        let publisher = bus
            .publisher(&topic, Qos::Reliable)
            .await
            .map_err(bus_err)?;
        Ok(TransitionOutbox {
            publisher,
            actor_id: actor_id(actor_name, incarnation()),
            next_seq: 0,
        })
    }

    /// This actor's id.
    pub fn actor_id(&self) -> &str {
        &self.actor_id
    }

    /// Transitions sent.
    pub fn sent(&self) -> u64 {
        self.next_seq
    }

    /// Sends one transition now (its `actor_id` and `seq` are overwritten).
    pub fn send(&mut self, mut t: msgs::Transition) -> Result<(), RlError> {
        t.actor_id.clone_from(&self.actor_id);
        t.seq = self.next_seq;
        self.publisher.put(&t).map_err(bus_err)?;
        self.next_seq += 1;
        Ok(())
    }
}

/// The learner's view of every actor's transitions.
pub struct TransitionInbox {
    subscriber: Subscriber<msgs::Transition>,
    tracker: SeqTracker,
}

impl TransitionInbox {
    /// Subscribes to `striatum/@v1/*/actor/transitions`.
    pub async fn new(bus: &Bus) -> Result<Self, RlError> {
        let key = pattern(None, Some(ACTOR_NODE), Some(streams::TRANSITIONS)).map_err(bus_err)?;
        let subscriber = bus
            .subscriber_with_queue(&key, QueuePolicy::Fifo(1 << 16))
            .await
            .map_err(bus_err)?;
        Ok(TransitionInbox {
            subscriber,
            tracker: SeqTracker::new(),
        })
    }

    /// Every transition waiting, minus duplicates and stale ones.
    pub fn drain(&mut self) -> Vec<msgs::Transition> {
        self.subscriber
            .drain()
            .into_iter()
            .filter(|r| self.tracker.observe(&r.msg.actor_id, r.msg.seq).accept())
            .map(|r| r.msg)
            .collect()
    }

    /// Waits up to `timeout` for at least one transition, then drains.
    pub fn wait(&mut self, timeout: Duration) -> Vec<msgs::Transition> {
        match self.subscriber.recv_timeout(timeout) {
            Ok(first) => {
                let mut out = Vec::new();
                if self
                    .tracker
                    .observe(&first.msg.actor_id, first.msg.seq)
                    .accept()
                {
                    out.push(first.msg);
                }
                out.extend(self.drain());
                out
            }
            Err(_) => Vec::new(),
        }
    }

    /// Sequence counters.
    pub fn counters(&self) -> TransportCounters {
        self.tracker.counters()
    }

    /// Payloads the decoder refused (malformed transitions).
    pub fn decode_errors(&self) -> u64 {
        self.subscriber.stats().decode_errors
    }

    /// Good transitions dropped because the learner fell behind.
    pub fn dropped(&self) -> u64 {
        self.subscriber.stats().dropped
    }
}

/// The learner's weights publisher.
pub struct WeightsBroadcaster {
    publisher: Publisher<msgs::PolicyWeights>,
    policy_id: String,
    published: u64,
}

impl WeightsBroadcaster {
    /// Declares the publisher on `striatum/@v1/<run>/learner/weights`; the policy id is
    /// `<run>:<incarnation>`.
    pub async fn new(bus: &Bus, run: &str) -> Result<Self, RlError> {
        let topic = Topic::new(run, LEARNER_NODE, streams::WEIGHTS).map_err(bus_err)?;
        let publisher = bus.publisher(&topic, Qos::Bulk).await.map_err(bus_err)?;
        Ok(WeightsBroadcaster {
            publisher,
            policy_id: actor_id(run, incarnation()),
            published: 0,
        })
    }

    /// Publishes `weights` as `version` (chunked, checksummed).
    pub fn publish(&mut self, version: u64, weights: &Weights) -> Result<(), RlError> {
        let blob = weights_to_blob(weights)?;
        let chunks = msgs::PolicyWeights::split(
            Header::now(""),
            &self.policy_id,
            version,
            &blob,
            WEIGHTS_CHUNK,
        )
        .map_err(bus_err)?;
        for c in &chunks {
            self.publisher.put(c).map_err(bus_err)?;
        }
        self.published += 1;
        Ok(())
    }

    /// Versions published.
    pub fn published(&self) -> u64 {
        self.published
    }
}

/// An actor's view of the learner's weights.
pub struct WeightsInbox {
    subscriber: Subscriber<msgs::PolicyWeights>,
    assembler: WeightsAssembler,
    policy_id: Option<String>,
    rejected: u64,
}

/// A complete policy version.
pub struct PolicyUpdate {
    /// Which learner incarnation published it.
    pub policy_id: String,
    /// Learner version (update count).
    pub version: u64,
    /// When the learner published it (ns since the Unix epoch).
    pub stamp_ns: i64,
    /// The weights.
    pub weights: Weights,
}

impl WeightsInbox {
    /// Subscribes to `striatum/@v1/<run>/learner/weights`.
    pub async fn new(bus: &Bus, run: &str) -> Result<Self, RlError> {
        let topic: Topic<msgs::PolicyWeights> =
            Topic::new(run, LEARNER_NODE, streams::WEIGHTS).map_err(bus_err)?;
        let subscriber = bus
            .subscriber_with_queue(topic.key(), QueuePolicy::Fifo(1024))
            .await
            .map_err(bus_err)?;
        Ok(WeightsInbox {
            subscriber,
            assembler: WeightsAssembler::new(),
            policy_id: None,
            rejected: 0,
        })
    }

    /// The newest complete version among the chunks that have arrived, if any is newer than
    /// the last one returned. Corrupt blobs are counted and skipped.
    pub fn poll(&mut self) -> Option<PolicyUpdate> {
        let mut newest = None;
        for r in self.subscriber.drain() {
            let chunk = r.msg;
            if self.policy_id.as_deref() != Some(chunk.policy_id.as_str()) {
                // A new learner incarnation: its versions start afresh.
                self.policy_id = Some(chunk.policy_id.clone());
                self.assembler = WeightsAssembler::new();
            }
            let stamp = chunk.header.stamp_ns;
            match self.assembler.push(chunk) {
                Ok(Some(done)) => match blob_to_weights(&done.blob) {
                    Ok(weights) => {
                        newest = Some(PolicyUpdate {
                            policy_id: done.policy_id,
                            version: done.version,
                            stamp_ns: stamp,
                            weights,
                        })
                    }
                    Err(_) => self.rejected += 1,
                },
                Ok(None) => {}
                Err(_) => self.rejected += 1,
            }
        }
        newest
    }

    /// Blobs or chunks refused (checksum, inconsistent chunks, unreadable archive), plus
    /// payloads the decoder refused.
    pub fn rejected(&self) -> u64 {
        self.rejected + self.subscriber.stats().decode_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_reveal_duplicates_gaps_and_restarts() {
        let mut t = SeqTracker::new();
        let a = actor_id("sim0", 5);
        assert_eq!(t.observe(&a, 0), Arrival::InOrder);
        assert_eq!(t.observe(&a, 1), Arrival::InOrder);
        assert_eq!(t.observe(&a, 1), Arrival::Duplicate);
        assert_eq!(t.observe(&a, 4), Arrival::Gap(2));
        assert_eq!(t.observe(&a, 3), Arrival::Duplicate);
        // The same actor restarts: a new incarnation counts from zero.
        let a2 = actor_id("sim0", 9);
        assert_eq!(t.observe(&a2, 0), Arrival::Restart);
        assert_eq!(t.observe(&a2, 1), Arrival::InOrder);
        // A late message of the dead incarnation is dropped.
        assert_eq!(t.observe(&a, 5), Arrival::Stale);
        // Another actor is independent.
        assert_eq!(t.observe(&actor_id("sim1", 1), 0), Arrival::InOrder);
        assert_eq!(t.observe("no-incarnation", 0), Arrival::Stale);
        let c = t.counters();
        assert_eq!(
            (
                c.accepted,
                c.duplicates,
                c.lost,
                c.restarts,
                c.stale,
                c.actors,
                c.bad_ids
            ),
            (6, 2, 2, 1, 1, 2, 1)
        );
    }

    #[test]
    fn actor_ids_round_trip() {
        let id = actor_id("sim.arm-0", 0xdead_beef);
        assert_eq!(parse_actor_id(&id), Some(("sim.arm-0", 0xdead_beef)));
        assert_eq!(parse_actor_id("x:zz"), None);
    }

    #[test]
    fn weights_blob_round_trips_and_garbage_is_refused() {
        let w: Weights = vec![
            ("a.weight".into(), Tensor::from_slice(&[1.0f32, 2.0, 3.0])),
            ("b".into(), Tensor::from_slice(&[4.0f32]).view([1, 1])),
        ];
        let back = blob_to_weights(&weights_to_blob(&w).unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        for ((n1, t1), (n2, t2)) in w.iter().zip(&back) {
            assert_eq!(n1, n2);
            assert!(t1.equal(t2));
        }
        assert!(blob_to_weights(b"not an archive").is_err());
    }
}

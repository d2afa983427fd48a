//! Typed publishers and subscribers.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use striatum_msgs::{DecodeError, Message, Topic};
use zenoh::Wait;
use zenoh::bytes::Encoding;
use zenoh::sample::Sample;

use crate::error::BusError;
use crate::qos::{Qos, QueuePolicy};

/// The Zenoh encoding every Striatum sample carries: CDR with the message type as schema.
pub fn encoding_for<M: Message>() -> Encoding {
    Encoding::APPLICATION_CDR.with_schema(M::TYPE_NAME)
}

/// The message type a sample announces in its encoding schema, if any.
pub fn announced_type(sample: &Sample) -> Option<String> {
    schema_of(sample.encoding())
}

/// The schema part of an encoding (`application/cdr;<schema>`), if any.
pub fn schema_of(encoding: &Encoding) -> Option<String> {
    let text = encoding.to_string();
    text.split_once(';')
        .map(|(_, schema)| schema.to_owned())
        .filter(|schema| !schema.is_empty())
}

/// Decodes a sample as `M`, checking the announced type first (a sample without a schema, as
/// a foreign CDR peer may send, is decoded on trust).
pub fn decode_sample<M: Message>(sample: &Sample) -> Result<M, DecodeError> {
    check_announced::<M>(announced_type(sample))?;
    M::decode(&sample.payload().to_bytes())
}

/// Rejects a payload that announces a type other than `M` (no announcement is accepted).
pub(crate) fn check_announced<M: Message>(announced: Option<String>) -> Result<(), DecodeError> {
    match announced {
        Some(found) if found != M::TYPE_NAME => Err(DecodeError::WrongType {
            expected: M::TYPE_NAME,
            found,
        }),
        _ => Ok(()),
    }
}

/// Sends messages of one type on one topic.
pub struct Publisher<M: Message> {
    inner: zenoh::pubsub::Publisher<'static>,
    key: String,
    sent: AtomicU64,
    _message: PhantomData<fn(M)>,
}

impl<M: Message> Publisher<M> {
    pub(crate) async fn declare(
        session: &zenoh::Session,
        topic: &Topic<M>,
        qos: Qos,
    ) -> Result<Self, BusError> {
        let inner = session
            .declare_publisher(topic.key().to_owned())
            .encoding(encoding_for::<M>())
            .congestion_control(qos.congestion_control())
            .priority(qos.priority())
            .express(qos.express())
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self {
            inner,
            key: topic.key().to_owned(),
            sent: AtomicU64::new(0),
            _message: PhantomData,
        })
    }

    /// Validates, encodes and sends one message.
    pub fn put(&self, msg: &M) -> Result<(), BusError> {
        let bytes = msg.encode()?;
        self.put_encoded(bytes)
    }

    /// Sends a payload already produced by [`Message::encode`] (useful for fan-out).
    pub fn put_encoded(&self, bytes: Vec<u8>) -> Result<(), BusError> {
        self.inner.put(bytes).wait().map_err(BusError::zenoh)?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The key published on.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// A received message and the key it arrived on.
#[derive(Debug, Clone, PartialEq)]
pub struct Received<M> {
    /// The concrete key (useful with wildcard subscriptions).
    pub key: String,
    /// The decoded message.
    pub msg: M,
}

/// Counters of one subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Messages decoded and queued.
    pub received: u64,
    /// Payloads rejected by the decoder (bad bytes, wrong type, invalid content).
    pub decode_errors: u64,
    /// Good messages dropped because the consumer fell behind (see [`QueuePolicy`]).
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    decode_errors: AtomicU64,
    dropped: AtomicU64,
}

/// Logs at most one line per interval and counts the lines it held back.
struct RateLimitedLog {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    fn warn(&self, key: &str, err: &DecodeError) {
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_some_and(|t| now.duration_since(t) < self.interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        let held_back = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(key, held_back, "dropped a bad payload: {err}");
    }
}

/// Receives messages of one type from a key expression (wildcards allowed).
///
/// Decoding happens on Zenoh's thread; bad payloads are counted, logged at most once per
/// second, and never stop the subscription.
pub struct Subscriber<M: Message> {
    _inner: zenoh::pubsub::Subscriber<()>,
    rx: flume::Receiver<Received<M>>,
    counters: Arc<Counters>,
    key_expr: String,
}

impl<M: Message> Subscriber<M> {
    pub(crate) async fn declare(
        session: &zenoh::Session,
        key_expr: &str,
        queue: QueuePolicy,
    ) -> Result<Self, BusError> {
        let capacity = match queue {
            QueuePolicy::Latest(n) | QueuePolicy::Fifo(n) => n.max(1),
        };
        let (tx, rx) = flume::bounded::<Received<M>>(capacity);
        let counters = Arc::new(Counters::default());
        let log = RateLimitedLog::new(Duration::from_secs(1));
        let cb_counters = counters.clone();
        let cb_rx = rx.clone();
        let inner = session
            .declare_subscriber(key_expr.to_owned())
            .callback(move |sample: Sample| {
                let key = sample.key_expr().as_str().to_owned();
                match decode_sample::<M>(&sample) {
                    Ok(msg) => {
                        let mut item = Received { key, msg };
                        loop {
                            match tx.try_send(item) {
                                Ok(()) => {
                                    cb_counters.received.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                                Err(flume::TrySendError::Full(back)) => {
                                    cb_counters.dropped.fetch_add(1, Ordering::Relaxed);
                                    match queue {
                                        QueuePolicy::Latest(_) => {
                                            let _ = cb_rx.try_recv();
                                            item = back;
                                        }
                                        QueuePolicy::Fifo(_) => break,
                                    }
                                }
                                Err(flume::TrySendError::Disconnected(_)) => break,
                            }
                        }
                    }
                    Err(err) => {
                        cb_counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                        log.warn(&key, &err);
                    }
                }
            })
            .await
            .map_err(BusError::zenoh)?;
        Ok(Self {
            _inner: inner,
            rx,
            counters,
            key_expr: key_expr.to_owned(),
        })
    }

    /// Waits for the next message.
    pub async fn recv(&self) -> Result<Received<M>, BusError> {
        self.rx.recv_async().await.map_err(|_| BusError::Closed)
    }

    /// Waits up to `timeout` for the next message, blocking the thread.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Received<M>, BusError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            flume::RecvTimeoutError::Timeout => BusError::Timeout(timeout),
            flume::RecvTimeoutError::Disconnected => BusError::Closed,
        })
    }

    /// The next queued message, if any, without waiting.
    pub fn try_recv(&self) -> Option<Received<M>> {
        self.rx.try_recv().ok()
    }

    /// Everything queued now, oldest first.
    pub fn drain(&self) -> Vec<Received<M>> {
        self.rx.drain().collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.counters.received.load(Ordering::Relaxed),
            decode_errors: self.counters.decode_errors.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    /// The key expression subscribed to.
    pub fn key_expr(&self) -> &str {
        &self.key_expr
    }
}

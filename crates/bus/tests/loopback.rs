//! Sessions talking over loopback TCP: typed pub/sub, bad payloads, liveliness, services.

use std::time::{Duration, Instant};

use striatum_bus::{Bus, BusConfig, BusError, NodeEvent, Qos, free_local_endpoint};
use striatum_msgs::topics::{self, streams};
use striatum_msgs::{Header, Heartbeat, JointState, Message, NodeState, ProgressReward, Topic};

/// Two sessions: `a` listens on a fresh loopback port, `b` connects to it.
async fn pair() -> anyhow::Result<(Bus, Bus)> {
    let endpoint = free_local_endpoint()?;
    let a = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let b = Bus::open(&BusConfig::isolated(&[], std::slice::from_ref(&endpoint))).await?;
    Ok((a, b))
}

fn joint_state(i: u32) -> JointState {
    JointState {
        header: Header::new(i64::from(i), "base"),
        names: vec!["a".into(), "b".into()],
        positions: vec![f64::from(i), -f64::from(i)],
        velocities: vec![],
        efforts: vec![],
    }
}

/// Publishes `msg` until the subscriber's first message arrives (subscriptions propagate
/// asynchronously), then sends a marker and reads up to it, so no probe is left in flight.
async fn wait_until_connected<M: Message + PartialEq>(
    publisher: &striatum_bus::Publisher<M>,
    subscriber: &striatum_bus::Subscriber<M>,
    msg: &M,
    marker: &M,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while subscriber.try_recv().is_none() {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "never connected");
        publisher.put(msg)?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.put(marker)?;
    loop {
        let got = tokio::time::timeout(Duration::from_secs(30), subscriber.recv()).await??;
        if &got.msg == marker {
            return Ok(());
        }
    }
}

/// The message [`wait_until_connected`] ends on: a joint state no test sends otherwise.
fn marker() -> JointState {
    JointState {
        header: Header::new(0, "sync"),
        names: vec!["sync".into()],
        positions: vec![0.0],
        velocities: vec![],
        efforts: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_exchange_typed_messages_in_order() -> anyhow::Result<()> {
    let (a, b) = pair().await?;
    let topic = Topic::<JointState>::new("arm0", "driver", streams::JOINT_STATE)?;
    let publisher = a.publisher(&topic, Qos::Reliable).await?;
    let subscriber = b
        .subscriber::<JointState>(
            &topics::pattern(None, None, Some(streams::JOINT_STATE))?,
            Qos::Reliable,
        )
        .await?;
    wait_until_connected(&publisher, &subscriber, &joint_state(0), &marker()).await?;
    for i in 1..=100 {
        publisher.put(&joint_state(i))?;
    }
    for i in 1..=100 {
        let got = subscriber.recv_timeout(Duration::from_secs(5))?;
        assert_eq!(got.key, topic.key());
        assert_eq!(got.msg, joint_state(i));
    }
    assert_eq!(subscriber.stats().decode_errors, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_fed_garbage_keeps_delivering_good_messages() -> anyhow::Result<()> {
    let (a, b) = pair().await?;
    let topic = Topic::<JointState>::new("arm0", "driver", streams::JOINT_STATE)?;
    let publisher = a.publisher(&topic, Qos::Reliable).await?;
    let subscriber = b
        .subscriber::<JointState>(topic.key(), Qos::Reliable)
        .await?;
    wait_until_connected(&publisher, &subscriber, &joint_state(0), &marker()).await?;

    let session = a.session();
    let good = joint_state(7).encode()?;
    let mut nan = joint_state(8);
    nan.positions[0] = f64::NAN;
    let mut nan_bytes = {
        let mut w = striatum_msgs::cdr::CdrWriter::default();
        striatum_msgs::CdrStruct::write_cdr(&nan, &mut w)?;
        w.into_bytes()
    };
    let garbage: Vec<(Vec<u8>, striatum_bus::zenoh::bytes::Encoding)> = vec![
        // Truncated.
        (
            good[..good.len() - 3].to_vec(),
            striatum_bus::encoding_for::<JointState>(),
        ),
        // Random bytes with no type announced.
        (
            vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
            striatum_bus::zenoh::bytes::Encoding::default(),
        ),
        // A NaN position.
        (
            std::mem::take(&mut nan_bytes),
            striatum_bus::encoding_for::<JointState>(),
        ),
        // A valid payload of another type.
        (
            Heartbeat {
                header: Header::default(),
                node: "x".into(),
                seq: 0,
                state: NodeState::Running,
                uptime_ns: 0,
                messages_in: 0,
                messages_out: 0,
                decode_errors: 0,
            }
            .encode()?,
            striatum_bus::encoding_for::<Heartbeat>(),
        ),
    ];
    let n_bad = garbage.len() as u64;
    for round in 0..3u32 {
        for (bytes, encoding) in &garbage {
            session
                .put(topic.key(), bytes.clone())
                .encoding(encoding.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        publisher.put(&joint_state(100 + round))?;
    }
    for round in 0..3u32 {
        let got = subscriber.recv_timeout(Duration::from_secs(5))?;
        assert_eq!(got.msg, joint_state(100 + round));
    }
    let stats = subscriber.stats();
    assert_eq!(stats.decode_errors, 3 * n_bad, "{stats:?}");
    assert!(subscriber.try_recv().is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_wins_queues_drop_the_oldest() -> anyhow::Result<()> {
    let (a, b) = pair().await?;
    let topic = Topic::<JointState>::new("arm0", "cam", streams::FRAMES)?;
    // Frames QoS keeps the newest 2; publish reliably so nothing is lost on the wire.
    let publisher = a.publisher(&topic, Qos::Reliable).await?;
    let subscriber = b.subscriber::<JointState>(topic.key(), Qos::Frames).await?;
    wait_until_connected(&publisher, &subscriber, &joint_state(0), &marker()).await?;
    let before = subscriber.stats();
    for i in 1..=20 {
        publisher.put(&joint_state(i))?;
    }
    let start = Instant::now();
    // Every message is queued (evicting an older one when full), so `received` grows by 20.
    while subscriber.stats().received - before.received < 20 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(5),
            "messages missing: {:?}",
            subscriber.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<JointState> = subscriber.drain().into_iter().map(|r| r.msg).collect();
    assert_eq!(left, vec![joint_state(19), joint_state(20)]);
    assert_eq!(subscriber.stats().dropped - before.dropped, 18);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveliness_token_disappears_when_its_node_is_dropped() -> anyhow::Result<()> {
    let (a, b) = pair().await?;
    let watcher = b.watch_nodes().await?;
    let node = a.declare_node("arm0", "reward").await?;
    assert_eq!(
        watcher.next(Duration::from_secs(5)).await?,
        NodeEvent::Joined(node.id().clone())
    );
    let live = b.live_nodes(Duration::from_secs(10)).await?;
    assert!(live.contains(node.id()), "{live:?}");
    let id = node.id().clone();
    drop(node);
    assert_eq!(
        watcher.next(Duration::from_secs(5)).await?,
        NodeEvent::Left(id.clone())
    );
    let live = b.live_nodes(Duration::from_secs(10)).await?;
    assert!(!live.contains(&id), "{live:?}");

    // A node whose whole session goes away disappears too.
    let other = a.declare_node("arm0", "learner").await?;
    assert_eq!(
        watcher.next(Duration::from_secs(5)).await?,
        NodeEvent::Joined(other.id().clone())
    );
    a.close().await?;
    assert_eq!(
        watcher.next(Duration::from_secs(10)).await?,
        NodeEvent::Left(other.id().clone())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_answer_typed_requests_and_report_bad_ones() -> anyhow::Result<()> {
    let (a, b) = pair().await?;
    let key = "striatum/@v1/arm0/reward/score";
    let _service = a
        .serve::<JointState, ProgressReward, _>(key, |js| {
            let p = js.positions.first().copied().ok_or("no joints")?;
            Ok(ProgressReward {
                header: js.header,
                episode_id: 1,
                step: 2,
                progress: p as f32,
                progress_delta: 0.0,
                done_prob: 0.0,
                done: false,
                uncertainty: 0.0,
                per_view: vec![],
                model_id: "test".into(),
                inference_ns: 0,
            })
        })
        .await?;
    let start = Instant::now();
    let reply = loop {
        match b
            .call::<JointState, ProgressReward>(key, &joint_state(0), Duration::from_secs(1))
            .await
        {
            Ok(r) => break r,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = e;
            }
            Err(e) => return Err(e.into()),
        }
    };
    assert_eq!(reply.progress, 0.0);
    let mut half = joint_state(0);
    half.positions = vec![0.5, 0.5];
    let reply = b
        .call::<JointState, ProgressReward>(key, &half, Duration::from_secs(10))
        .await?;
    assert_eq!(reply.progress, 0.5);

    // The handler's own error and an invalid reply both come back as errors.
    let empty = JointState::default();
    let err = b
        .call::<JointState, ProgressReward>(key, &empty, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Remote { message, .. } if message.contains("no joints")),
        "{err}"
    );
    let mut too_far = joint_state(0);
    too_far.positions = vec![3.0, 0.0];
    let err = b
        .call::<JointState, ProgressReward>(key, &too_far, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Remote { message, .. } if message.contains("progress")),
        "{err}"
    );
    // A request of the wrong type is refused by the service, not misread.
    let err = b
        .call::<Heartbeat, ProgressReward>(
            key,
            &Heartbeat {
                header: Header::default(),
                node: "n".into(),
                seq: 1,
                state: NodeState::Running,
                uptime_ns: 0,
                messages_in: 0,
                messages_out: 0,
                decode_errors: 0,
            },
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Remote { message, .. } if message.contains("wrong message type")),
        "{err}"
    );
    Ok(())
}

/// The embedded default (no endpoints given) meets other local nodes through the loopback
/// rendezvous and keeps working when the node holding the rendezvous port leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sessions_find_each_other_without_a_server() -> anyhow::Result<()> {
    let first = Bus::open(&BusConfig::default()).await?;
    let second = Bus::open(&BusConfig::default()).await?;
    let third = Bus::open(&BusConfig::default()).await?;
    let topic = Topic::<JointState>::new("arm9", "rendezvous_test", streams::JOINT_STATE)?;
    let p2 = second.publisher(&topic, Qos::Reliable).await?;
    let s3 = third
        .subscriber::<JointState>(topic.key(), Qos::Reliable)
        .await?;
    wait_until_connected(&p2, &s3, &joint_state(0), &marker()).await?;
    let s1 = first
        .subscriber::<JointState>(topic.key(), Qos::Reliable)
        .await?;
    wait_until_connected(&p2, &s1, &joint_state(0), &marker()).await?;
    s3.drain();

    // The first session most likely holds 127.0.0.1:7447; the others keep talking without it.
    first.close().await?;
    s3.drain();
    wait_until_connected(&p2, &s3, &joint_state(5), &marker()).await?;

    // A node started after that takes over the rendezvous, and the others reconnect to it.
    let fourth = Bus::open(&BusConfig::default()).await?;
    let p4 = fourth.publisher(&topic, Qos::Reliable).await?;
    wait_until_connected(&p4, &s3, &joint_state(6), &marker()).await?;
    Ok(())
}

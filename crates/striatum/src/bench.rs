//! `striatum bench bus`: publish-to-receive latency between two sessions on loopback.

use std::time::{Duration, Instant};

use anyhow::Context;
use striatum_bus::{Bus, BusConfig, Qos, free_local_endpoint};
use striatum_msgs::examples::{arm_joint_state, camera_frame};
use striatum_msgs::topics::streams;
use striatum_msgs::{Message, Topic};

/// Latency statistics of one message kind, in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyRow {
    /// What was sent.
    pub label: String,
    /// Encoded size in bytes.
    pub bytes: usize,
    /// Samples measured.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Worst.
    pub max_us: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn measure<M: Message>(
    tx: &Bus,
    rx: &Bus,
    stream: &str,
    qos: Qos,
    msg: M,
    samples: usize,
    label: &str,
) -> anyhow::Result<LatencyRow> {
    let topic = Topic::<M>::new("bench", "bench", stream)?;
    let publisher = tx.publisher(&topic, qos).await?;
    let subscriber = rx.subscriber::<M>(topic.key(), qos).await?;
    // Wait until the subscription has propagated.
    let ready = Instant::now();
    loop {
        publisher.put(&msg)?;
        if subscriber.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(10),
            "subscriber never received anything"
        );
    }
    subscriber.drain();
    let warmup = samples / 10 + 10;
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples + warmup {
        let t0 = Instant::now();
        publisher.put(&msg)?;
        subscriber
            .recv_timeout(Duration::from_secs(2))
            .with_context(|| format!("{label}: message {i} never arrived"))?;
        if i >= warmup {
            lat.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    lat.sort_by(f64::total_cmp);
    Ok(LatencyRow {
        label: label.to_owned(),
        bytes: msg.encode()?.len(),
        samples,
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(f64::NAN),
    })
}

/// Measures one-way latency (encode, send, route, receive, decode) between two sessions
/// connected over loopback TCP, one message in flight at a time.
pub async fn bus_latency(samples: usize) -> anyhow::Result<Vec<LatencyRow>> {
    let endpoint = free_local_endpoint()?;
    let a = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let b = Bus::open(&BusConfig::isolated(&[], std::slice::from_ref(&endpoint))).await?;
    let rows = vec![
        measure(
            &a,
            &b,
            streams::JOINT_STATE,
            Qos::Telemetry,
            arm_joint_state(1),
            samples,
            "JointState (6 joints)",
        )
        .await?,
        measure(
            &a,
            &b,
            streams::FRAMES,
            Qos::Frames,
            camera_frame(1, 128),
            samples,
            "MultiViewFrame 3x128x128 rgb8",
        )
        .await?,
    ];
    a.close().await?;
    b.close().await?;
    Ok(rows)
}

/// Prints the rows as a table.
pub fn print_table(rows: &[LatencyRow]) {
    println!(
        "{:<32} {:>9} {:>8} {:>10} {:>10} {:>10}",
        "message", "bytes", "samples", "p50 (us)", "p99 (us)", "max (us)"
    );
    for r in rows {
        println!(
            "{:<32} {:>9} {:>8} {:>10.1} {:>10.1} {:>10.1}",
            r.label, r.bytes, r.samples, r.p50_us, r.p99_us, r.max_us
        );
    }
}

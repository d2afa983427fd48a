//! `striatum topic ...` and `striatum nodes`: looking at the bus.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use striatum_bus::zenoh::sample::Sample;
use striatum_bus::{Bus, NodeEvent, announced_type};
use striatum_msgs::AnyMessage;

fn describe(sample: &Sample) -> (String, Result<AnyMessage, String>) {
    let type_name = announced_type(sample).unwrap_or_else(|| "<no type announced>".into());
    let decoded =
        AnyMessage::decode(&type_name, &sample.payload().to_bytes()).map_err(|e| e.to_string());
    (type_name, decoded)
}

async fn raw_subscriber(
    bus: &Bus,
    key: &str,
) -> anyhow::Result<striatum_bus::zenoh::pubsub::Subscriber<flume::Receiver<Sample>>> {
    bus.session()
        .declare_subscriber(key.to_owned())
        .with(flume::bounded(4096))
        .await
        .map_err(|e| anyhow::anyhow!("cannot subscribe to `{key}`: {e}"))
}

/// Prints every message on `key`, decoded.
pub async fn echo(
    bus: &Bus,
    key: &str,
    count: Option<u64>,
    duration: Option<f64>,
    compact: bool,
) -> anyhow::Result<()> {
    let sub = raw_subscriber(bus, key).await?;
    let deadline = duration.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        let Ok(Ok(sample)) = tokio::time::timeout(wait, sub.handler().recv_async()).await else {
            break;
        };
        seen += 1;
        let (type_name, decoded) = describe(&sample);
        match decoded {
            Ok(msg) if compact => println!("{} {type_name} {msg:?}", sample.key_expr()),
            Ok(msg) => println!("--- {} [{type_name}]\n{msg:#?}", sample.key_expr()),
            Err(e) => println!(
                "--- {} [{type_name}] {} bytes that do not decode: {e}",
                sample.key_expr(),
                sample.payload().len()
            ),
        }
    }
    Ok(())
}

/// Prints the message rate on `key` once a second.
pub async fn hz(bus: &Bus, key: &str, window: usize, duration: Option<f64>) -> anyhow::Result<()> {
    let sub = raw_subscriber(bus, key).await?;
    let start = Instant::now();
    let mut arrivals: std::collections::VecDeque<(Instant, usize)> = Default::default();
    let mut next_report = start + Duration::from_secs(1);
    let mut total = 0u64;
    loop {
        if duration.is_some_and(|d| start.elapsed().as_secs_f64() >= d) {
            break;
        }
        let wait = next_report.saturating_duration_since(Instant::now());
        if let Ok(Ok(sample)) = tokio::time::timeout(wait, sub.handler().recv_async()).await {
            total += 1;
            arrivals.push_back((Instant::now(), sample.payload().len()));
            while arrivals.len() > window.max(2) {
                arrivals.pop_front();
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            println!("{}", rate_line(&arrivals, total));
        }
    }
    Ok(())
}

fn rate_line(arrivals: &std::collections::VecDeque<(Instant, usize)>, total: u64) -> String {
    if arrivals.len() < 2 {
        return format!("no rate yet ({total} messages)");
    }
    let gaps: Vec<f64> = arrivals
        .iter()
        .zip(arrivals.iter().skip(1))
        .map(|(a, b)| b.0.duration_since(a.0).as_secs_f64())
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let std = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let max = gaps.iter().copied().fold(0.0, f64::max);
    let bytes: usize = arrivals.iter().map(|a| a.1).sum();
    let span = arrivals
        .back()
        .map(|b| b.0)
        .zip(arrivals.front().map(|f| f.0));
    let bps = span.map_or(0.0, |(b, f)| {
        bytes as f64 / b.duration_since(f).as_secs_f64().max(1e-9)
    });
    format!(
        "rate {:.2} Hz  min {:.2} ms  max {:.2} ms  std {:.2} ms  {:.1} kB/s  window {}  total {total}",
        1.0 / mean.max(1e-12),
        min * 1e3,
        max * 1e3,
        std * 1e3,
        bps / 1e3,
        arrivals.len()
    )
}

/// Lists the keys that carry messages during `duration` seconds.
pub async fn list(bus: &Bus, duration: f64) -> anyhow::Result<()> {
    let sub = raw_subscriber(bus, &format!("{}/**", striatum_msgs::topics::PREFIX)).await?;
    let deadline = Instant::now() + Duration::from_secs_f64(duration);
    let mut seen: BTreeMap<String, (String, u64, usize)> = BTreeMap::new();
    while let Ok(Ok(sample)) = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        sub.handler().recv_async(),
    )
    .await
    {
        let type_name = announced_type(&sample).unwrap_or_else(|| "?".into());
        let entry = seen
            .entry(sample.key_expr().to_string())
            .or_insert((type_name, 0, 0));
        entry.1 += 1;
        entry.2 += sample.payload().len();
    }
    if seen.is_empty() {
        println!("no messages in {duration} s");
    }
    for (key, (type_name, n, bytes)) in seen {
        println!(
            "{key:<56} {type_name:<36} {:>8.1} Hz {:>10.1} kB/s",
            n as f64 / duration,
            bytes as f64 / duration / 1e3
        );
    }
    Ok(())
}

/// Prints the live nodes, or watches them join and leave.
pub async fn nodes(bus: &Bus, watch: bool, timeout: Duration) -> anyhow::Result<()> {
    if !watch {
        let nodes = bus
            .live_nodes(timeout)
            .await
            .context("asking for liveliness tokens")?;
        if nodes.is_empty() {
            println!("no live nodes");
        }
        println!("{:<24} NODE", "ROBOT");
        for n in nodes {
            println!("{:<24} {}", n.robot, n.node);
        }
        return Ok(());
    }
    let watcher = bus.watch_nodes().await?;
    loop {
        match watcher.next(Duration::from_secs(3600)).await {
            Ok(NodeEvent::Joined(id)) => println!("+ {id}"),
            Ok(NodeEvent::Left(id)) => println!("- {id}"),
            Err(striatum_bus::BusError::Timeout(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

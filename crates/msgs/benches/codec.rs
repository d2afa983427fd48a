//! Codec throughput: a 6-joint `JointState` and a 3-view 128x128 rgb8 `MultiViewFrame`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use striatum_msgs::{Header, Image, JointState, Message, MultiViewFrame, NamedImage, PixelEncoding};

fn joint_state() -> JointState {
    let names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"];
    JointState {
        header: Header::new(1_700_000_000_000_000_000, "base_link"),
        names: names.iter().map(|s| (*s).to_owned()).collect(),
        positions: vec![0.1, -0.4, 0.9, 0.2, -1.1, 0.02],
        velocities: vec![0.0; 6],
        efforts: vec![0.5; 6],
    }
}

fn frame() -> MultiViewFrame {
    let view = |name: &str| NamedImage {
        name: name.to_owned(),
        image: Image::packed(
            Header::new(1_700_000_000_000_000_000, format!("{name}_optical")),
            128,
            128,
            PixelEncoding::Rgb8,
            (0..128 * 128 * 3).map(|i| (i % 251) as u8).collect(),
        )
        .expect("consistent image"),
    };
    MultiViewFrame {
        header: Header::new(1_700_000_000_000_000_000, "world"),
        robot_id: "so101_0".into(),
        episode_id: 12,
        step: 345,
        views: vec![view("front"), view("side"), view("wrist")],
    }
}

fn bench<M: Message>(c: &mut Criterion, name: &str, msg: M) {
    let bytes = msg.encode().expect("valid message");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&msg).encode()));
    group.bench_function("decode", |b| b.iter(|| M::decode(black_box(&bytes))));
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench(c, "joint_state", joint_state());
    bench(c, "multiview_3x128x128_rgb8", frame());
}

criterion_group!(benches, codec);
criterion_main!(benches);

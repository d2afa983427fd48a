//! Codec throughput: a 6-joint `JointState` and a 3-view 128x128 rgb8 `MultiViewFrame`.
#![allow(missing_docs)] // criterion's macros generate undocumented functions

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use striatum_msgs::Message;
use striatum_msgs::examples::{arm_joint_state, camera_frame};

fn bench<M: Message>(c: &mut Criterion, name: &str, msg: M) {
    let Ok(bytes) = msg.encode() else {
        panic!("{name}: the example message does not encode");
    };
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&msg).encode()));
    group.bench_function("decode", |b| b.iter(|| M::decode(black_box(&bytes))));
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench(c, "joint_state", arm_joint_state(1_700_000_000_000_000_000));
    bench(
        c,
        "multiview_3x128x128_rgb8",
        camera_frame(1_700_000_000_000_000_000, 128),
    );
}

criterion_group!(benches, codec);
criterion_main!(benches);

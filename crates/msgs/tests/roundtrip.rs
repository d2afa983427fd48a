//! Property-based round trips of every message type.

use proptest::collection::vec;
use proptest::prelude::*;
use striatum_msgs::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,11}"
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode except NUL, which CDR strings cannot carry.
    "[^\u{0}]{0,40}"
}

fn header() -> impl Strategy<Value = Header> {
    (
        (i64::from(i32::MIN) * 1_000_000_000)..(i64::from(i32::MAX) * 1_000_000_000),
        text(),
    )
        .prop_map(|(stamp_ns, frame_id)| Header { stamp_ns, frame_id })
}

fn finite() -> impl Strategy<Value = f64> {
    -1e6..1e6f64
}

fn unit() -> impl Strategy<Value = f32> {
    0.0..=1.0f32
}

fn encoding() -> impl Strategy<Value = PixelEncoding> {
    prop::sample::select(PixelEncoding::ALL.to_vec())
}

fn image() -> impl Strategy<Value = Image> {
    (
        header(),
        1u32..9,
        1u32..9,
        encoding(),
        0u32..4,
        any::<bool>(),
    )
        .prop_flat_map(|(header, width, height, encoding, row_pad, is_bigendian)| {
            let step = width * encoding.bytes_per_pixel() + row_pad;
            vec(any::<u8>(), (step * height) as usize).prop_map(move |data| Image {
                header: header.clone(),
                height,
                width,
                encoding,
                is_bigendian,
                step,
                data,
            })
        })
}

fn joint_state() -> impl Strategy<Value = JointState> {
    (header(), 0usize..8).prop_flat_map(|(header, n)| {
        let maybe = move || prop_oneof![Just(vec![]), vec(finite(), n)];
        (vec(name(), n), maybe(), maybe(), maybe()).prop_map(move |(names, p, v, e)| JointState {
            header: header.clone(),
            names,
            positions: p,
            velocities: v,
            efforts: e,
        })
    })
}

fn multiview() -> impl Strategy<Value = MultiViewFrame> {
    (
        header(),
        name(),
        any::<u64>(),
        any::<u64>(),
        vec(image(), 0..4),
    )
        .prop_map(
            |(header, robot_id, episode_id, step, images)| MultiViewFrame {
                header,
                robot_id,
                episode_id,
                step,
                views: images
                    .into_iter()
                    .enumerate()
                    .map(|(i, image)| NamedImage {
                        name: format!("cam{i}"),
                        image,
                    })
                    .collect(),
            },
        )
}

fn quaternion() -> impl Strategy<Value = Quaternion> {
    (finite(), finite(), finite(), finite())
        .prop_filter("non-zero", |(x, y, z, w)| {
            x.abs() + y.abs() + z.abs() + w.abs() > 1e-3
        })
        .prop_map(|(x, y, z, w)| {
            let n = (x * x + y * y + z * z + w * w).sqrt();
            Quaternion {
                x: x / n,
                y: y / n,
                z: z / n,
                w: w / n,
            }
        })
}

fn vector3() -> impl Strategy<Value = Vector3> {
    (finite(), finite(), finite()).prop_map(|(x, y, z)| Vector3 { x, y, z })
}

fn ee_state() -> impl Strategy<Value = EndEffectorState> {
    (
        header(),
        name(),
        name(),
        vector3(),
        quaternion(),
        vector3(),
        vector3(),
        0.0..=1.0f64,
    )
        .prop_map(
            |(header, robot_id, link, p, q, lin, ang, gripper)| EndEffectorState {
                header,
                robot_id,
                link,
                pose: Pose {
                    position: p,
                    orientation: q,
                },
                twist: Twist {
                    linear: lin,
                    angular: ang,
                },
                gripper,
            },
        )
}

fn action() -> impl Strategy<Value = ActionCommand> {
    let kind = prop::sample::select(ActionKind::ALL.to_vec());
    let source = prop::sample::select(ActionSource::ALL.to_vec());
    (
        header(),
        any::<u64>(),
        any::<u64>(),
        kind,
        source,
        0.0..=1.0f64,
        any::<bool>(),
        1u32..5,
    )
        .prop_flat_map(
            |(header, episode_id, step, kind, source, gripper, chunked, horizon)| {
                let dim = match kind {
                    ActionKind::EndEffectorDelta => {
                        prop::sample::select(vec![3usize, 4, 6]).boxed()
                    }
                    _ => (1usize..8).boxed(),
                };
                dim.prop_flat_map(move |dim| {
                    let header = header.clone();
                    let chunk = if chunked {
                        (
                            vec(finite(), dim * horizon as usize),
                            vec(0.0..=1.0f64, horizon as usize),
                            0.01..1.0f64,
                        )
                            .prop_map(move |(values, gripper, dt)| {
                                Some(ActionChunk {
                                    horizon,
                                    dt,
                                    values,
                                    gripper,
                                })
                            })
                            .boxed()
                    } else {
                        Just(None).boxed()
                    };
                    (vec(finite(), dim), chunk).prop_map(move |(values, chunk)| ActionCommand {
                        header: header.clone(),
                        episode_id,
                        step,
                        kind,
                        values,
                        gripper,
                        source,
                        chunk,
                    })
                })
            },
        )
}

fn progress_reward() -> impl Strategy<Value = ProgressReward> {
    let view = (name(), unit(), unit()).prop_map(|(view, progress, confidence)| ViewEstimate {
        view,
        progress,
        confidence,
    });
    (
        header(),
        any::<u64>(),
        any::<u64>(),
        (unit(), -1.0..=1.0f32, unit(), 0.0..10.0f32, any::<bool>()),
        vec(view, 0..5),
        text(),
        any::<u64>(),
    )
        .prop_map(
            |(
                header,
                episode_id,
                step,
                (progress, progress_delta, done_prob, uncertainty, done),
                per_view,
                model_id,
                inference_ns,
            )| {
                ProgressReward {
                    header,
                    episode_id,
                    step,
                    progress,
                    progress_delta,
                    done_prob,
                    done,
                    uncertainty,
                    per_view,
                    model_id,
                    inference_ns,
                }
            },
        )
}

fn transition() -> impl Strategy<Value = Transition> {
    (0usize..20).prop_flat_map(|n| {
        (
            header(),
            name(),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            vec(-1e3..1e3f32, n),
            vec(-1.0..1.0f32, 0..8),
            (-10.0..10.0f32, unit(), unit()),
            vec(-1e3..1e3f32, n),
            (any::<bool>(), any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(
                    header,
                    actor_id,
                    (seq, episode_id, step),
                    observation,
                    action,
                    (reward, progress, next_progress),
                    next_observation,
                    (terminated, truncated, intervention),
                )| {
                    Transition {
                        header,
                        actor_id,
                        seq,
                        episode_id,
                        step,
                        observation,
                        action,
                        reward,
                        progress,
                        next_progress,
                        next_observation,
                        terminated,
                        truncated,
                        intervention,
                    }
                },
            )
    })
}

fn episode_event() -> impl Strategy<Value = EpisodeEvent> {
    let kind = prop_oneof![
        (text(), text(), any::<u64>()).prop_map(|(task, instruction, seed)| {
            EpisodeEventKind::Start {
                task,
                instruction,
                seed,
            }
        }),
        (any::<bool>(), any::<bool>(), any::<u64>(), finite()).prop_map(
            |(success, truncated, steps, episode_return)| {
                EpisodeEventKind::End {
                    success,
                    truncated,
                    steps,
                    episode_return,
                }
            }
        ),
    ];
    (header(), name(), any::<u64>(), kind).prop_map(|(header, robot_id, episode_id, kind)| {
        EpisodeEvent {
            header,
            robot_id,
            episode_id,
            kind,
        }
    })
}

fn intervention() -> impl Strategy<Value = Intervention> {
    let kind = prop::sample::select(InterventionKind::ALL.to_vec());
    (header(), name(), any::<u64>(), any::<u64>(), kind, name()).prop_map(
        |(header, robot_id, episode_id, step, kind, device)| Intervention {
            header,
            robot_id,
            episode_id,
            step,
            kind,
            device,
        },
    )
}

fn heartbeat() -> impl Strategy<Value = Heartbeat> {
    let state = prop::sample::select(NodeState::ALL.to_vec());
    (header(), name(), any::<u64>(), state, any::<[u64; 4]>()).prop_map(
        |(header, node, seq, state, c)| Heartbeat {
            header,
            node,
            seq,
            state,
            uptime_ns: c[0],
            messages_in: c[1],
            messages_out: c[2],
            decode_errors: c[3],
        },
    )
}

fn roundtrip<M: Message>(msg: &M) -> Result<(), TestCaseError> {
    let bytes = msg
        .encode()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back = M::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    // The type-erased decoder agrees.
    let any =
        AnyMessage::decode(M::TYPE_NAME, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(any.type_name(), M::TYPE_NAME);
    // Every strict prefix is rejected (never a panic, never a silent success).
    for cut in [0, 3, bytes.len() / 2, bytes.len().saturating_sub(4)] {
        if cut + 4 <= bytes.len() {
            prop_assert!(
                M::decode(&bytes[..cut]).is_err(),
                "prefix of {} bytes accepted",
                cut
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test] fn joint_state_roundtrips(m in joint_state()) { roundtrip(&m)?; }
    #[test] fn image_roundtrips(m in image()) { roundtrip(&m)?; }
    #[test] fn multiview_roundtrips(m in multiview()) { roundtrip(&m)?; }
    #[test] fn ee_state_roundtrips(m in ee_state()) { roundtrip(&m)?; }
    #[test] fn action_roundtrips(m in action()) { roundtrip(&m)?; }
    #[test] fn progress_reward_roundtrips(m in progress_reward()) { roundtrip(&m)?; }
    #[test] fn transition_roundtrips(m in transition()) { roundtrip(&m)?; }
    #[test] fn episode_event_roundtrips(m in episode_event()) { roundtrip(&m)?; }
    #[test] fn intervention_roundtrips(m in intervention()) { roundtrip(&m)?; }
    #[test] fn heartbeat_roundtrips(m in heartbeat()) { roundtrip(&m)?; }

    #[test]
    fn weights_split_roundtrip_and_reassemble(
        blob in vec(any::<u8>(), 0..5000),
        max_chunk in 1usize..2000,
        version in 1u64..100,
        seed in any::<u64>(),
    ) {
        let chunks = PolicyWeights::split(Header::new(5, ""), "sac", version, &blob, max_chunk).unwrap();
        prop_assert_eq!(chunks.len(), blob.len().div_ceil(max_chunk).max(1));
        let mut decoded = Vec::new();
        for c in &chunks {
            roundtrip(c)?;
            decoded.push(PolicyWeights::decode(&c.encode().unwrap()).unwrap());
        }
        // Deliver in a shuffled order with one duplicate.
        let n = decoded.len();
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        order.insert(0, order[n - 1]);
        let mut asm = WeightsAssembler::new();
        let mut out = None;
        for i in order {
            if let Some(done) = asm.push(decoded[i].clone()).unwrap() {
                prop_assert!(out.is_none(), "assembled twice");
                out = Some(done);
            }
        }
        let out = out.expect("never assembled");
        prop_assert_eq!(out.blob, blob);
        prop_assert_eq!(out.version, version);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let mut with_header = vec![0, 1, 0, 0];
        with_header.extend_from_slice(&bytes);
        for type_name in TYPE_NAMES {
            let _ = AnyMessage::decode(type_name, &bytes);
            let _ = AnyMessage::decode(type_name, &with_header);
        }
    }
}

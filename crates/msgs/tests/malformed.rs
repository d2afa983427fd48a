//! Every class of malformed input gets its own typed error.

use striatum_msgs::cdr::CdrWriter;
use striatum_msgs::*;

/// Encodes without validation, as a buggy or hostile peer would.
fn raw<M: CdrStruct>(msg: &M) -> Vec<u8> {
    let mut w = CdrWriter::default();
    if let Err(e) = msg.write_cdr(&mut w) {
        panic!("the test message does not serialise: {e}");
    }
    w.into_bytes()
}

fn joint_state() -> JointState {
    JointState {
        header: Header::new(42, "base"),
        names: vec!["a".into(), "b".into()],
        positions: vec![0.1, 0.2],
        velocities: vec![],
        efforts: vec![],
    }
}

fn reward() -> ProgressReward {
    ProgressReward {
        header: Header::new(1, ""),
        episode_id: 3,
        step: 7,
        progress: 0.5,
        progress_delta: 0.1,
        done_prob: 0.2,
        done: false,
        uncertainty: 0.05,
        per_view: vec![ViewEstimate {
            view: "front".into(),
            progress: 0.4,
            confidence: 0.9,
        }],
        model_id: "prm-test".into(),
        inference_ns: 1000,
    }
}

fn image(data_len: usize) -> Image {
    Image {
        header: Header::default(),
        height: 2,
        width: 2,
        encoding: PixelEncoding::Rgb8,
        is_bigendian: false,
        step: 6,
        data: vec![0; data_len],
    }
}

#[test]
fn truncated_input() {
    let bytes = joint_state().encode().unwrap();
    let err = JointState::decode(&bytes[..bytes.len() - 5]).unwrap_err();
    assert!(matches!(err, DecodeError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("field `velocity`"), "{err}");
}

#[test]
fn wrong_encapsulation_header() {
    let mut bytes = joint_state().encode().unwrap();
    bytes[1] = 0x00; // CDR big-endian
    assert!(matches!(
        JointState::decode(&bytes),
        Err(DecodeError::BadEncapsulation { .. })
    ));
    assert!(matches!(
        JointState::decode(&[]),
        Err(DecodeError::BadEncapsulation { .. })
    ));
}

#[test]
fn unknown_type_name() {
    let bytes = joint_state().encode().unwrap();
    let err = AnyMessage::decode("sensor_msgs/msg/Imu", &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::WrongType { .. }), "{err}");
}

#[test]
fn absurd_sizes() {
    let mut w = CdrWriter::default();
    w.i32(0);
    w.u32(0);
    w.string("f", "x").unwrap();
    w.u32(0x7fff_ffff); // names: two billion strings
    let err = JointState::decode(&w.into_bytes()).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooLarge { field: "name", .. }),
        "{err}"
    );

    let mut big = image(12);
    big.width = 100_000;
    big.step = 300_000;
    let err = Image::decode(&raw(&big)).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated { .. }
                | DecodeError::Invalid(ValidationError::OutOfRange { .. })
        ),
        "{err}"
    );
}

#[test]
fn shape_disagrees_with_byte_length() {
    let err = Image::decode(&raw(&image(11))).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Invalid(ValidationError::ShapeMismatch {
            field: "image.data".into(),
            expected: 12,
            found: 11
        })
    );
    let mut short_step = image(12);
    short_step.step = 5;
    short_step.data = vec![0; 10];
    assert!(matches!(
        Image::decode(&raw(&short_step)),
        Err(DecodeError::Invalid(ValidationError::ShapeMismatch { .. }))
    ));
    let mut js = joint_state();
    js.velocities = vec![1.0];
    assert!(matches!(
        JointState::decode(&raw(&js)),
        Err(DecodeError::Invalid(ValidationError::ShapeMismatch { .. }))
    ));
    // And the encoder refuses to produce it in the first place.
    assert!(matches!(js.encode(), Err(EncodeError::Invalid(_))));
}

#[test]
fn non_finite_values() {
    let mut js = joint_state();
    js.positions[1] = f64::NAN;
    let err = JointState::decode(&raw(&js)).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Invalid(ValidationError::NonFinite { field, .. }) if field == "position[1]"),
        "{err}"
    );
    let mut r = reward();
    r.progress = f32::INFINITY;
    assert!(matches!(
        ProgressReward::decode(&raw(&r)),
        Err(DecodeError::Invalid(ValidationError::NonFinite { .. }))
    ));
    assert!(matches!(
        r.encode(),
        Err(EncodeError::Invalid(ValidationError::NonFinite { .. }))
    ));
}

#[test]
fn out_of_range_values() {
    let mut r = reward();
    r.done_prob = 1.5;
    let err = ProgressReward::decode(&raw(&r)).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Invalid(ValidationError::OutOfRange { field, .. }) if field == "done_prob"),
        "{err}"
    );
    let mut r = reward();
    r.per_view[0].confidence = -0.1;
    assert!(matches!(
        ProgressReward::decode(&raw(&r)),
        Err(DecodeError::Invalid(ValidationError::OutOfRange { .. }))
    ));
    let mut h = image(12);
    h.header.stamp_ns = i64::MAX;
    assert!(matches!(
        h.encode(),
        Err(EncodeError::StampOutOfRange { .. })
    ));
}

#[test]
fn unknown_enumeration_values() {
    let mut bytes = raw(&image(12));
    let pos = bytes.windows(5).position(|w| w == b"rgb8\0").unwrap();
    bytes[pos..pos + 4].copy_from_slice(b"rgbz");
    let err = Image::decode(&bytes).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Invalid(ValidationError::UnknownValue { value, .. }) if value == "rgbz"),
        "{err}"
    );

    let cmd = ActionCommand {
        header: Header::default(),
        episode_id: 0,
        step: 0,
        kind: ActionKind::JointDelta,
        values: vec![0.0; 6],
        gripper: 1.0,
        source: ActionSource::Policy,
        chunk: None,
    };
    let mut bytes = cmd.encode().unwrap();
    // kind is the byte right after header (12 + 1-byte frame_id string -> 4+4+4+1 = 13, pad to
    // 16) and the two u64 fields (16..32): offset 32 after the encapsulation header.
    assert_eq!(bytes[4 + 32], ActionKind::JointDelta.as_u8());
    bytes[4 + 32] = 9;
    assert!(matches!(
        ActionCommand::decode(&bytes),
        Err(DecodeError::Invalid(ValidationError::UnknownValue { .. }))
    ));
}

#[test]
fn bad_booleans_and_trailing_bytes() {
    let t = Transition {
        header: Header::default(),
        actor_id: "a".into(),
        seq: 1,
        episode_id: 1,
        step: 1,
        observation: vec![0.0],
        action: vec![0.0],
        reward: 0.0,
        progress: 0.0,
        next_progress: 0.0,
        next_observation: vec![0.0],
        terminated: false,
        truncated: false,
        intervention: true,
    };
    let mut bytes = t.encode().unwrap();
    let last = bytes.len() - 1;
    bytes[last] = 2;
    assert_eq!(
        Transition::decode(&bytes),
        Err(DecodeError::BadBool {
            field: "intervention",
            value: 2
        })
    );
    let mut bytes = t.encode().unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 0, 7]);
    assert!(matches!(
        Transition::decode(&bytes),
        Err(DecodeError::TrailingBytes { count: 5 })
    ));
}

#[test]
fn inconsistent_fields() {
    let mut views = MultiViewFrame {
        header: Header::default(),
        robot_id: "r".into(),
        episode_id: 0,
        step: 0,
        views: vec![
            NamedImage {
                name: "front".into(),
                image: image(12),
            },
            NamedImage {
                name: "front".into(),
                image: image(12),
            },
        ],
    };
    assert!(matches!(
        MultiViewFrame::decode(&raw(&views)),
        Err(DecodeError::Invalid(ValidationError::Inconsistent { .. }))
    ));
    views.views[1].name = "wrist".into();
    views.views[1].image.data.pop();
    let err = MultiViewFrame::decode(&raw(&views)).unwrap_err();
    assert!(err.to_string().contains("views[1].image.data"), "{err}");

    let mut bytes = raw(&EpisodeEvent {
        header: Header::default(),
        robot_id: "r".into(),
        episode_id: 1,
        kind: EpisodeEventKind::End {
            success: true,
            truncated: false,
            steps: 10,
            episode_return: 1.0,
        },
    });
    // Turn the end event into a start event that still carries end fields.
    // stamp (8) + frame_id "\0" (4 + 1) -> 13, pad to 16; robot_id "r\0" (4 + 2) -> 22, pad to
    // 24; episode_id (8) -> 32: the kind byte, after the 4-byte encapsulation header.
    let kind_at = 4 + 32;
    assert_eq!(bytes[kind_at], 1);
    bytes[kind_at] = 0;
    assert!(matches!(
        EpisodeEvent::decode(&bytes),
        Err(DecodeError::Invalid(ValidationError::Inconsistent { .. }))
    ));
}

#[test]
fn weights_reassembly_detects_corruption_and_mixing() {
    let blob: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let mut chunks = PolicyWeights::split(Header::default(), "p", 3, &blob, 300).unwrap();
    chunks[2].data[0] ^= 0xff;
    let mut asm = WeightsAssembler::new();
    let mut result = Ok(None);
    for c in chunks {
        result = asm.push(c);
    }
    assert!(matches!(
        result,
        Err(AssemblyError::Checksum { version: 3, .. })
    ));

    let a = PolicyWeights::split(Header::default(), "p", 4, &blob, 300).unwrap();
    let mut b = PolicyWeights::split(Header::default(), "p", 4, &blob[..900], 300).unwrap();
    let mut asm = WeightsAssembler::new();
    assert_eq!(asm.push(a[0].clone()), Ok(None));
    let err = asm.push(b.remove(1)).unwrap_err();
    assert!(matches!(err, AssemblyError::Inconsistent { .. }), "{err}");

    // A stale version is ignored once a newer one is complete.
    let mut asm = WeightsAssembler::new();
    for c in PolicyWeights::split(Header::default(), "p", 9, &blob, 600).unwrap() {
        asm.push(c).unwrap();
    }
    assert_eq!(asm.newest_complete(), Some(9));
    for c in PolicyWeights::split(Header::default(), "p", 8, &blob, 2000).unwrap() {
        assert_eq!(asm.push(c), Ok(None));
    }
    let bad_index = PolicyWeights {
        chunk_index: 5,
        chunk_count: 5,
        ..a[0].clone()
    };
    assert!(matches!(
        PolicyWeights::decode(&raw(&bad_index)),
        Err(DecodeError::Invalid(ValidationError::Inconsistent { .. }))
    ));
}

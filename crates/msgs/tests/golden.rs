//! Golden bytes for the ROS 2 types, derived by hand from the CDR rules and the ROS 2 message
//! definitions (sensor_msgs/JointState, sensor_msgs/Image, std_msgs/Header,
//! builtin_interfaces/Time). Offsets in comments count from the byte after the encapsulation
//! header, which is where CDR alignment is measured from.

use striatum_msgs::{Header, Image, JointState, Message, PixelEncoding};

#[test]
fn joint_state_matches_hand_derived_bytes() {
    let msg = JointState {
        header: Header::new(1_500_000_000, "base"),
        names: vec!["j1".into(), "j2".into()],
        positions: vec![1.0, -2.5],
        velocities: vec![],
        efforts: vec![0.5, 0.25],
    };
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        0x00, 0x01, 0x00, 0x00,             // encapsulation: CDR_LE, options 0
        0x01, 0x00, 0x00, 0x00,             // @0  stamp.sec = 1 (int32)
        0x00, 0x65, 0xCD, 0x1D,             // @4  stamp.nanosec = 500_000_000 (uint32)
        0x05, 0x00, 0x00, 0x00,             // @8  frame_id length 5 (with NUL)
        b'b', b'a', b's', b'e', 0x00,       // @12 "base\0"
        0x00, 0x00, 0x00,                   // @17 pad to 4
        0x02, 0x00, 0x00, 0x00,             // @20 name: 2 strings
        0x03, 0x00, 0x00, 0x00,             // @24 length 3
        b'j', b'1', 0x00,                   // @28 "j1\0"
        0x00,                               // @31 pad to 4
        0x03, 0x00, 0x00, 0x00,             // @32 length 3
        b'j', b'2', 0x00,                   // @36 "j2\0"
        0x00,                               // @39 pad to 4
        0x02, 0x00, 0x00, 0x00,             // @40 position: 2 doubles
        0x00, 0x00, 0x00, 0x00,             // @44 pad to 8
        0, 0, 0, 0, 0, 0, 0xF0, 0x3F,       // @48 1.0
        0, 0, 0, 0, 0, 0, 0x04, 0xC0,       // @56 -2.5
        0x00, 0x00, 0x00, 0x00,             // @64 velocity: 0 doubles (no padding)
        0x02, 0x00, 0x00, 0x00,             // @68 effort: 2 doubles; @72 is 8-aligned
        0, 0, 0, 0, 0, 0, 0xE0, 0x3F,       // @72 0.5
        0, 0, 0, 0, 0, 0, 0xD0, 0x3F,       // @80 0.25
    ];
    assert_eq!(msg.encode().unwrap(), expected);
    assert_eq!(JointState::decode(&expected).unwrap(), msg);
}

#[test]
fn image_matches_hand_derived_bytes() {
    // A 2x1 rgb8 image with one byte of row padding (step 7).
    let msg = Image {
        header: Header::new(-1, "cam"),
        height: 1,
        width: 2,
        encoding: PixelEncoding::Rgb8,
        is_bigendian: false,
        step: 7,
        data: vec![10, 20, 30, 40, 50, 60, 0],
    };
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        0x00, 0x01, 0x00, 0x00,             // encapsulation
        0xFF, 0xFF, 0xFF, 0xFF,             // @0  stamp.sec = -1 (floor of -1 ns)
        0xFF, 0xC9, 0x9A, 0x3B,             // @4  stamp.nanosec = 999_999_999
        0x04, 0x00, 0x00, 0x00,             // @8  frame_id length 4
        b'c', b'a', b'm', 0x00,             // @12 "cam\0"
        0x01, 0x00, 0x00, 0x00,             // @16 height = 1
        0x02, 0x00, 0x00, 0x00,             // @20 width = 2
        0x05, 0x00, 0x00, 0x00,             // @24 encoding length 5
        b'r', b'g', b'b', b'8', 0x00,       // @28 "rgb8\0"
        0x00,                               // @33 is_bigendian = 0 (uint8, no alignment)
        0x00, 0x00,                         // @34 pad to 4
        0x07, 0x00, 0x00, 0x00,             // @36 step = 7
        0x07, 0x00, 0x00, 0x00,             // @40 data: 7 bytes
        10, 20, 30, 40, 50, 60, 0,          // @44 pixels
    ];
    assert_eq!(msg.encode().unwrap(), expected);
    assert_eq!(Image::decode(&expected).unwrap(), msg);
}

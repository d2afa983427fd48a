//! `docs/wire-format.md` shows the real bytes of every message type.

use striatum_msgs::examples::{all, hex_dump};

#[test]
fn the_wire_format_document_shows_the_current_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/wire-format.md");
    let doc = std::fs::read_to_string(path).expect("docs/wire-format.md exists");
    for (type_name, bytes) in all() {
        let block = format!(
            "`{type_name}` ({} bytes):\n\n```text\n{}```",
            bytes.len(),
            hex_dump(&bytes)
        );
        assert!(
            doc.contains(&block),
            "docs/wire-format.md lacks the current example of {type_name}; regenerate with \
             `cargo run -p striatum-msgs --example wire_examples`:\n{block}"
        );
    }
    for type_name in striatum_msgs::TYPE_NAMES {
        assert!(
            doc.contains(type_name),
            "docs/wire-format.md does not document {type_name}"
        );
    }
}

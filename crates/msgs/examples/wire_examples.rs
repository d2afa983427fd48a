//! Prints the byte-level example of every message type as Markdown (pasted into
//! `docs/wire-format.md`; a test checks the document still matches).
//!
//! `cargo run -p striatum-msgs --example wire_examples`

fn main() {
    for (type_name, bytes) in striatum_msgs::examples::all() {
        println!("`{type_name}` ({} bytes):\n", bytes.len());
        println!(
            "```text\n{}```\n",
            striatum_msgs::examples::hex_dump(&bytes)
        );
    }
}

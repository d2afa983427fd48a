//! Instruction tokenizers. The model sees token ids only; which tokenizer made them is recorded
//! in the checkpoint manifest so the same one is rebuilt at load time.
//!
//! [`WordTokenizer`]: lower-case the text, split it on every character that is not an ASCII
//! letter or digit, map each word to its id in the vocabulary (`<unk>` = 1 for words it does
//! not know), keep the first `max_tokens` ids and pad with `<pad>` = 0.

use serde::{Deserialize, Serialize};

/// Id of the padding token.
pub const PAD: i64 = 0;
/// Id of an unknown word.
pub const UNK: i64 = 1;

/// Turns an instruction into a fixed-length row of token ids (`0` = padding).
pub trait Tokenizer: Send + Sync {
    /// Exactly `max_tokens()` ids for `text`.
    fn encode(&self, text: &str) -> Vec<i64>;
    /// Length of every encoded row.
    fn max_tokens(&self) -> usize;
    /// Rows of the embedding table the ids index (ids are `< capacity()`).
    fn capacity(&self) -> usize;
}

/// The word-level tokenizer described in the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTokenizer {
    /// Known words; word `i` has id `i + 2`.
    pub vocab: Vec<String>,
    /// Tokens per row.
    pub max_tokens: usize,
    /// Embedding rows reserved (ids above the vocabulary are free for words added later).
    pub capacity: usize,
}

/// Splits text into lower-case ASCII words.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

impl WordTokenizer {
    /// A tokenizer whose vocabulary is every word of `texts` (sorted), with room for `capacity`
    /// embedding rows in total.
    pub fn fit<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        max_tokens: usize,
        capacity: usize,
    ) -> Self {
        let mut vocab: Vec<String> = texts.into_iter().flat_map(words).collect();
        vocab.sort();
        vocab.dedup();
        let capacity = capacity.max(vocab.len() + 2);
        Self {
            vocab,
            max_tokens,
            capacity,
        }
    }

    /// Adds the words of `text` it does not know while free rows remain; returns how many
    /// were added.
    pub fn extend(&mut self, text: &str) -> usize {
        let mut added = 0;
        for w in words(text) {
            if self.vocab.len() + 2 >= self.capacity {
                break;
            }
            if !self.vocab.contains(&w) {
                self.vocab.push(w);
                added += 1;
            }
        }
        added
    }

    fn id(&self, word: &str) -> i64 {
        self.vocab
            .iter()
            .position(|v| v == word)
            .map_or(UNK, |i| i as i64 + 2)
    }
}

impl Tokenizer for WordTokenizer {
    fn encode(&self, text: &str) -> Vec<i64> {
        let mut ids: Vec<i64> = words(text)
            .iter()
            .map(|w| self.id(w))
            .take(self.max_tokens)
            .collect();
        ids.resize(self.max_tokens, PAD);
        ids
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_unknown_and_pads() {
        let t = WordTokenizer::fit(["Push the red cube", "open the drawer"], 6, 32);
        assert_eq!(t.vocab, ["cube", "drawer", "open", "push", "red", "the"]);
        let ids = t.encode("push the BLUE cube!");
        assert_eq!(ids, vec![5, 7, UNK, 2, PAD, PAD]);
        assert_eq!(t.encode("a b c d e f g h").len(), 6);
    }

    #[test]
    fn extends_within_capacity() {
        let mut t = WordTokenizer::fit(["push the cube"], 4, 6);
        assert_eq!(
            t.extend("stack the blue cube"),
            1,
            "one free row: 6 - 2 - 3"
        );
        assert_eq!(t.encode("stack blue"), vec![5, UNK, PAD, PAD]);
    }
}

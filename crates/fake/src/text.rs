//! Reply text: deterministic filler, one word a token, drawn from a seed so that a streamed
//! reply and its non-streamed twin say the same thing.

use rand::RngExt as _;
use switchyard_core::rng::SeededRng;

const WORDS: [&str; 32] = [
    "the",
    "route",
    "holds",
    "when",
    "a",
    "provider",
    "slows",
    "down",
    "and",
    "traffic",
    "moves",
    "to",
    "another",
    "target",
    "while",
    "its",
    "breaker",
    "is",
    "open",
    "then",
    "returns",
    "gradually",
    "as",
    "probes",
    "succeed",
    "so",
    "requests",
    "keep",
    "flowing",
    "without",
    "errors",
    "today",
];

/// The `n` tokens of a reply seeded by `seed`: the first without a leading space.
pub fn tokens(seed: u64, n: u32) -> impl Iterator<Item = &'static str> {
    let mut rng = SeededRng::new(seed);
    (0..n).map(move |_| WORDS[rng.random_range(0..WORDS.len() as u64) as usize])
}

/// The whole text of a reply.
pub fn text(seed: u64, n: u32) -> String {
    let mut out = String::with_capacity(n as usize * 7);
    for (i, word) in tokens(seed, n).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Token `i` of a reply as it appears in a stream (with its leading space after the first).
pub fn piece(i: u32, word: &str) -> String {
    if i == 0 {
        word.to_owned()
    } else {
        format!(" {word}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_pieces_add_up_to_the_text() {
        let joined: String = tokens(9, 20)
            .enumerate()
            .map(|(i, w)| piece(i as u32, w))
            .collect();
        assert_eq!(joined, text(9, 20));
        assert_eq!(text(9, 20).split(' ').count(), 20);
        assert_ne!(text(9, 20), text(10, 20));
    }
}

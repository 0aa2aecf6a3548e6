//! From text to words, and from id lists to fixed lengths.
//!
//! # The tokenizer, in one sentence
//!
//! Text is lowercased (ASCII letters only), HTML line breaks (`<br />`, also
//! written `<br/>` or `<br>`, in any case) are removed, and a *word* is a
//! maximal run of the characters `a-z`, `0-9` and `'`; everything else separates
//! words.
//!
//! So `"It's GREAT!<br /><br />10/10"` is `["it's", "great", "10", "10"]`.
//! Letters outside ASCII (`é`, `ñ`) separate words too: simple, predictable,
//! and close to what Keras' IMDB preprocessing does. It is deliberately
//! crude; a reader can swap in a better one and see what it buys.
//!
//! Why bytes? Every character a word can hold is ASCII, and in UTF-8 an ASCII
//! byte never occurs inside a multi-byte character, so scanning bytes is
//! correct and much faster than decoding characters.
//!
//! # Fitting sequences to a length
//!
//! A batch is a rectangle, so sequences are cut ([`truncate`]) and padded
//! ([`pad`]) to a common length, each at the start ([`Side::Pre`]) or the end
//! ([`Side::Post`]) of the sequence.

/// Which end of a sequence is cut or padded.
///
/// Truncating `Pre` keeps the *last* tokens (a review's verdict is often at
/// its end); padding `Pre` puts the real tokens last, right before an
/// unmasked RNN's final state: Keras' default for both. `Post` keeps the
/// first tokens and puts the real tokens first (use with the lengths, for a
/// masked RNN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Side {
    /// At the start: truncating keeps the last tokens, padding puts them last
    #[default]
    Pre,
    /// At the end: truncating keeps the first tokens, padding puts them first
    Post,
}

crate::text_as_choice!(Side);

/// The words of `text`, following the rules in the [module docs](self).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for_each_word(text, |word| words.push(word.to_string()));
    words
}

/// Calls `visit` with each word of `text`, in order, without allocating a
/// string per word (the fast path used to build and apply a vocabulary).
pub fn for_each_word(text: &str, mut visit: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut word = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i].to_ascii_lowercase();
        if is_word_byte(byte) {
            // Pushing an ASCII byte as a char keeps `word` valid UTF-8.
            word.push(byte as char);
            i += 1;
            continue;
        }
        if !word.is_empty() {
            visit(&word);
            word.clear();
        }
        i += if byte == b'<' {
            line_break_len(&bytes[i..]).max(1)
        } else {
            1
        };
    }
    if !word.is_empty() {
        visit(&word);
    }
}

/// Whether a (lowercased) byte belongs to a word: `a-z`, `0-9` or `'`.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'\''
}

/// If `bytes` starts with `<br>`, `<br/>` or `<br />` (any case, any spaces
/// before the `/`), its length; otherwise 0.
fn line_break_len(bytes: &[u8]) -> usize {
    let starts_br = bytes.len() >= 3
        && bytes[0] == b'<'
        && bytes[1].eq_ignore_ascii_case(&b'b')
        && bytes[2].eq_ignore_ascii_case(&b'r');
    if !starts_br {
        return 0;
    }
    let mut i = 3;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'/' {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'>' {
        i + 1
    } else {
        0
    }
}

/// Shortens `ids` to at most `max_len`, dropping tokens from the `side` end.
pub fn truncate(ids: &mut Vec<usize>, max_len: usize, side: Side) {
    if ids.len() > max_len {
        match side {
            Side::Pre => {
                ids.drain(..ids.len() - max_len);
            }
            Side::Post => ids.truncate(max_len),
        }
    }
}

/// `ids` padded with `pad_id` on the `side` end to exactly `len` tokens.
/// `ids` must not be longer than `len` (truncate first).
pub fn pad(ids: &[usize], len: usize, side: Side, pad_id: usize) -> Vec<usize> {
    debug_assert!(ids.len() <= len, "pad: sequence longer than target length");
    let padding = len.saturating_sub(ids.len());
    let mut padded = Vec::with_capacity(len);
    if side == Side::Pre {
        padded.resize(padding, pad_id);
    }
    padded.extend_from_slice(&ids[..ids.len().min(len)]);
    padded.resize(len, pad_id);
    padded
}

/// Truncates (on `truncating`'s side) and pads (on `padding`'s side) `ids` to
/// exactly `len` tokens: Keras' `pad_sequences` for one sequence.
pub fn pad_or_truncate(
    ids: &[usize],
    len: usize,
    padding: Side,
    truncating: Side,
    pad_id: usize,
) -> Vec<usize> {
    let mut ids = ids.to_vec();
    truncate(&mut ids, len, truncating);
    pad(&ids, len, padding, pad_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_lowercases_drops_line_breaks_and_splits_on_other_characters() {
        assert_eq!(
            tokenize("It's GREAT!<br /><br />10/10, don't-miss"),
            ["it's", "great", "10", "10", "don't", "miss"]
        );
        // A <br /> between two words separates them; it never yields "br".
        assert_eq!(
            tokenize("end<BR/>Start<br>x<br >y"),
            ["end", "start", "x", "y"]
        );
        // A lone "<" or a tag that is not a line break just separates.
        assert_eq!(tokenize("a<b c<brb"), ["a", "b", "c", "brb"]);
    }

    #[test]
    fn non_ascii_letters_separate_words() {
        assert_eq!(tokenize("café naïve"), ["caf", "na", "ve"]);
        assert!(tokenize("").is_empty());
        assert!(tokenize(" ... !!! <br />").is_empty());
    }

    #[test]
    fn truncating_pre_keeps_the_end_and_post_keeps_the_start() {
        let mut ids = vec![1, 2, 3, 4, 5];
        truncate(&mut ids, 3, Side::Pre);
        assert_eq!(ids, [3, 4, 5]);
        let mut ids = vec![1, 2, 3, 4, 5];
        truncate(&mut ids, 3, Side::Post);
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn padding_pre_and_post() {
        assert_eq!(pad(&[7, 8], 4, Side::Pre, 0), [0, 0, 7, 8]);
        assert_eq!(pad(&[7, 8], 4, Side::Post, 0), [7, 8, 0, 0]);
        assert_eq!(pad(&[], 2, Side::Post, 0), [0, 0]);
        assert_eq!(
            pad_or_truncate(&[1, 2, 3], 2, Side::Pre, Side::Pre, 0),
            [2, 3]
        );
        assert_eq!(
            pad_or_truncate(&[1, 2, 3], 2, Side::Post, Side::Post, 0),
            [1, 2]
        );
    }
}

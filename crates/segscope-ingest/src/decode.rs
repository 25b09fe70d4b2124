//! Turning a file's bytes into text without ever producing silent mojibake
//! (field case F18): a byte-order mark decides (UTF-8, UTF-16 LE/BE); else a
//! declared legacy encoding is used by its WHATWG label; else the bytes must
//! be valid UTF-8, and when they are not, the error lists the lines that
//! hold invalid bytes and says how to declare the encoding.
//!
//! Decoding goes through `encoding_rs` (the decoder Firefox uses), so labels
//! follow the WHATWG Encoding Standard: `latin1` and `iso-8859-1` mean
//! windows-1252, which is a superset of ISO-8859-1 for printable text.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// How many line numbers an invalid-UTF-8 error lists before "and N more".
pub const MAX_LISTED_BAD_LINES: usize = 20;

/// Labels shown when an encoding label is not recognized.
const EXAMPLE_LABELS: &str =
    "utf-8, utf-16le, utf-16be, windows-1252, latin1, iso-8859-15, windows-1250, macintosh, shift_jis, gbk";

/// Text decoded from bytes, with the name of the encoding that was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedText {
    pub text: String,
    /// The encoding's canonical name (`UTF-8`, `UTF-16LE`, `windows-1252`, …).
    pub encoding_name: &'static str,
    /// Whether the input started with a byte-order mark (which is not part of `text`).
    pub had_byte_order_mark: bool,
}

/// Why bytes could not be turned into text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown encoding `{label}`: use a label such as {EXAMPLE_LABELS}")]
    UnknownEncoding { label: String },
    #[error(
        "the file is not valid UTF-8: invalid bytes on line{} {}; declare its encoding, e.g. --encoding windows-1252 for files saved by Excel on Windows",
        if lines.len() + more_lines > 1 { "s" } else { "" },
        list_lines(lines, *more_lines)
    )]
    InvalidUtf8 {
        /// The first lines (1-based) holding invalid bytes, at most [`MAX_LISTED_BAD_LINES`].
        lines: Vec<u64>,
        /// How many more lines hold invalid bytes.
        more_lines: usize,
    },
    #[error(
        "the file is not valid {encoding}: undecodable bytes on line{} {}; check the declared encoding",
        if lines.len() + more_lines > 1 { "s" } else { "" },
        list_lines(lines, *more_lines)
    )]
    InvalidForEncoding { encoding: &'static str, lines: Vec<u64>, more_lines: usize },
    #[error(
        "the file looks like UTF-16 without a byte-order mark (it is full of zero bytes): declare --encoding utf-16le or --encoding utf-16be"
    )]
    LooksLikeUtf16WithoutByteOrderMark,
}

/// Formats line numbers as `2, 3, 7` or `2, 3, 7 and 12 more`.
pub(crate) fn list_lines(lines: &[u64], more_lines: usize) -> String {
    let listed: Vec<String> = lines.iter().map(u64::to_string).collect();
    if more_lines > 0 { format!("{} and {more_lines} more", listed.join(", ")) } else { listed.join(", ") }
}

/// Resolves an encoding label (`windows-1252`, `latin1`, `utf-16le`, …).
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding, DecodeError> {
    let trimmed = label.trim();
    match Encoding::for_label(trimmed.as_bytes()) {
        // The WHATWG "replacement" encoding decodes everything to one U+FFFD:
        // it exists to neuter dangerous labels, never what a user means.
        Some(encoding) if encoding != encoding_rs::REPLACEMENT => Ok(encoding),
        _ => Err(DecodeError::UnknownEncoding { label: trimmed.to_owned() }),
    }
}

/// Decodes `bytes`: a byte-order mark wins, then the declared encoding, else
/// strict UTF-8.
pub fn decode_text(bytes: &[u8], declared_encoding: Option<&str>) -> Result<DecodedText, DecodeError> {
    let declared = declared_encoding.map(encoding_for_label).transpose()?;
    if let Some((encoding, bom_length)) = Encoding::for_bom(bytes) {
        let text = decode_strictly(encoding, &bytes[bom_length..])?;
        return Ok(DecodedText { text, encoding_name: encoding.name(), had_byte_order_mark: true });
    }
    match declared {
        Some(encoding) => {
            let text = decode_strictly(encoding, bytes)?;
            Ok(DecodedText { text, encoding_name: encoding.name(), had_byte_order_mark: false })
        }
        None => {
            if looks_like_utf16(bytes) {
                return Err(DecodeError::LooksLikeUtf16WithoutByteOrderMark);
            }
            let text = decode_strictly(UTF_8, bytes)?;
            Ok(DecodedText { text, encoding_name: UTF_8.name(), had_byte_order_mark: false })
        }
    }
}

/// ASCII text in UTF-16 has a zero byte in every other position; real UTF-8
/// text has none. A quarter of zero bytes in the first KiB is unmistakable.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(1024)];
    sample.len() >= 4 && sample.iter().filter(|b| **b == 0).count() * 4 >= sample.len()
}

fn decode_strictly(encoding: &'static Encoding, bytes: &[u8]) -> Result<String, DecodeError> {
    if encoding == UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => {
                let (lines, more_lines) = invalid_utf8_lines(bytes);
                Err(DecodeError::InvalidUtf8 { lines, more_lines })
            }
        };
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if !had_errors {
        return Ok(text.into_owned());
    }
    // Undecodable sequences became U+FFFD; the lines holding one are the
    // ones to look at (a genuine U+FFFD cannot occur in a legacy encoding).
    let mut lines = Vec::new();
    let mut more_lines = 0;
    let utf16 = encoding == UTF_16LE || encoding == UTF_16BE;
    for (index, line) in text.split('\n').enumerate() {
        if line.contains('\u{FFFD}') {
            if lines.len() < MAX_LISTED_BAD_LINES {
                lines.push(index as u64 + 1);
            } else {
                more_lines += 1;
            }
        }
    }
    if lines.is_empty() && utf16 {
        // An odd trailing byte: the last line is cut.
        lines.push(text.split('\n').count() as u64);
    }
    Err(DecodeError::InvalidForEncoding { encoding: encoding.name(), lines, more_lines })
}

/// The 1-based lines that hold invalid UTF-8, the first [`MAX_LISTED_BAD_LINES`]
/// of them, and how many more there are.
fn invalid_utf8_lines(bytes: &[u8]) -> (Vec<u64>, usize) {
    let mut lines: Vec<u64> = Vec::new();
    let mut more_lines = 0;
    let mut position = 0;
    let mut line_number: u64 = 1;
    let mut last_bad_line = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        let (valid_length, invalid_length) = match std::str::from_utf8(rest) {
            Ok(_) => (rest.len(), 0),
            Err(err) => (err.valid_up_to(), err.error_len().unwrap_or(rest.len() - err.valid_up_to())),
        };
        line_number += rest[..valid_length].iter().filter(|b| **b == b'\n').count() as u64;
        if invalid_length == 0 {
            break;
        }
        if line_number != last_bad_line {
            last_bad_line = line_number;
            if lines.len() < MAX_LISTED_BAD_LINES {
                lines.push(line_number);
            } else {
                more_lines += 1;
            }
        }
        // Invalid sequences never contain `\n` (it is ASCII), so the line
        // number does not move inside them.
        position += valid_length + invalid_length;
    }
    (lines, more_lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_marks_are_stripped_and_decide_the_encoding() {
        let decoded = decode_text(b"\xEF\xBB\xBFemail\n", None).unwrap();
        assert_eq!(decoded.text, "email\n");
        assert_eq!(decoded.encoding_name, "UTF-8");
        assert!(decoded.had_byte_order_mark);
        let decoded = decode_text(b"\xFF\xFEe\0m\0\n\0", None).unwrap();
        assert_eq!((decoded.text.as_str(), decoded.encoding_name), ("em\n", "UTF-16LE"));
        let decoded = decode_text(b"\xFE\xFF\0e\0m", Some("windows-1252")).unwrap();
        assert_eq!((decoded.text.as_str(), decoded.encoding_name), ("em", "UTF-16BE"));
    }

    #[test]
    fn legacy_encodings_by_label() {
        assert_eq!(decode_text(b"\xD6lund", Some("windows-1252")).unwrap().text, "Ölund");
        assert_eq!(decode_text(b"\xD6lund", Some(" Latin1 ")).unwrap().text, "Ölund");
        assert_eq!(decode_text(b"\xA4", Some("iso-8859-15")).unwrap().text, "€");
        let err = decode_text(b"x", Some("klingon")).unwrap_err();
        assert!(err.to_string().starts_with("unknown encoding `klingon`: use a label such as utf-8"), "{err}");
        assert!(decode_text(b"x", Some("iso-2022-kr")).is_err(), "the replacement encoding is refused");
    }

    #[test]
    fn invalid_utf8_lists_lines() {
        let err = decode_text(b"ok\n\xD6lund\nfine\n\xC9mile \xC9\n", None).unwrap_err();
        assert_eq!(err, DecodeError::InvalidUtf8 { lines: vec![2, 4], more_lines: 0 });
        assert!(err.to_string().contains("invalid bytes on lines 2, 4; declare its encoding, e.g. --encoding windows-1252"));
        let many: Vec<u8> = (0..25).flat_map(|_| b"\xFF\n".to_vec()).collect();
        let err = decode_text(&many, None).unwrap_err();
        assert!(
            err.to_string().contains("lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 and 5 more")
        );
    }

    #[test]
    fn utf16_without_a_byte_order_mark_is_named() {
        assert_eq!(decode_text(b"e\0m\0a\0i\0l\0", None).unwrap_err(), DecodeError::LooksLikeUtf16WithoutByteOrderMark);
        assert_eq!(decode_text(b"e\0m\0", Some("utf-16le")).unwrap().text, "em");
    }
}

//! How addresses and payloads look in the log: addresses as Python tuples,
//! so a run can be held next to the Python original, and payloads as quoted
//! text that any bytes at all can be turned into.

use std::fmt::{self, Display, Write};
use std::net::SocketAddr;

/// An address the way Python prints it: `('127.0.0.1', 55821)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyAddr(pub SocketAddr);

impl Display for PyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V4(a) => write!(f, "('{}', {})", a.ip(), a.port()),
            SocketAddr::V6(a) => write!(
                f,
                "('{}', {}, {}, {})",
                a.ip(),
                a.port(),
                a.flowinfo(),
                a.scope_id()
            ),
        }
    }
}

/// Payloads longer than this are shortened in the log.
pub const SHOWN_BYTES: usize = 64;
/// How much of a shortened payload is still shown.
const SHOWN_PREFIX: usize = 40;

/// A payload as it appears in the log: `"text"`, with `"`, `\`, control
/// characters and invalid UTF-8 escaped (`\n`, `\x00`), and, past
/// [`SHOWN_BYTES`], cut short with its length: `"AAAA…" (1048576 bytes)`.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a>(pub &'a [u8]);

impl Display for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        let long = bytes.len() > SHOWN_BYTES;
        let shown = if long { &bytes[..SHOWN_PREFIX] } else { bytes };
        f.write_char('"')?;
        for chunk in shown.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if (c as u32) < 0x80 && c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if long {
            write!(f, "…\" ({} bytes)", bytes.len())
        } else {
            f.write_char('"')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_python_tuples() {
        let v4: SocketAddr = "127.0.0.1:55821".parse().unwrap();
        assert_eq!(PyAddr(v4).to_string(), "('127.0.0.1', 55821)");
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(PyAddr(v6).to_string(), "('::1', 80, 0, 0)");
    }

    #[test]
    fn text_is_quoted_and_escaped() {
        assert_eq!(
            Payload(b"This is the message. ").to_string(),
            "\"This is the message. \""
        );
        assert_eq!(Payload(b"a\"b\\c\n").to_string(), r#""a\"b\\c\n""#);
        assert_eq!(Payload(b"\x00\xff\xfe!").to_string(), r#""\x00\xff\xfe!""#);
        assert_eq!(Payload("é".as_bytes()).to_string(), "\"é\"");
    }

    #[test]
    fn long_payloads_are_shortened_with_their_length() {
        let data = vec![b'A'; 1 << 20];
        let shown = Payload(&data).to_string();
        assert!(shown.ends_with("…\" (1048576 bytes)"), "{shown}");
        assert!(shown.len() < 80, "{shown}");
        // A multi-byte character cut at the boundary is escaped, not a panic.
        let mixed = "é".repeat(100);
        assert!(
            Payload(mixed.as_bytes())
                .to_string()
                .contains("(200 bytes)")
        );
    }
}

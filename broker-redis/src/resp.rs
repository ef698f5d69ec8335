//! A reader of the RESP2 frames a subscriber connection receives (`message` pushes,
//! `subscribe` confirmations, `pong`, errors) and the writer of the few commands it sends.
//!
//! Why not redis-rs's own parser: it builds a `Value` tree and a `Msg` per message, with a
//! `Vec` per string, and hands each one over a channel from its own task. Here a frame is
//! located in the read buffer and its channel and payload come out as slices of that buffer:
//! no copy, no allocation per string.

use std::ops::Range;

/// The most nested arrays followed before the input is taken as garbage.
const MAX_DEPTH: usize = 4;

/// One frame, located in the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `message <channel> <payload>`: where the channel and the payload are.
    Message {
        channel: Range<usize>,
        payload: Range<usize>,
    },
    /// A `subscribe` confirmation (one per channel).
    Subscribed,
    /// The answer to `PING`: `pong` in subscribed mode, `+PONG` before.
    Pong,
    /// `+OK` (the answer to `AUTH`).
    Ok,
    /// An error reply, its text.
    Error(String),
    /// An integer reply (what `PUBLISH` answers).
    Integer(i64),
    /// A bulk string reply: where it is.
    Bulk(Range<usize>),
    /// A bulk string reply copied out of the buffer ([`crate::conn::Conn::next_frame`]).
    Text(String),
    /// Anything else (`unsubscribe`, `pmessage`, …), skipped.
    Other,
}

/// Input that is not RESP: the connection cannot be trusted past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError(pub(crate) &'static str);

/// One element of an array, as far as frames need it.
enum Elem {
    Bulk(Range<usize>),
    Other,
}

/// Parses the frame at the start of `buf`: `Ok(None)` when it is not complete yet, else the
/// frame and its length in bytes.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    match kind {
        b'*' => {
            let Some((count, mut at)) = number_line(buf, 1)? else {
                return Ok(None);
            };
            if count <= 0 {
                return Ok(Some((Frame::Other, at)));
            }
            let count = count as usize;
            // The kind (`message`, `subscribe`, `pong`, …) and up to two more elements.
            let mut first: [Option<Range<usize>>; 3] = [None, None, None];
            for i in 0..count {
                let Some((elem, next)) = element(buf, at, 1)? else {
                    return Ok(None);
                };
                if let (Some(slot), Elem::Bulk(range)) = (first.get_mut(i), elem) {
                    *slot = Some(range);
                }
                at = next;
            }
            let kind = first[0].clone().map(|r| &buf[r]).unwrap_or_default();
            let frame = match (kind, count) {
                (b"message", 3) => match (first[1].clone(), first[2].clone()) {
                    (Some(channel), Some(payload)) => Frame::Message { channel, payload },
                    _ => Frame::Other,
                },
                (b"subscribe", _) => Frame::Subscribed,
                (b"pong", _) => Frame::Pong,
                _ => Frame::Other,
            };
            Ok(Some((frame, at)))
        }
        b'+' => {
            let Some(end) = line_end(buf, 1) else {
                return Ok(None);
            };
            let frame = match &buf[1..end] {
                b"OK" => Frame::Ok,
                b"PONG" => Frame::Pong,
                _ => Frame::Other,
            };
            Ok(Some((frame, end + 2)))
        }
        b'-' => {
            let Some(end) = line_end(buf, 1) else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(&buf[1..end]).into_owned();
            Ok(Some((Frame::Error(text), end + 2)))
        }
        b':' => match number_line(buf, 1)? {
            Some((n, len)) => Ok(Some((Frame::Integer(n), len))),
            None => Ok(None),
        },
        _ => match element(buf, 0, 0)? {
            Some((Elem::Bulk(range), len)) => Ok(Some((Frame::Bulk(range), len))),
            Some((Elem::Other, len)) => Ok(Some((Frame::Other, len))),
            None => Ok(None),
        },
    }
}

/// The element starting at `at`: `Ok(None)` when incomplete, else it and where the next starts.
fn element(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Elem, usize)>, ProtocolError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    match kind {
        b'$' => {
            let Some((len, start)) = number_line(buf, at + 1)? else {
                return Ok(None);
            };
            if len < 0 {
                return Ok(Some((Elem::Other, start)));
            }
            let end = start
                .checked_add(len as usize)
                .ok_or(ProtocolError("bulk string length out of range"))?;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not followed by CRLF"));
            }
            Ok(Some((Elem::Bulk(start..end), end + 2)))
        }
        b':' | b'+' | b'-' => match line_end(buf, at + 1) {
            Some(end) => Ok(Some((Elem::Other, end + 2))),
            None => Ok(None),
        },
        b'*' => {
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deep"));
            }
            let Some((count, mut next)) = number_line(buf, at + 1)? else {
                return Ok(None);
            };
            for _ in 0..count.max(0) {
                match element(buf, next, depth + 1)? {
                    Some((_, n)) => next = n,
                    None => return Ok(None),
                }
            }
            Ok(Some((Elem::Other, next)))
        }
        _ => Err(ProtocolError(
            "unexpected byte at the start of a RESP element",
        )),
    }
}

/// Where the line starting at `from` ends (the index of its `\r`), if its CRLF has arrived.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    if rest.get(cr + 1).is_some() {
        Some(from + cr)
    } else {
        None
    }
}

/// The decimal number on the line starting at `from`, and where the next line starts.
fn number_line(buf: &[u8], from: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(end) = line_end(buf, from) else {
        // A length line is short; one that runs on for long is not RESP.
        if buf.len().saturating_sub(from) > 32 {
            return Err(ProtocolError("length line too long"));
        }
        return Ok(None);
    };
    if buf.get(end + 1) != Some(&b'\n') {
        return Err(ProtocolError("CR not followed by LF"));
    }
    let digits = &buf[from..end];
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError("bad length"));
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Ok(Some((if negative { -n } else { n }, end + 2)))
}

/// Appends a command (an array of bulk strings) to `out`.
pub(crate) fn command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut buf: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some((frame, len)) = parse(buf).expect("valid") {
            frames.push(frame);
            buf = &buf[len..];
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        frames
    }

    #[test]
    fn messages_point_into_the_buffer() {
        let buf = b"*3\r\n$7\r\nmessage\r\n$9\r\nMOL-x.REQ\r\n$7\r\n{\"a\":1}\r\n";
        let (frame, len) = parse(buf).expect("valid").expect("complete");
        assert_eq!(len, buf.len());
        let Frame::Message { channel, payload } = frame else {
            panic!("{frame:?}")
        };
        assert_eq!(&buf[channel], b"MOL-x.REQ");
        assert_eq!(&buf[payload], b"{\"a\":1}");
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete() {
        let buf = b"*3\r\n$7\r\nmessage\r\n$3\r\nabc\r\n$0\r\n\r\n";
        for cut in 0..buf.len() {
            assert_eq!(parse(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(matches!(
            parse(buf),
            Ok(Some((Frame::Message { .. }, n))) if n == buf.len()
        ));
    }

    #[test]
    fn confirmations_pongs_and_errors() {
        let buf = b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n+PONG\r\n+OK\r\n-NOPERM no\r\n:42\r\n$2\r\nab\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$1\r\nb\r\n:5\r\n$-1\r\n";
        assert_eq!(
            all(buf),
            vec![
                Frame::Subscribed,
                Frame::Pong,
                Frame::Pong,
                Frame::Ok,
                Frame::Error("NOPERM no".into()),
                Frame::Integer(42),
                Frame::Bulk(4..6),
                Frame::Other,
                Frame::Other,
                Frame::Integer(5),
                Frame::Other,
            ]
        );
    }

    #[test]
    fn a_payload_may_hold_crlf_and_any_byte() {
        let payload = b"a\r\nb\x00\xff";
        let mut buf = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$6\r\n".to_vec();
        buf.extend_from_slice(payload);
        buf.extend_from_slice(b"\r\n");
        let Some((Frame::Message { payload: p, .. }, _)) = parse(&buf).expect("valid") else {
            panic!("no message")
        };
        assert_eq!(&buf[p], payload);
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for bad in [
            &b"hello\r\n"[..],
            b"*1\r\n$3\r\nabcXY",
            b"*x\r\n",
            b"*1\r\n$99999999999999999999\r\n",
            b"*1\r*1\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"*1\r\n$123456789012345678901234567890123456789",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&mut out, [&b"SUBSCRIBE"[..], b"a", b""].into_iter());
        assert_eq!(out, b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$0\r\n\r\n");
    }
}

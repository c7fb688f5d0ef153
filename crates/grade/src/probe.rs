//! The client side of the checks: connect, send, read with a limit on how
//! long the server may stay silent, and describe what came back.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server may send nothing before a check gives up on it. A
/// correct server on this machine answers in milliseconds.
pub const SILENCE: Duration = Duration::from_secs(2);

/// No check reads for longer than this in all.
pub const READ_LIMIT: Duration = Duration::from_secs(30);

pub fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// How a read ended.
#[derive(Debug)]
pub enum End {
    /// As many bytes as were asked for came.
    Complete,
    /// The server closed the connection.
    Eof,
    /// Nothing came for [`SILENCE`].
    Silent(Duration),
    /// The time allowed for the whole read passed.
    Limit(Duration),
    Error(io::Error),
}

/// What a read got, and how it ended.
#[derive(Debug)]
pub struct Received {
    pub data: Vec<u8>,
    pub end: End,
}

/// Reads until `want` bytes came (`None`: until end-of-file), the server
/// closes, an error, or `silence` without a byte.
pub fn read_until(stream: &TcpStream, want: Option<usize>, silence: Duration) -> Received {
    read_within(stream, want, silence, READ_LIMIT)
}

/// [`read_until`], giving up once `limit` has passed in all.
pub fn read_within(
    stream: &TcpStream,
    want: Option<usize>,
    silence: Duration,
    limit: Duration,
) -> Received {
    read_counting(stream, want, silence, limit, &AtomicUsize::new(0))
}

/// [`read_within`], keeping `progress` at the number of bytes received so
/// far, for a sender in another thread that must not run too far ahead.
pub fn read_counting(
    stream: &TcpStream,
    want: Option<usize>,
    silence: Duration,
    limit: Duration,
    progress: &AtomicUsize,
) -> Received {
    let mut data = Vec::with_capacity(want.unwrap_or(0).min(64 << 20));
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    if let Err(e) = stream.set_read_timeout(Some(silence)) {
        return Received {
            data,
            end: End::Error(e),
        };
    }
    let mut reader = stream;
    loop {
        if want.is_some_and(|w| data.len() >= w) {
            return Received {
                data,
                end: End::Complete,
            };
        }
        if start.elapsed() > limit {
            return Received {
                data,
                end: End::Limit(limit),
            };
        }
        let room = want.map_or(buf.len(), |w| (w - data.len()).min(buf.len()));
        match reader.read(&mut buf[..room]) {
            Ok(0) => {
                return Received {
                    data,
                    end: End::Eof,
                };
            }
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                progress.store(data.len(), Ordering::Release);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Received {
                    data,
                    end: End::Silent(silence),
                };
            }
            Err(e) => {
                return Received {
                    data,
                    end: End::Error(e),
                };
            }
        }
    }
}

/// Whether nothing arrives on `stream` for `wait`: `Ok(())` if so, or what
/// arrived instead.
pub fn expect_silence(stream: &TcpStream, wait: Duration) -> Result<(), String> {
    let got = read_until(stream, Some(1), wait);
    match got.end {
        End::Silent(_) => Ok(()),
        End::Complete | End::Limit(_) => Err(format!("got {} unexpectedly", show(&got.data))),
        End::Eof => Err("the server closed the connection".into()),
        End::Error(e) => Err(format!("read failed: {e}")),
    }
}

/// Sends `what` and expects it back within [`SILENCE`].
pub fn round_trip(stream: &TcpStream, what: &[u8]) -> Result<(), String> {
    round_trip_within(stream, what, SILENCE)
}

/// Sends `what` and expects it back with no pause longer than `silence`.
pub fn round_trip_within(stream: &TcpStream, what: &[u8], silence: Duration) -> Result<(), String> {
    let mut writer = stream;
    writer
        .write_all(what)
        .map_err(|e| format!("send failed: {e}"))?;
    judge_echo(what, &read_until(stream, Some(what.len()), silence), false).map(drop)
}

/// Writes `data` from a new thread, so the caller can read (or not) at the
/// same time; shuts the write side down afterwards if `then_shutdown`.
pub fn send_in_background(
    stream: &TcpStream,
    data: Arc<Vec<u8>>,
    then_shutdown: bool,
) -> Result<JoinHandle<io::Result<()>>, String> {
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    // A server that stops reading for good must not hang the check.
    let _ = writer.set_write_timeout(Some(READ_LIMIT));
    Ok(std::thread::spawn(move || {
        writer.write_all(&data)?;
        if then_shutdown {
            writer.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }))
}

/// Shuts the connection down (so a sender blocked on a server that stopped
/// reading gives up) and waits for the [`send_in_background`] thread.
pub fn finish_sender(stream: &TcpStream, sender: JoinHandle<io::Result<()>>) {
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
}

/// Compares an echo with what was sent. `Ok` names what came back; `Err`
/// says what went wrong, with the figures.
pub fn judge_echo(sent: &[u8], got: &Received, expect_eof: bool) -> Result<String, String> {
    let n = got.data.len();
    let total = sent.len();
    if got.data[..] != sent[..n.min(total)] || n > total {
        let at = got
            .data
            .iter()
            .zip(sent)
            .position(|(a, b)| a != b)
            .unwrap_or(n.min(total));
        return Err(format!(
            "the echo differs from what was sent at byte {at} of {total}"
        ));
    }
    let ending = match &got.end {
        End::Complete => "",
        End::Eof => ", then end-of-file",
        End::Silent(d) => &format!(", then nothing for {} s", d.as_secs_f64()),
        End::Limit(d) => &format!(" in the {} s allowed", d.as_secs_f64()),
        End::Error(e) => &format!(", then {}", describe_error(e)),
    };
    if n < total {
        return Err(format!(
            "got {n} of {total} bytes back ({}%){ending}",
            n * 100 / total.max(1)
        ));
    }
    if expect_eof && !matches!(got.end, End::Eof) {
        return Err(format!(
            "got all {total} bytes back, but no end-of-file{ending}"
        ));
    }
    Ok(format!("all {} came back in order", bytes(total)))
}

pub fn describe_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionReset => "the connection was reset".into(),
        _ => format!("error: {e}"),
    }
}

/// A byte count the way people say it: `4 MiB`, `200 KiB`, `46 bytes`.
pub fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n & ((1 << 20) - 1) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n & ((1 << 10) - 1) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// A short payload for a message: `"hello\n"`.
pub fn show(data: &[u8]) -> String {
    echo_common::Payload(data).to_string()
}

/// Megabytes with one decimal, for memory figures.
pub fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(data: &[u8], end: End) -> Received {
        Received {
            data: data.to_vec(),
            end,
        }
    }

    #[test]
    fn echoes_are_judged_with_figures() {
        assert_eq!(
            judge_echo(b"abcd", &received(b"abcd", End::Complete), false),
            Ok("all 4 bytes came back in order".into())
        );
        assert_eq!(
            judge_echo(b"abcd", &received(b"ab", End::Eof), false),
            Err("got 2 of 4 bytes back (50%), then end-of-file".into())
        );
        assert_eq!(
            judge_echo(
                b"abcd",
                &received(b"abcd", End::Silent(Duration::from_secs(2))),
                true
            ),
            Err("got all 4 bytes back, but no end-of-file, then nothing for 2 s".into())
        );
        assert_eq!(
            judge_echo(b"abcd", &received(b"abxd", End::Complete), false),
            Err("the echo differs from what was sent at byte 2 of 4".into())
        );
    }

    #[test]
    fn byte_counts_read_naturally() {
        assert_eq!(bytes(4 << 20), "4 MiB");
        assert_eq!(bytes(200 << 10), "200 KiB");
        assert_eq!(bytes(46), "46 bytes");
    }
}

//! The load generator: `conns` connections play ping-pong with an echo
//! server (send `size` bytes, read them back, check every byte, repeat),
//! while `idle` more connections stay open and silent.
//!
//! One thread drives every active connection through one epoll instance
//! (level-triggered, so a partial read or write simply waits for the next
//! event). Sockets have `TCP_NODELAY`, so a round trip never waits for
//! Nagle's algorithm on this side.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use echo_sys::epoll::{EMPTY_EVENT, epoll_create1, epoll_ctl, epoll_wait};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How long the generator waits for any reply before it declares the server
/// stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle connections are opened this many at a time, and each batch is
/// echoed once before the next, so the server has really accepted them (and
/// the listen backlog never overflows).
const IDLE_BATCH: usize = 256;

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Active ping-pong connections.
    pub conns: usize,
    /// Extra connections, opened, echoed once, then silent.
    pub idle: usize,
    /// Bytes per message.
    pub size: usize,
    /// Measured time, after the warmup.
    pub duration: Duration,
    /// Time run but not measured, so connections and caches are warm.
    pub warmup: Duration,
    /// The server's process id, to read its CPU time, memory and threads.
    pub server_pid: Option<u32>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Latency percentiles of the measured round trips, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// What the server used during the measured window (from `/proc/PID`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// User plus system CPU seconds during the measured window.
    pub cpu_s: f64,
    /// `cpu_s` divided by the round trips of the window, in microseconds.
    pub cpu_us_per_round_trip: Option<f64>,
    /// Resident memory at the end of the window.
    pub rss_bytes: Option<u64>,
    /// Threads at the end of the window.
    pub threads: Option<u64>,
}

/// The result of one run, as printed by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub addr: String,
    pub conns: usize,
    pub idle: usize,
    pub size: usize,
    pub warmup_s: f64,
    /// The measured window, as it really lasted.
    pub duration_s: f64,
    /// Time to open (and echo once) every connection.
    pub setup_s: f64,
    /// Round trips completed in the measured window.
    pub round_trips: u64,
    /// Every round trip of the run: warmup, window and the idle
    /// connections' single echoes (what a system call count covers).
    pub round_trips_total: u64,
    pub round_trips_per_s: f64,
    /// Bytes echoed and checked over the whole run.
    pub bytes_verified: u64,
    pub latency_us: Option<Latency>,
    /// The generator's own CPU seconds during the measured window.
    pub client_cpu_s: f64,
    pub server: Option<ServerUsage>,
    /// The generator's part of the CPU both processes used in the window.
    pub client_cpu_share: Option<f64>,
}

/// One active connection's state in its current round trip.
struct Conn {
    stream: TcpStream,
    /// Offset of this round's message in the pattern.
    offset: usize,
    sent: usize,
    got: usize,
    started: Instant,
    /// Registered for `EPOLLOUT` because a write was partial.
    want_write: bool,
}

/// The messages: slices of one pseudo-random pattern, at an offset that
/// changes every round and differs between connections, so a byte echoed to
/// the wrong connection, twice, or late shows up as a mismatch.
struct Pattern(Vec<u8>);

const PATTERN_SPAN: usize = 4093;

impl Pattern {
    fn new(size: usize) -> Self {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        Pattern(
            (0..size + PATTERN_SPAN)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                })
                .collect(),
        )
    }

    fn offset(conn: usize, round: u64) -> usize {
        ((conn as u64 * 1009 + round * 7) % PATTERN_SPAN as u64) as usize
    }
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn server_cpu(pid: Option<u32>) -> Option<Duration> {
    pid.and_then(test_support::procfs::cpu_time)
}

fn own_cpu() -> Duration {
    echo_sys::process_cpu_time().unwrap_or_default()
}

/// Runs the load and returns what it measured, or a one-line reason why it
/// could not (connection refused, a wrong byte, a server that stopped
/// answering).
pub fn run(config: &Config) -> Result<Report, String> {
    if config.size == 0 && config.conns > 0 {
        return Err("--size must be at least 1".into());
    }
    let setup_start = Instant::now();
    let mut total_round_trips = 0u64;
    let mut bytes_verified = 0u64;
    let idle = open_idle(config.addr, config.idle)?;
    total_round_trips += idle.len() as u64;
    bytes_verified += idle.len() as u64;

    let epoll = epoll_create1().map_err(|e| format!("epoll_create1: {e}"))?;
    let pattern = Pattern::new(config.size);
    let mut conns = Vec::with_capacity(config.conns);
    for i in 0..config.conns {
        let stream = TcpStream::connect_timeout(&config.addr, STALL_TIMEOUT)
            .map_err(|e| format!("connect to {}: {e}", config.addr))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_nonblocking(true))
            .map_err(|e| format!("socket options: {e}"))?;
        epoll_ctl(
            epoll.as_fd(),
            libc::EPOLL_CTL_ADD,
            stream.as_fd(),
            libc::EPOLLIN as u32,
            i as u64,
        )
        .map_err(|e| format!("epoll_ctl: {e}"))?;
        conns.push(Conn {
            stream,
            offset: Pattern::offset(i, 0),
            sent: 0,
            got: 0,
            started: Instant::now(),
            want_write: false,
        });
    }
    let setup = setup_start.elapsed();

    let progress = Progress::new(config);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let start = Instant::now();
    let warmup_end = start + config.warmup;
    let end = warmup_end + config.duration;
    let mut measuring = config.warmup.is_zero();
    let mut window_start = start;
    let mut window_round_trips = 0u64;
    let mut client_cpu_start = own_cpu();
    let mut server_cpu_start = server_cpu(config.server_pid);
    let mut rounds = vec![0u64; conns.len()];
    let mut events = vec![EMPTY_EVENT; conns.len().clamp(1, 1024)];
    let mut scratch = vec![0u8; config.size.clamp(1, 1 << 20)];
    let mut last_reply = Instant::now();

    for (i, conn) in conns.iter_mut().enumerate() {
        conn.started = Instant::now();
        send(conn, &pattern, epoll.as_fd(), i)?;
    }

    loop {
        let now = Instant::now();
        if !measuring && now >= warmup_end {
            measuring = true;
            hist.reset();
            window_start = now;
            window_round_trips = 0;
            client_cpu_start = own_cpu();
            server_cpu_start = server_cpu(config.server_pid);
        }
        if now >= end {
            break;
        }
        progress.update(
            now - start,
            window_round_trips,
            now - window_start,
            measuring,
        );
        let next_boundary = if measuring { end } else { warmup_end };
        let wait = (next_boundary - now).min(Duration::from_millis(100));
        if conns.is_empty() {
            std::thread::sleep(wait);
            continue;
        }
        let timeout_ms = wait.as_millis().clamp(1, 1000) as libc::c_int;
        let n = match epoll_wait(epoll.as_fd(), &mut events, timeout_ms) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        if n == 0 {
            if last_reply.elapsed() > STALL_TIMEOUT {
                return Err(format!(
                    "no echo for {} s on any of {} connections: is the server stuck?",
                    STALL_TIMEOUT.as_secs(),
                    conns.len()
                ));
            }
            continue;
        }
        last_reply = Instant::now();
        for event in &events[..n] {
            let i = event.u64 as usize;
            let flags = event.events;
            let Some(conn) = conns.get_mut(i) else {
                continue;
            };
            if flags & libc::EPOLLOUT as u32 != 0 {
                send(conn, &pattern, epoll.as_fd(), i)?;
            }
            if flags & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                continue;
            }
            let want = (config.size - conn.got).min(scratch.len());
            let n = match conn.stream.read(&mut scratch[..want]) {
                Ok(0) => {
                    return Err(format!(
                        "connection {i} was closed by the server after {} of {} bytes of round trip {}",
                        conn.got, config.size, rounds[i]
                    ));
                }
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(format!("connection {i}: read: {e}")),
            };
            let expected = &pattern.0[conn.offset + conn.got..conn.offset + conn.got + n];
            if let Some(at) = scratch[..n].iter().zip(expected).position(|(a, b)| a != b) {
                return Err(format!(
                    "connection {i}, round trip {}: byte {} came back as {:#04x}, sent {:#04x}",
                    rounds[i],
                    conn.got + at,
                    scratch[at],
                    expected[at]
                ));
            }
            if conn.got + n > conn.sent {
                return Err(format!(
                    "connection {i}: {} bytes came back but only {} were sent",
                    conn.got + n,
                    conn.sent
                ));
            }
            conn.got += n;
            bytes_verified += n as u64;
            if conn.got == config.size {
                let done = Instant::now();
                let _ = hist.record((done - conn.started).as_nanos().max(1) as u64);
                total_round_trips += 1;
                window_round_trips += 1;
                rounds[i] += 1;
                conn.offset = Pattern::offset(i, rounds[i]);
                conn.sent = 0;
                conn.got = 0;
                conn.started = done;
                send(conn, &pattern, epoll.as_fd(), i)?;
            }
        }
    }
    let window = window_start.elapsed();
    let client_cpu = own_cpu().saturating_sub(client_cpu_start);
    let server = config.server_pid.map(|pid| {
        let cpu = match (server_cpu_start, server_cpu(Some(pid))) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        };
        ServerUsage {
            pid,
            cpu_s: seconds(cpu),
            cpu_us_per_round_trip: (window_round_trips > 0)
                .then(|| seconds(cpu) * 1e6 / window_round_trips as f64),
            rss_bytes: test_support::procfs::rss_bytes(pid),
            threads: test_support::procfs::threads(pid),
        }
    });
    progress.finish();
    drop(idle);
    let latency = (!hist.is_empty()).then(|| Latency {
        p50: hist.value_at_quantile(0.50) as f64 / 1e3,
        p99: hist.value_at_quantile(0.99) as f64 / 1e3,
        p999: hist.value_at_quantile(0.999) as f64 / 1e3,
        max: hist.max() as f64 / 1e3,
        mean: hist.mean() / 1e3,
    });
    let client_cpu_share = server.as_ref().and_then(|s| {
        let both = s.cpu_s + seconds(client_cpu);
        (both > 0.0).then(|| seconds(client_cpu) / both)
    });
    Ok(Report {
        addr: config.addr.to_string(),
        conns: config.conns,
        idle: config.idle,
        size: config.size,
        warmup_s: seconds(config.warmup),
        duration_s: seconds(window),
        setup_s: seconds(setup),
        round_trips: window_round_trips,
        round_trips_total: total_round_trips,
        round_trips_per_s: if window.is_zero() {
            0.0
        } else {
            window_round_trips as f64 / seconds(window)
        },
        bytes_verified,
        latency_us: latency,
        client_cpu_s: seconds(client_cpu),
        server,
        client_cpu_share,
    })
}

/// Writes as much of the current message as the socket takes. A partial
/// write registers for `EPOLLOUT`; the rest goes out on that event.
fn send(
    conn: &mut Conn,
    pattern: &Pattern,
    epoll: std::os::fd::BorrowedFd<'_>,
    i: usize,
) -> Result<(), String> {
    let size = pattern.0.len() - PATTERN_SPAN;
    while conn.sent < size {
        let data = &pattern.0[conn.offset + conn.sent..conn.offset + size];
        match conn.stream.write(data) {
            Ok(n) => conn.sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(format!("connection {i}: write: {e}")),
        }
    }
    let want_write = conn.sent < size;
    if want_write != conn.want_write {
        let mut interest = libc::EPOLLIN as u32;
        if want_write {
            interest |= libc::EPOLLOUT as u32;
        }
        epoll_ctl(
            epoll,
            libc::EPOLL_CTL_MOD,
            conn.stream.as_fd(),
            interest,
            i as u64,
        )
        .map_err(|e| format!("epoll_ctl: {e}"))?;
        conn.want_write = want_write;
    }
    Ok(())
}

/// Opens `count` connections, a batch at a time, and has each echo one byte,
/// so that the server has accepted every one of them before the load starts.
fn open_idle(addr: SocketAddr, count: usize) -> Result<Vec<TcpStream>, String> {
    let mut idle = Vec::with_capacity(count);
    while idle.len() < count {
        let first = idle.len();
        let batch = IDLE_BATCH.min(count - first);
        for _ in 0..batch {
            let stream = TcpStream::connect_timeout(&addr, STALL_TIMEOUT)
                .map_err(|e| format!("idle connection {} of {count}: connect: {e}", idle.len()))?;
            let _ = stream.set_nodelay(true);
            idle.push(stream);
        }
        for (i, stream) in idle[first..].iter_mut().enumerate() {
            let ping = [(first + i) as u8 | 1];
            stream
                .write_all(&ping)
                .map_err(|e| format!("idle connection {}: write: {e}", first + i))?;
        }
        for (i, stream) in idle[first..].iter_mut().enumerate() {
            let which = first + i;
            let mut back = [0u8; 1];
            let read = stream
                .set_read_timeout(Some(STALL_TIMEOUT))
                .and_then(|()| stream.read(&mut back));
            match read {
                Ok(1) if back[0] == (which as u8 | 1) => {}
                Ok(1) => {
                    return Err(format!(
                        "idle connection {which}: echoed {:#04x}, sent {:#04x}",
                        back[0],
                        which as u8 | 1
                    ));
                }
                Ok(_) => {
                    return Err(format!(
                        "idle connection {which} of {count} was closed by the server \
                         before its echo (a limit such as select's FD_SETSIZE?)"
                    ));
                }
                Err(e) => return Err(format!("idle connection {which} of {count}: {e}")),
            }
        }
    }
    Ok(idle)
}

/// A progress bar on stderr, for runs long enough to wonder about.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(config: &Config) -> Self {
        let total = config.warmup + config.duration;
        if !config.progress || total < Duration::from_secs(3) || !crate::stderr_is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {elapsed}/{duration} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress(Some(bar))
    }

    fn update(&self, elapsed: Duration, round_trips: u64, window: Duration, measuring: bool) {
        let Some(bar) = &self.0 else { return };
        bar.set_position(elapsed.as_millis() as u64);
        if !measuring {
            bar.set_message("warming up");
        } else if !window.is_zero() {
            bar.set_message(format!(
                "{:.0} round trips/s",
                round_trips as f64 / window.as_secs_f64()
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The report as a human reads it.
pub fn format_table(r: &Report) -> String {
    let mut out = String::new();
    let idle = if r.idle > 0 {
        format!(" (+{} idle)", r.idle)
    } else {
        String::new()
    };
    out += &format!(
        "echo-bench: {} connection{}{idle}, {} B messages, {:.2} s measured after {:.2} s warmup, against {}\n",
        r.conns,
        if r.conns == 1 { "" } else { "s" },
        r.size,
        r.duration_s,
        r.warmup_s,
        r.addr
    );
    out += &format!(
        "  round trips   {} ({:.0}/s), {} bytes echoed and verified\n",
        r.round_trips, r.round_trips_per_s, r.bytes_verified
    );
    if let Some(l) = &r.latency_us {
        out += &format!(
            "  latency       p50 {}  p99 {}  p99.9 {}  max {}\n",
            micros(l.p50),
            micros(l.p99),
            micros(l.p999),
            micros(l.max)
        );
    }
    out += &format!(
        "  client CPU    {:.2} s ({:.0}% of one core)\n",
        r.client_cpu_s,
        100.0 * r.client_cpu_s / r.duration_s.max(1e-9)
    );
    if let Some(s) = &r.server {
        let per_rt = s
            .cpu_us_per_round_trip
            .map_or(String::new(), |us| format!(", {us:.2} µs per round trip"));
        out += &format!(
            "  server CPU    {:.2} s ({:.0}% of one core){per_rt}\n",
            s.cpu_s,
            100.0 * s.cpu_s / r.duration_s.max(1e-9)
        );
        if let Some(share) = r.client_cpu_share {
            out += &format!(
                "  client share  {:.0}% of the CPU both used\n",
                100.0 * share
            );
        }
        let rss = s
            .rss_bytes
            .map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
        let threads = s.threads.map_or("?".into(), |t| t.to_string());
        out += &format!(
            "  server        pid {}, {rss} resident, {threads} thread(s)\n",
            s.pid
        );
    }
    out
}

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

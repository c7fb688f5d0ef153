//! Exercise 2: `--sleep-ms` lets a busy loop rest when it has nothing to do.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::checks::binary_payload;

use super::{CheckDef, Ctx, Outcome, cpu_over, idle_clients};
use crate::probe::{
    SILENCE, bytes, connect, judge_echo, read_until, read_within, send_in_background,
};

pub const IDLE_CPU: CheckDef = CheckDef {
    name: "sleep-idle-cpu",
    about: "with --sleep-ms 10 and 3 idle clients, the server uses under 0.15 s of CPU in 1 s",
    run: idle_cpu,
};

pub const THROUGHPUT: CheckDef = CheckDef {
    name: "sleep-throughput",
    about: "with --sleep-ms 10, a 4 MiB echo still takes under 2 s: no pause while there is work",
    run: throughput,
};

pub const TRADE_OFF: CheckDef = CheckDef {
    name: "trade-off",
    about: "idle CPU and round-trip time for --sleep-ms 0, 1 and 10; with 10, a round trip takes under 40 ms",
    run: trade_off,
};

const IDLE_LIMIT: Duration = Duration::from_millis(150);

fn idle_cpu(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--quiet", "--sleep-ms", "10"])?;
    let _clients = idle_clients(&server, 3)?;
    match cpu_over(&server, Duration::from_secs(1)) {
        None => Ok("CPU not measured (no /proc here)".into()),
        Some(cpu) if cpu > IDLE_LIMIT => Err(format!(
            "{:.2} s of CPU in 1 s with 3 idle clients and --sleep-ms 10 (limit {:.2} s)",
            cpu.as_secs_f64(),
            IDLE_LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!(
            "{:.2} s of CPU in 1 s with 3 idle clients and --sleep-ms 10",
            cpu.as_secs_f64()
        )),
    }
}

fn throughput(ctx: &Ctx) -> Outcome {
    const SIZE: usize = 4 << 20;
    const LIMIT: Duration = Duration::from_secs(2);
    let server = ctx.start(&["--quiet", "--sleep-ms", "10"])?;
    let payload = Arc::new(binary_payload(SIZE, 9));
    let stream = connect(server.addr())?;
    let start = Instant::now();
    let sender = send_in_background(&stream, Arc::clone(&payload), false)?;
    let got = read_within(&stream, Some(SIZE), SILENCE, LIMIT);
    let took = start.elapsed();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    judge_echo(&payload, &got, false)?;
    let figure = format!(
        "a {} echo took {:.2} s with --sleep-ms 10",
        bytes(SIZE),
        took.as_secs_f64()
    );
    if took > LIMIT {
        Err(format!("{figure} (limit {} s)", LIMIT.as_secs()))
    } else {
        Ok(figure)
    }
}

/// Round trips of one byte, `gap` apart (so each finds the server idle);
/// returns the median.
fn median_round_trip(stream: &TcpStream, count: usize, gap: Duration) -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..count {
        std::thread::sleep(gap);
        let start = Instant::now();
        let mut writer = stream;
        writer
            .write_all(b"x")
            .map_err(|e| format!("send failed: {e}"))?;
        judge_echo(b"x", &read_until(stream, Some(1), SILENCE), false)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn trade_off(ctx: &Ctx) -> Outcome {
    // About 10 ms of sleep plus two wake-ups: 40 ms leaves room for a
    // loaded machine, and still fails a sleep ten times too long.
    const LATENCY_LIMIT: Duration = Duration::from_millis(40);
    let mut table = Vec::new();
    let mut last = None;
    for ms in [0u64, 1, 10] {
        let sleep = ms.to_string();
        let server = ctx.start(&["--quiet", "--sleep-ms", &sleep])?;
        let clients = idle_clients(&server, 1)?;
        let cpu = cpu_over(&server, Duration::from_millis(500));
        let rtt = median_round_trip(&clients[0], 9, Duration::from_millis(25))
            .map_err(|e| format!("with --sleep-ms {ms}: {e}"))?;
        table.push(format!(
            "{ms}: {} of a core while idle, round trip {:.1} ms",
            cpu.map_or("?".into(), |c| format!("{:.0}%", c.as_secs_f64() * 200.0)),
            rtt.as_secs_f64() * 1000.0
        ));
        last = Some(rtt);
    }
    let figure = format!("--sleep-ms {}", table.join("; "));
    match last {
        Some(rtt) if rtt > LATENCY_LIMIT => Err(format!(
            "{figure} (a round trip with 10 ms must take under {} ms)",
            LATENCY_LIMIT.as_millis()
        )),
        _ => Ok(figure),
    }
}

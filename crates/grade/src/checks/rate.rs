//! Exercise 6: `--rate BYTES_PER_SEC` limits how fast the server reads from
//! each client, on an edge-triggered loop: a throttled client's data waits
//! in its socket, and the loop must come back for it when the budget
//! refills, without a new edge, without holding up the others and without
//! spinning meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::checks::binary_payload;

use super::{CheckDef, Ctx, Outcome, cpu_over};
use crate::probe::{
    Received, SILENCE, bytes, connect, finish_sender, judge_echo, read_within, round_trip,
    send_in_background,
};

pub const NO_STRANDING: CheckDef = CheckDef {
    name: "no-stranding",
    about: "with --rate 100000, a client sends 200000 bytes in one go and then only reads: all of it comes back, within 10 s",
    run: no_stranding,
};

pub const RATE: CheckDef = CheckDef {
    name: "rate",
    about: "with --rate 64000, a client sends 256 KiB while reading: every byte comes back, and no sooner than the rate allows (2.5 s at the least)",
    run: rate,
};

pub const OTHERS_SERVED: CheckDef = CheckDef {
    name: "others-served",
    about: "with --rate 8192, while one client is throttled, a second client's 10 short messages come back at once (median under 100 ms)",
    run: others_served,
};

pub const QUIET_WHEN_THROTTLED: CheckDef = CheckDef {
    name: "quiet-when-throttled",
    about: "with --rate 8192, while a client that sent 256 KiB is throttled, the server uses under 0.2 s of CPU in 1 s",
    run: quiet_when_throttled,
};

/// How long a client must take to send `size` bytes at `rate` bytes a
/// second, when its first second's worth goes at once.
fn least_time(size: usize, rate: usize) -> f64 {
    size.saturating_sub(rate) as f64 / rate as f64
}

/// Starts the server with `--rate RATE`; one client sends `size` bytes
/// (made from `seed`) in one go while it reads them back for at most
/// `limit`. Returns what was sent, what came back, and how long that took.
fn echo_under_rate(
    ctx: &Ctx,
    rate: usize,
    size: usize,
    seed: u64,
    limit: Duration,
) -> Result<(Arc<Vec<u8>>, Received, Duration), String> {
    let server = ctx.start(&["--quiet", "--rate", &rate.to_string()])?;
    let payload = Arc::new(binary_payload(size, seed));
    let stream = connect(server.addr())?;
    let start = Instant::now();
    let sender = send_in_background(&stream, Arc::clone(&payload), false)?;
    let got = read_within(&stream, Some(size), SILENCE, limit);
    let took = start.elapsed();
    finish_sender(&stream, sender);
    Ok((payload, got, took))
}

fn no_stranding(ctx: &Ctx) -> Outcome {
    const RATE: usize = 100_000;
    const SIZE: usize = 200_000;
    const LIMIT: Duration = Duration::from_secs(10);
    let (payload, got, took) = echo_under_rate(ctx, RATE, SIZE, 17, LIMIT)?;
    let least = least_time(SIZE, RATE);
    let ok = judge_echo(&payload, &got, false)
        .map_err(|e| format!("{e}, though the budget allows all of it in {least:.1} s"))?;
    Ok(format!(
        "{ok} in {:.2} s, sent in one go (the budget allows {least:.1} s)",
        took.as_secs_f64()
    ))
}

fn rate(ctx: &Ctx) -> Outcome {
    const RATE: usize = 64_000;
    const SIZE: usize = 256 << 10;
    /// Below the least time the rate allows (3.1 s), for a clock that
    /// starts a little before the server's.
    const FLOOR: Duration = Duration::from_millis(2500);
    const LIMIT: Duration = Duration::from_secs(15);
    let (payload, got, took) = echo_under_rate(ctx, RATE, SIZE, 19, LIMIT)?;
    let ok = judge_echo(&payload, &got, false)?;
    let least = least_time(SIZE, RATE);
    if took < FLOOR {
        return Err(format!(
            "{ok} in {:.2} s; at {RATE} bytes a second, with the first second's worth at once, that takes {least:.1} s at the least: the rate is not kept",
            took.as_secs_f64()
        ));
    }
    Ok(format!(
        "{ok} in {:.2} s (the rate allows {least:.1} s at the least)",
        took.as_secs_f64()
    ))
}

fn others_served(ctx: &Ctx) -> Outcome {
    const RATE: usize = 8192;
    const SIZE: usize = 64 << 10;
    const PINGS: usize = 10;
    const MEDIAN_LIMIT: Duration = Duration::from_millis(100);
    let server = ctx.start(&["--quiet", "--rate", &RATE.to_string()])?;
    let payload = Arc::new(binary_payload(SIZE, 23));
    let flooder = connect(server.addr())?;
    let start = Instant::now();
    let sender = send_in_background(&flooder, Arc::clone(&payload), false)?;
    // Long enough for client 1 to have spent its first second's worth.
    std::thread::sleep(Duration::from_millis(300));
    let pinger = connect(server.addr())?;
    let mut waits = Vec::with_capacity(PINGS);
    for i in 1..=PINGS {
        std::thread::sleep(Duration::from_millis(50));
        let sent = Instant::now();
        round_trip(&pinger, format!("ping {i}\n").as_bytes()).map_err(|e| {
            format!("client 2, message {i} of {PINGS}, while client 1 was throttled: {e}")
        })?;
        waits.push(sent.elapsed());
    }
    let during = start.elapsed();
    // What client 1 got back meanwhile: less than all of it, if the rate
    // held it back.
    let got = read_within(
        &flooder,
        Some(SIZE),
        Duration::from_millis(200),
        Duration::from_secs(1),
    );
    finish_sender(&flooder, sender);
    if got.data.len() >= SIZE {
        return Err(format!(
            "client 1 got all its {} back within {:.1} s at --rate {RATE}: it was never throttled",
            bytes(SIZE),
            during.as_secs_f64()
        ));
    }
    waits.sort();
    let median = waits[PINGS / 2];
    let slowest = waits[PINGS - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let figure = format!(
        "client 2's {PINGS} messages came back in {:.1} ms at the median, {:.1} ms at the slowest, while client 1 was throttled",
        ms(median),
        ms(slowest)
    );
    if median > MEDIAN_LIMIT {
        return Err(format!(
            "{figure} (limit {:.0} ms at the median): client 1's budget holds up the others",
            ms(MEDIAN_LIMIT)
        ));
    }
    Ok(figure)
}

fn quiet_when_throttled(ctx: &Ctx) -> Outcome {
    const RATE: usize = 8192;
    const SIZE: usize = 256 << 10;
    const LIMIT: Duration = Duration::from_millis(200);
    let server = ctx.start(&["--quiet", "--rate", &RATE.to_string()])?;
    let payload = Arc::new(binary_payload(SIZE, 29));
    let stream = connect(server.addr())?;
    let sender = send_in_background(&stream, payload, false)?;
    // Long enough for the client to have spent its first second's worth.
    std::thread::sleep(Duration::from_millis(300));
    let cpu = cpu_over(&server, Duration::from_secs(1));
    finish_sender(&stream, sender);
    let what = format!(
        "in 1 s while a client that sent {} was throttled",
        bytes(SIZE)
    );
    match cpu {
        None => Ok("CPU not measured (no /proc here)".into()),
        Some(cpu) if cpu > LIMIT => Err(format!(
            "{:.2} s of CPU {what} (limit {:.2} s): the loop spins while it waits for the budget",
            cpu.as_secs_f64(),
            LIMIT.as_secs_f64()
        )),
        Some(cpu) => Ok(format!("{:.2} s of CPU {what}", cpu.as_secs_f64())),
    }
}

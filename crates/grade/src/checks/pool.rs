//! Exercise 1: `--pool N` caps a thread-per-connection server at N clients.

use std::io::Write;
use std::time::{Duration, Instant};

use test_support::procfs;

use super::echo::echo_messages;
use super::{CheckDef, Ctx, Outcome};
use crate::probe::{SILENCE, connect, expect_silence, judge_echo, read_until, round_trip};

pub const POOL_ECHO: CheckDef = CheckDef {
    name: "pool-echo",
    about: "with --pool 2, five clients one after another each get their echo",
    run: pool_echo,
};

pub const POOL_CAP: CheckDef = CheckDef {
    name: "pool-cap",
    about: "with --pool 2 and 6 clients: 2 served, the 3rd waits until one leaves; at most 4 threads",
    run: pool_cap,
};

fn pool_echo(ctx: &Ctx) -> Outcome {
    let server = ctx.start(&["--pool", "2"])?;
    for i in 1..=5 {
        let client = connect(server.addr())?;
        echo_messages(&client).map_err(|e| format!("client {i} of 5: {e}"))?;
    }
    Ok("5 clients one after another each got their echo with --pool 2".into())
}

fn pool_cap(ctx: &Ctx) -> Outcome {
    const POOL: usize = 2;
    const CLIENTS: usize = 6;
    let server = ctx.start(&["--quiet", "--pool", "2"])?;
    let mut clients = Vec::new();
    for i in 1..=POOL {
        let c = connect(server.addr())?;
        round_trip(&c, format!("client {i}").as_bytes())
            .map_err(|e| format!("client {i} (of the first {POOL}): {e}"))?;
        clients.push(c);
    }
    for i in POOL + 1..=CLIENTS {
        let mut c = connect(server.addr())?;
        c.write_all(format!("client {i}").as_bytes())
            .map_err(|e| format!("client {i}: send failed: {e}"))?;
        clients.push(c);
    }
    // Every client is connected (the kernel completes the handshake even
    // for those the server has not accepted yet) and has sent its message.
    let wait = Duration::from_millis(500);
    expect_silence(&clients[POOL], wait).map_err(|e| {
        format!(
            "with {POOL} clients served, client {} should wait for a thread, but {e}",
            POOL + 1
        )
    })?;
    let threads = procfs::threads(server.pid());
    if let Some(t) = threads.filter(|&t| t > POOL as u64 + 2) {
        return Err(format!(
            "{t} threads for {CLIENTS} clients with --pool {POOL}: the pool does not cap them"
        ));
    }
    // The first client leaves: its thread must take the next one.
    let left = Instant::now();
    clients.remove(0);
    let third = &clients[POOL - 1];
    let want = format!("client {}", POOL + 1);
    let got = read_until(third, Some(want.len()), SILENCE);
    judge_echo(want.as_bytes(), &got, false).map_err(|e| {
        format!(
            "client 1 left, but client {} still waits for its echo: {e}",
            POOL + 1
        )
    })?;
    let served_after = left.elapsed();
    Ok(format!(
        "client {} got no echo for {} s, then got it {:.0} ms after client 1 left; {}",
        POOL + 1,
        wait.as_secs_f64(),
        served_after.as_secs_f64() * 1000.0,
        threads.map_or("threads not counted (no /proc here)".into(), |t| format!(
            "{t} threads for {CLIENTS} clients"
        ))
    ))
}

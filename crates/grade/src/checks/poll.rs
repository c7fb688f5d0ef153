//! Exercise 5: a poller that forgets closed descriptors and follows moves.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use test_support::procfs;

use super::{CheckDef, Ctx, Outcome, cpu_over};
use crate::probe::{connect, round_trip};

pub const CHURN: CheckDef = CheckDef {
    name: "churn",
    about: "200 clients come and go, 5 connected at a time, each echoed; then the server's descriptors are back where they started and it is idle",
    run: churn,
};

fn churn(ctx: &Ctx) -> Outcome {
    const CLIENTS: usize = 200;
    const AT_ONCE: usize = 5;
    const CPU_LIMIT: Duration = Duration::from_millis(100);
    let server = ctx.start(&["--quiet"])?;
    let pid = server.pid();
    // A first client makes sure the server is in its loop (it may open a
    // descriptor or two after its startup line), and the count is taken
    // once it has settled.
    round_trip(&connect(server.addr())?, b"warming up")?;
    let baseline = settled_fds(pid);
    let mut open = VecDeque::new();
    for i in 1..=CLIENTS {
        let c = connect(server.addr())?;
        round_trip(&c, format!("client {i}").as_bytes())
            .map_err(|e| format!("client {i} of {CLIENTS}: {e}"))?;
        open.push_back((i, c));
        if open.len() > AT_ONCE {
            // Closing the oldest leaves a hole in the middle of the
            // server's table: the clients after it must still be served.
            open.pop_front();
            for (j, c) in &open {
                round_trip(c, b"still here?")
                    .map_err(|e| format!("client {j}, after client {} left: {e}", i - AT_ONCE))?;
            }
        }
    }
    drop(open);
    // The server closes its side when it reads each end-of-file.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut now_open = procfs::open_fds(pid);
    while now_open > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        now_open = procfs::open_fds(pid);
    }
    let (Some(baseline), Some(now_open)) = (baseline, now_open) else {
        return Ok(format!(
            "{CLIENTS} clients came and went, {AT_ONCE} at a time, all echoed (descriptors not counted: no /proc here)"
        ));
    };
    if now_open > baseline {
        return Err(format!(
            "{CLIENTS} clients came and went, but the server holds {now_open} descriptors, {baseline} before them"
        ));
    }
    let cpu = cpu_over(&server, Duration::from_millis(500));
    if let Some(cpu) = cpu.filter(|&c| c > CPU_LIMIT) {
        return Err(format!(
            "{CLIENTS} clients came and went, and the server, with none left, uses {:.2} s of CPU in 0.5 s (limit {:.2} s)",
            cpu.as_secs_f64(),
            CPU_LIMIT.as_secs_f64()
        ));
    }
    Ok(format!(
        "{CLIENTS} clients came and went, {AT_ONCE} at a time, all echoed; descriptors {baseline} before, {now_open} after"
    ))
}

/// The number of descriptors `pid` has open, once it has stayed the same
/// for 100 ms (or after 1 s).
fn settled_fds(pid: u32) -> Option<usize> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut last = procfs::open_fds(pid);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = procfs::open_fds(pid);
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

//! Experiment 1 on the page: idle connections beside 16 active ones.

use super::*;

pub(super) fn idle_section(
    results: &Results,
    img_dir: &Path,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(exp) = &results.idle else {
        for k in [
            "idle_rps_table",
            "idle_cpu_rt_table",
            "target_idle",
            "idle_decline",
            "idle_conns",
            "target_idle_short",
        ] {
            vars.insert(k, "*(not measured)*".into());
        }
        return Ok(());
    };
    let pick = Pick { exp };
    let conns = exp.samples.first().map_or(16, |s| s.conns);
    vars.insert("idle_conns", conns.to_string());
    let ks: Vec<usize> = {
        let mut v: Vec<usize> = exp.samples.iter().map(|s| s.idle).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let servers = servers_of(exp);
    let mut header = vec!["server".to_string()];
    header.extend(ks.iter().map(|k| format!("K = {}", thousands(*k))));
    let mut rows_rps = Vec::new();
    let mut rows_cpu = Vec::new();
    for s in &servers {
        let mut r1 = vec![s.clone()];
        let mut r2 = vec![s.clone()];
        for &k in &ks {
            let present = pick.samples(s, conns, k, 64).next().is_some();
            if !present {
                r1.push("beyond its limit".into());
                r2.push("beyond its limit".into());
                continue;
            }
            r1.push(cell(
                pick.summary(s, conns, k, 64, rps),
                3,
                pick.failure(s, conns, k, 64),
            ));
            r2.push(cell(
                pick.summary(s, conns, k, 64, cpu_per_rt),
                3,
                pick.failure(s, conns, k, 64),
            ));
        }
        rows_rps.push(r1);
        rows_cpu.push(r2);
    }
    vars.insert("idle_rps_table", table(&header, &rows_rps));
    vars.insert("idle_cpu_rt_table", table(&header, &rows_cpu));

    // Target 1 and the decline of the others: the figure at the largest K
    // each server reached over its figure at K = 0, paired by round.
    let kmax = ks.last().copied().unwrap_or(0);
    let mut decline = Vec::new();
    for s in &servers {
        let top = ks
            .iter()
            .rev()
            .copied()
            .find(|&k| k > 0 && pick.summary(s, conns, k, 64, rps).is_some());
        let Some(top) = top else { continue };
        let r = pick.paired_ratio((s, top), (s, 0), conns, 64, rps);
        let c = pick.paired_ratio((s, top), (s, 0), conns, 64, cpu_per_rt);
        decline.push(vec![
            s.clone(),
            thousands(top),
            r.map_or("–".into(), |r| r.fmt(3)),
            c.map_or("–".into(), |c| c.fmt(3)),
        ]);
    }
    vars.insert(
        "idle_decline",
        table(
            &[
                "server".into(),
                "largest K".into(),
                "round trips/s at K ÷ at 0".into(),
                "CPU per round trip at K ÷ at 0".into(),
            ],
            &decline,
        ),
    );
    let verdict = match pick.paired_ratio(("epoll-edge", kmax), ("epoll-edge", 0), conns, 64, rps) {
        Some(r) if kmax >= 10_000 => {
            let met = r.median >= 0.85;
            format!(
                "**{}**: at K = {} epoll-edge keeps {} of its throughput at K = 0 \
                 (median of the per-round ratios, min–max {}–{}); the target is 0.85{}.",
                if met { "Met" } else { "Missed" },
                thousands(kmax),
                sig(r.median, 3),
                sig(r.min, 3),
                sig(r.max, 3),
                if met {
                    String::new()
                } else {
                    format!(", missed by {}", sig(0.85 - r.median, 2))
                }
            )
        }
        Some(r) => format!(
            "**Not measured at 10,000** (this plan stops at K = {}): the ratio there is {}.",
            thousands(kmax),
            r.fmt(3)
        ),
        None => "**Not measured**: epoll-edge has no figures.".into(),
    };
    vars.insert("target_idle", verdict);
    let short = match pick.paired_ratio(("epoll-edge", kmax), ("epoll-edge", 0), conns, 64, rps) {
        Some(r) if kmax >= 10_000 => format!(
            "**{}**: {} ({}–{})",
            if r.median >= 0.85 { "met" } else { "missed" },
            sig(r.median, 3),
            sig(r.min, 3),
            sig(r.max, 3)
        ),
        _ => "not measured".into(),
    };
    vars.insert("target_idle_short", short);

    let labels: Vec<String> = ks.iter().map(|k| thousands(*k)).collect();
    let series = |f: fn(&Report) -> Option<f64>| -> Vec<(String, Vec<Option<Summary>>)> {
        servers
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    ks.iter()
                        .map(|&k| pick.summary(s, conns, k, 64, f))
                        .collect(),
                )
            })
            .collect()
    };
    line_chart(
        &img_dir.join("bench-idle.svg"),
        &format!("Round trips per second, {conns} active connections of 64 B, K idle"),
        "idle connections K",
        "round trips per second",
        &labels,
        &series(rps),
    )?;
    line_chart(
        &img_dir.join("bench-idle-cpu.svg"),
        &format!("Server CPU time per round trip, {conns} active connections, K idle"),
        "idle connections K",
        "server CPU µs per round trip",
        &labels,
        &series(cpu_per_rt),
    )?;
    Ok(())
}

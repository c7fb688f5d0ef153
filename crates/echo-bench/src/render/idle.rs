//! Experiment 1 on the page: idle connections beside 16 active ones.

use super::*;

pub(super) fn idle_section(
    results: &Results,
    lang: Lang,
    charts: Option<&Path>,
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
            vars.insert(k, lang.not_measured_block().into());
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
    let mut header = vec![lang.pick("server", "服务器").to_string()];
    header.extend(ks.iter().map(|k| format!("K = {}", thousands(*k))));
    let mut rows_rps = Vec::new();
    let mut rows_cpu = Vec::new();
    for s in &servers {
        let mut r1 = vec![s.clone()];
        let mut r2 = vec![s.clone()];
        for &k in &ks {
            let present = pick.samples(s, conns, k, 64).next().is_some();
            if !present {
                let beyond = lang.pick("beyond its limit", "超出其上限");
                r1.push(beyond.into());
                r2.push(beyond.into());
                continue;
            }
            r1.push(cell(
                lang,
                pick.summary(s, conns, k, 64, rps),
                3,
                pick.failure(s, conns, k, 64),
            ));
            r2.push(cell(
                lang,
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
                lang.pick("server", "服务器").into(),
                lang.pick("largest K", "最大的 K").into(),
                lang.pick("round trips/s at K ÷ at 0", "每秒往返次数，K 时 ÷ 0 时")
                    .into(),
                lang.pick(
                    "CPU per round trip at K ÷ at 0",
                    "每次往返的 CPU，K 时 ÷ 0 时",
                )
                .into(),
            ],
            &decline,
        ),
    );
    let ratio = pick.paired_ratio(("epoll-edge", kmax), ("epoll-edge", 0), conns, 64, rps);
    let verdict = match ratio {
        Some(r) if kmax >= 10_000 => {
            let met = r.median >= 0.85;
            let missed_by = if met {
                String::new()
            } else {
                format!(
                    "{}{}",
                    lang.pick(", missed by ", "，差 "),
                    sig(0.85 - r.median, 2)
                )
            };
            match lang {
                Lang::En => format!(
                    "**{}**: at K = {} epoll-edge keeps {} of its throughput at K = 0 \
                     (median of the per-round ratios, min–max {}–{}); the target is 0.85{missed_by}.",
                    lang.verdict_first(met),
                    thousands(kmax),
                    sig(r.median, 3),
                    sig(r.min, 3),
                    sig(r.max, 3),
                ),
                Lang::Zh => format!(
                    "**{}**：K = {} 时，epoll-edge 保持了 K = 0 时吞吐量的 {}\
                     （各轮比值的中位数，最小–最大 {}–{}）；目标是 0.85{missed_by}。",
                    lang.verdict_first(met),
                    thousands(kmax),
                    sig(r.median, 3),
                    sig(r.min, 3),
                    sig(r.max, 3),
                ),
            }
        }
        Some(r) => match lang {
            Lang::En => format!(
                "**Not measured at 10,000** (this plan stops at K = {}): the ratio there is {}.",
                thousands(kmax),
                r.fmt(3)
            ),
            Lang::Zh => format!(
                "**未在 10,000 处测量**（本计划止于 K = {}）：那里的比值是 {}。",
                thousands(kmax),
                lang.summary(&r, 3)
            ),
        },
        None => lang
            .pick(
                "**Not measured**: epoll-edge has no figures.",
                "**未测量**：epoll-edge 没有数据。",
            )
            .into(),
    };
    vars.insert("target_idle", verdict);
    let short = match ratio {
        Some(r) if kmax >= 10_000 => {
            let verdict = lang.verdict(r.median >= 0.85);
            let (median, min, max) = (sig(r.median, 3), sig(r.min, 3), sig(r.max, 3));
            match lang {
                Lang::En => format!("**{verdict}**: {median} ({min}–{max})"),
                Lang::Zh => format!("**{verdict}**：{median}（{min}–{max}）"),
            }
        }
        _ => lang.not_measured().into(),
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
    let Some(img_dir) = charts else {
        return Ok(());
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

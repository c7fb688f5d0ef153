//! Experiment 2 on the page: throughput and latency.

use super::*;

pub(super) fn throughput_section(
    results: &Results,
    lang: Lang,
    charts: Option<&Path>,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(exp) = &results.throughput else {
        for k in [
            "throughput_tables",
            "target_peers",
            "target_peers_short",
            "client_share",
        ] {
            vars.insert(k, lang.not_measured_block().into());
        }
        return Ok(());
    };
    let pick = Pick { exp };
    let servers = servers_of(exp);
    let mut sizes: Vec<usize> = exp.samples.iter().map(|s| s.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut conns: Vec<usize> = exp.samples.iter().map(|s| s.conns).collect();
    conns.sort_unstable();
    conns.dedup();
    let mut out = String::new();
    for &size in &sizes {
        let size_name = size_name(size);
        let file = format!("bench-throughput-{size}.svg");
        out += &match lang {
            Lang::En => format!(
                "#### Messages of {size_name}\n\n![Round trips per second against active connections, {size_name}](img/{file})\n\n"
            ),
            Lang::Zh => format!(
                "#### {size_name} 的消息\n\n![每秒往返次数随活跃连接数的变化，{size_name} 的消息](img/{file})\n\n"
            ),
        };
        let mut header = vec![lang.pick("round trips/s", "每秒往返次数").to_string()];
        header.extend(conns.iter().map(|c| format!("C = {c}")));
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|s| {
                let mut row = vec![s.clone()];
                for &c in &conns {
                    row.push(cell(
                        lang,
                        pick.summary(s, c, 0, size, rps),
                        3,
                        pick.failure(s, c, 0, size),
                    ));
                }
                row
            })
            .collect();
        out += &table(&header, &rows);
        out += "\n";
        let mut header = vec![
            lang.pick("server CPU µs per round trip", "每次往返的服务器 CPU µs")
                .to_string(),
        ];
        header.extend(conns.iter().map(|c| format!("C = {c}")));
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|s| {
                let mut row = vec![s.clone()];
                for &c in &conns {
                    row.push(cell(lang, pick.summary(s, c, 0, size, cpu_per_rt), 3, None));
                }
                row
            })
            .collect();
        out += &table(&header, &rows);
        out += "\n";
        let mut header = vec![
            lang.pick(
                "latency p50 / p99 / p99.9 (µs, medians)",
                "延迟 p50 / p99 / p99.9（µs，中位数）",
            )
            .to_string(),
        ];
        header.extend(conns.iter().map(|c| format!("C = {c}")));
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|s| {
                let mut row = vec![s.clone()];
                for &c in &conns {
                    let q = |f: fn(&crate::load::Latency) -> f64| {
                        pick.summary(s, c, 0, size, |r| r.latency_us.as_ref().map(f))
                            .map_or("–".into(), |x| sig(x.median, 3))
                    };
                    row.push(format!(
                        "{} / {} / {}",
                        q(|l| l.p50),
                        q(|l| l.p99),
                        q(|l| l.p999)
                    ));
                }
                row
            })
            .collect();
        out += &table(&header, &rows);
        out += "\n";
        let labels: Vec<String> = conns.iter().map(|c| c.to_string()).collect();
        let series: Vec<(String, Vec<Option<Summary>>)> = servers
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    conns
                        .iter()
                        .map(|&c| pick.summary(s, c, 0, size, rps))
                        .collect(),
                )
            })
            .collect();
        let Some(img_dir) = charts else {
            continue;
        };
        line_chart(
            &img_dir.join(&file),
            &format!("Round trips per second, messages of {size_name}"),
            "active connections C",
            "round trips per second",
            &labels,
            &series,
        )?;
    }
    vars.insert("throughput_tables", out);

    // The load generator's share of the CPU both processes used.
    let mut header = vec![
        lang.pick(
            "generator's share (its CPU, % of one core)",
            "负载生成器的份额（括号内：它的 CPU，占一个核心的 %）",
        )
        .to_string(),
    ];
    let mut points = Vec::new();
    for &size in &sizes {
        for &c in &conns {
            header.push(format!("C = {c}, {}", size_name(size)));
            points.push((c, size));
        }
    }
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|s| {
            let mut row = vec![s.clone()];
            for &(c, size) in &points {
                let share = pick.summary(s, c, 0, size, |r| r.client_cpu_share.map(|x| 100.0 * x));
                let busy = pick.summary(s, c, 0, size, |r| {
                    Some(100.0 * r.client_cpu_s / r.duration_s.max(1e-9))
                });
                row.push(match (share, busy) {
                    (Some(a), Some(b)) => format!("{:.0} % ({:.0} %)", a.median, b.median),
                    _ => "–".into(),
                });
            }
            row
        })
        .collect();
    vars.insert("client_share", table(&header, &rows));

    // Target 2: epoll-edge's server CPU time per round trip at most each
    // peer's, that is peer ÷ epoll-edge at least 1.
    let mut lines = Vec::new();
    let mut short = Vec::new();
    for c in [16, 64] {
        if !conns.contains(&c) {
            continue;
        }
        let mut parts = Vec::new();
        for peer in ["mio-echo", "tokio-echo"] {
            let cpu = pick.paired_ratio((peer, 0), ("epoll-edge", 0), c, 64, cpu_per_rt);
            let rate = pick.paired_ratio(("epoll-edge", 0), (peer, 0), c, 64, rps);
            let line = match cpu {
                Some(r) => {
                    let met = r.median >= 1.0;
                    let ratio = sig(r.median, 3);
                    let (short_peer, verdict) = (peer.trim_end_matches("-echo"), lang.verdict(met));
                    parts.push(match lang {
                        Lang::En => format!("{ratio} {short_peer} (**{verdict}**)"),
                        Lang::Zh => format!("{short_peer} {ratio}（**{verdict}**）"),
                    });
                    let (min, max) = (sig(r.min, 3), sig(r.max, 3));
                    let by = sig(100.0 * (1.0 - r.median), 2);
                    let rate = rate.map_or("–".into(), |c| lang.summary(&c, 3));
                    match lang {
                        Lang::En => format!(
                            "- C = {c}, against {peer}: server CPU per round trip, {peer} ÷ epoll-edge, \
                             **{ratio}** (per-round ratios {min}–{max}; target ≥ 1): **{verdict}**{}. Round trips per second, \
                             epoll-edge ÷ {peer}: {rate}.",
                            if met {
                                String::new()
                            } else {
                                format!(" by {by} %")
                            },
                        ),
                        Lang::Zh => format!(
                            "- C = {c}，对 {peer}：每次往返的服务器 CPU，{peer} ÷ epoll-edge，\
                             **{ratio}**（各轮比值 {min}–{max}；目标 ≥ 1）：**{verdict}**{}。每秒往返次数，\
                             epoll-edge ÷ {peer}：{rate}。",
                            if met {
                                String::new()
                            } else {
                                format!("，差 {by} %")
                            },
                        ),
                    }
                }
                None => match lang {
                    Lang::En => format!("- C = {c}, against {peer}: not measured."),
                    Lang::Zh => format!("- C = {c}，对 {peer}：未测量。"),
                },
            };
            lines.push(line);
        }
        if !parts.is_empty() {
            short.push(match lang {
                Lang::En => format!("C = {c}: {}", parts.join(", ")),
                Lang::Zh => format!("C = {c}：{}", parts.join("，")),
            });
        }
    }
    vars.insert("target_peers", lines.join("\n") + "\n");
    vars.insert(
        "target_peers_short",
        if short.is_empty() {
            lang.not_measured().into()
        } else {
            short.join(lang.pick("; ", "；"))
        },
    );
    Ok(())
}

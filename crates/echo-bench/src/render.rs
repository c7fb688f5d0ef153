//! The benchmarks page from the suite's JSON: tables (medians with min–max),
//! the targets' verdicts, and SVG charts drawn with `plotters`.
//!
//! The page's prose lives in `templates/benchmarks.md`; every `{{name}}` in
//! it is replaced by a table, a figure or a verdict computed here, so no
//! number on the page is typed by hand.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::cost::{CostReport, Mechanism};
use crate::load::Report;
use crate::stats::{Summary, sig};
use crate::suite::{LoadExperiment, LoadSample, Machine, SyscallExperiment, all_servers};

/// The page's template.
pub const TEMPLATE: &str = include_str!("../templates/benchmarks.md");

/// Kerrisk's measurements (TLPI, table 63-9, Linux 2.6.25): CPU seconds for
/// 100,000 monitoring operations with one descriptor ready, for the two
/// sizes quoted on the page: (N, poll, epoll).
pub const KERRISK: [(usize, f64, f64); 2] = [(10, 0.61, 0.41), (10_000, 990.0, 0.66)];

/// Everything the suite wrote; a missing file is a missing section.
#[derive(Default)]
pub struct Results {
    pub machine: Option<Machine>,
    pub idle: Option<LoadExperiment>,
    pub throughput: Option<LoadExperiment>,
    pub idle_cpu: Option<LoadExperiment>,
    pub memory: Option<LoadExperiment>,
    pub syscalls: Option<SyscallExperiment>,
    pub cost: Option<CostReport>,
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl Results {
    pub fn load(dir: &Path) -> Result<Self, String> {
        Ok(Results {
            machine: read_json(dir, "machine.json")?,
            idle: read_json(dir, "idle.json")?,
            throughput: read_json(dir, "throughput.json")?,
            idle_cpu: read_json(dir, "idle-cpu.json")?,
            memory: read_json(dir, "memory.json")?,
            syscalls: read_json(dir, "syscalls.json")?,
            cost: read_json(dir, "select-cost.json")?,
        })
    }
}

/// Picks samples and a figure out of an experiment.
struct Pick<'a> {
    exp: &'a LoadExperiment,
}

impl<'a> Pick<'a> {
    fn samples(
        &self,
        server: &'a str,
        conns: usize,
        idle: usize,
        size: usize,
    ) -> impl Iterator<Item = &'a LoadSample> + 'a {
        self.exp.samples.iter().filter(move |s| {
            s.server == server && s.conns == conns && s.idle == idle && s.size == size
        })
    }

    fn summary(
        &self,
        server: &str,
        conns: usize,
        idle: usize,
        size: usize,
        f: impl Fn(&Report) -> Option<f64>,
    ) -> Option<Summary> {
        let v: Vec<f64> = self
            .exp
            .samples
            .iter()
            .filter(|s| s.server == server && s.conns == conns && s.idle == idle && s.size == size)
            .filter_map(|s| s.report.as_ref().and_then(&f))
            .collect();
        Summary::of(&v)
    }

    /// The first error of a point, if every run of it failed.
    fn failure(&self, server: &str, conns: usize, idle: usize, size: usize) -> Option<String> {
        let mut errors = self
            .samples_owned(server, conns, idle, size)
            .into_iter()
            .filter_map(|s| s.error.clone());
        let any_ok = self
            .samples_owned(server, conns, idle, size)
            .iter()
            .any(|s| s.report.is_some());
        if any_ok { None } else { errors.next() }
    }

    fn samples_owned(
        &self,
        server: &str,
        conns: usize,
        idle: usize,
        size: usize,
    ) -> Vec<LoadSample> {
        self.exp
            .samples
            .iter()
            .filter(|s| s.server == server && s.conns == conns && s.idle == idle && s.size == size)
            .cloned()
            .collect()
    }

    /// Per round, `a`'s figure over `b`'s (runs of one round are minutes
    /// apart at most, so the machine's speed is about the same for both).
    /// `a` and `b` are (server, idle connections).
    fn paired_ratio(
        &self,
        (a, idle_a): (&str, usize),
        (b, idle_b): (&str, usize),
        conns: usize,
        size: usize,
        f: impl Fn(&Report) -> Option<f64>,
    ) -> Option<Summary> {
        let by_round = |server: &str, idle: usize| -> BTreeMap<usize, f64> {
            self.samples_owned(server, conns, idle, size)
                .iter()
                .filter_map(|s| Some((s.round, f(s.report.as_ref()?)?)))
                .collect()
        };
        let ra = by_round(a, idle_a);
        let rb = by_round(b, idle_b);
        let ratios: Vec<f64> = ra
            .iter()
            .filter_map(|(round, x)| rb.get(round).filter(|y| **y > 0.0).map(|y| x / y))
            .collect();
        Summary::of(&ratios)
    }
}

fn rps(r: &Report) -> Option<f64> {
    Some(r.round_trips_per_s)
}

fn cpu_per_rt(r: &Report) -> Option<f64> {
    r.server.as_ref()?.cpu_us_per_round_trip
}

fn servers_of(exp: &LoadExperiment) -> Vec<String> {
    exp.servers.clone()
}

/// `12,300 (11,900–12,800)`, or why there is no figure.
fn cell(summary: Option<Summary>, digits: usize, failure: Option<String>) -> String {
    match (summary, failure) {
        (Some(s), _) => s.fmt(digits),
        (None, Some(e)) => format!("failed: {}", e.replace('|', "/")),
        (None, None) => "–".into(),
    }
}

fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", header.join(" | "));
    out += &format!(
        "|{}\n",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for row in rows {
        out += &format!("| {} |\n", row.join(" | "));
    }
    out
}

/// `10,000`, `1000`, `64`: commas from five digits on, like `sig`.
fn thousands(n: usize) -> String {
    sig(n as f64, n.to_string().len().max(1))
}

/// Renders the page and the charts. Returns the page's text.
pub fn render(results: &Results, template: &str, img_dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(img_dir).map_err(|e| format!("{}: {e}", img_dir.display()))?;
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    vars.insert("machine", machine_section(results));
    idle_section(results, img_dir, &mut vars)?;
    throughput_section(results, img_dir, &mut vars)?;
    vars.insert("idle_cpu_table", idle_cpu_table(results));
    vars.insert("memory_table", memory_table(results));
    syscall_section(results, img_dir, &mut vars)?;
    cost_section(results, img_dir, &mut vars)?;
    fill(template, &vars)
}

/// Replaces every `{{name}}`; an unknown name is an error, so a typo in the
/// template cannot leave a hole in the page.
pub fn fill(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out += &rest[..start];
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed {{{{ near {:?}", &after[..after.len().min(30)]))?;
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("the template names {{{{{name}}}}}, which nothing fills"))?;
        out += value;
        rest = &after[end + 2..];
    }
    out += rest;
    Ok(out)
}

fn machine_section(results: &Results) -> String {
    let Some(m) = &results.machine else {
        return "*(no machine.json: the suite has not run)*\n".into();
    };
    let p = &m.plan;
    let missing = if m.servers_missing.is_empty() {
        "none".to_string()
    } else {
        m.servers_missing.join(", ")
    };
    format!(
        "- **CPU**: {} ({} logical CPUs as seen by the process, `nproc`), {:.0} GiB of memory\n\
         - **Kernel**: Linux {}\n\
         - **Compiler**: {}, release profile; workspace at commit `{}`\n\
         - **When**: {}, {} plan, {:.0} s of wall time in all\n\
         - **Command**: `{}`\n\
         - **Load average** (1, 5, 15 min) before: {}; after: {}\n\
         - **Plan**: {} interleaved rounds per comparison; each load run is {} s of warmup then {} s measured, against a freshly started server\n\
         - **Servers not built, left out**: {}\n",
        m.cpu_model,
        m.nproc,
        m.memory_gib,
        m.kernel,
        m.rustc,
        m.commit,
        m.date,
        p.mode,
        m.wall_s,
        m.command.trim(),
        loadavg3(&m.loadavg_start),
        loadavg3(&m.loadavg_end),
        p.rounds,
        p.warmup_s,
        p.duration_s,
        missing
    )
}

fn loadavg3(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------- experiment 1

fn idle_section(
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

// ---------------------------------------------------------------- experiment 2

fn throughput_section(
    results: &Results,
    img_dir: &Path,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(exp) = &results.throughput else {
        for k in [
            "throughput_tables",
            "target_peers",
            "target_peers_short",
            "client_share",
        ] {
            vars.insert(k, "*(not measured)*".into());
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
        out += &format!(
            "#### Messages of {size_name}\n\n![Round trips per second against active connections, {size_name}](img/{file})\n\n"
        );
        let mut header = vec!["round trips/s".to_string()];
        header.extend(conns.iter().map(|c| format!("C = {c}")));
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|s| {
                let mut row = vec![s.clone()];
                for &c in &conns {
                    row.push(cell(
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
        let mut header = vec!["server CPU µs per round trip".to_string()];
        header.extend(conns.iter().map(|c| format!("C = {c}")));
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|s| {
                let mut row = vec![s.clone()];
                for &c in &conns {
                    row.push(cell(pick.summary(s, c, 0, size, cpu_per_rt), 3, None));
                }
                row
            })
            .collect();
        out += &table(&header, &rows);
        out += "\n";
        let mut header = vec!["latency p50 / p99 / p99.9 (µs, medians)".to_string()];
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
    let mut header = vec!["generator's share (its CPU, % of one core)".to_string()];
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
                    parts.push(format!(
                        "{} {} (**{}**)",
                        sig(r.median, 3),
                        peer.trim_end_matches("-echo"),
                        if met { "met" } else { "missed" }
                    ));
                    format!(
                        "- C = {c}, against {peer}: server CPU per round trip, {peer} ÷ epoll-edge, \
                         **{}** (per-round ratios {}–{}; target ≥ 1): **{}**{}. Round trips per second, \
                         epoll-edge ÷ {peer}: {}.",
                        sig(r.median, 3),
                        sig(r.min, 3),
                        sig(r.max, 3),
                        if met { "met" } else { "missed" },
                        if met {
                            String::new()
                        } else {
                            format!(" by {} %", sig(100.0 * (1.0 - r.median), 2))
                        },
                        rate.map_or("–".into(), |c| c.fmt(3))
                    )
                }
                None => format!("- C = {c}, against {peer}: not measured."),
            };
            lines.push(line);
        }
        if !parts.is_empty() {
            short.push(format!("C = {c}: {}", parts.join(", ")));
        }
    }
    vars.insert("target_peers", lines.join("\n") + "\n");
    vars.insert(
        "target_peers_short",
        if short.is_empty() {
            "not measured".into()
        } else {
            short.join("; ")
        },
    );
    Ok(())
}

/// Two decimals, and never `-0.00` for a count that is zero within noise.
fn fixed2(x: f64) -> String {
    format!("{:.2}", x.max(0.0))
}

fn size_name(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

// ---------------------------------------------------------------- experiments 3, 4

fn idle_cpu_table(results: &Results) -> String {
    let Some(exp) = &results.idle_cpu else {
        return "*(not measured)*\n".into();
    };
    let pick = Pick { exp };
    let rows: Vec<Vec<String>> = servers_of(exp)
        .iter()
        .map(|s| {
            let cpu = pick.summary(s, 0, 10, 0, |r| Some(r.server.as_ref()?.cpu_s));
            let share = pick.summary(s, 0, 10, 0, |r| {
                Some(100.0 * r.server.as_ref()?.cpu_s / r.duration_s.max(1e-9))
            });
            vec![
                s.clone(),
                cell(cpu, 2, pick.failure(s, 0, 10, 0)),
                share.map_or("–".into(), |x| format!("{:.0} %", x.median)),
            ]
        })
        .collect();
    let secs = exp
        .samples
        .iter()
        .find_map(|s| s.report.as_ref().map(|r| r.duration_s))
        .unwrap_or(0.0);
    table(
        &[
            "server".into(),
            format!("CPU seconds in {} s, 10 idle clients", sig(secs, 2)),
            "of one core".into(),
        ],
        &rows,
    )
}

fn memory_table(results: &Results) -> String {
    let Some(exp) = &results.memory else {
        return "*(not measured)*\n".into();
    };
    let pick = Pick { exp };
    let mut ks: Vec<usize> = exp.samples.iter().map(|s| s.idle).collect();
    ks.sort_unstable();
    ks.dedup();
    let mut header = vec!["server".to_string()];
    for &k in &ks {
        header.push(format!(
            "{} connections: MiB resident, threads",
            thousands(k)
        ));
    }
    header.push("KiB per connection (largest vs none)".into());
    let mib = |r: &Report| Some(r.server.as_ref()?.rss_bytes? as f64 / 1048576.0);
    let threads = |r: &Report| Some(r.server.as_ref()?.threads? as f64);
    let rows: Vec<Vec<String>> = servers_of(exp)
        .iter()
        .map(|s| {
            let mut row = vec![s.clone()];
            for &k in &ks {
                let m = pick.summary(s, 0, k, 0, mib);
                let t = pick.summary(s, 0, k, 0, threads);
                row.push(match (m, t) {
                    (Some(m), Some(t)) => format!("{}, {}", m.fmt(3), t.median),
                    _ => cell(None, 3, pick.failure(s, 0, k, 0)),
                });
            }
            let per = match (ks.first(), ks.last()) {
                (Some(&lo), Some(&hi)) if hi > lo => {
                    match (
                        pick.summary(s, 0, hi, 0, mib),
                        pick.summary(s, 0, lo, 0, mib),
                    ) {
                        (Some(a), Some(b)) => {
                            sig((a.median - b.median) * 1024.0 / (hi - lo) as f64, 3)
                        }
                        _ => "–".into(),
                    }
                }
                _ => "–".into(),
            };
            row.push(per);
            row
        })
        .collect();
    table(&header, &rows)
}

// ---------------------------------------------------------------- experiment 5

/// Groups of system calls for the table and the chart.
const GROUPS: [(&str, &[&str]); 5] = [
    ("read", &["read", "recvfrom", "readv"]),
    ("write", &["write", "sendto", "writev"]),
    (
        "wait",
        &[
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
            "poll",
            "ppoll",
            "select",
            "pselect6",
        ],
    ),
    ("epoll_ctl", &["epoll_ctl"]),
    ("futex, sched_yield", &["futex", "sched_yield"]),
];

fn syscall_section(
    results: &Results,
    img_dir: &Path,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(exp) = &results.syscalls else {
        for k in [
            "syscall_table",
            "syscall_method",
            "target_syscalls",
            "target_syscalls_short",
        ] {
            vars.insert(k, "*(not measured)*".into());
        }
        return Ok(());
    };
    vars.insert("syscall_method", format!("`{}`", exp.method));
    let mut conns: Vec<usize> = exp.samples.iter().map(|s| s.conns).collect();
    conns.sort_unstable();
    conns.dedup();
    let summary =
        |server: &str, c: usize, f: &dyn Fn(&crate::suite::SyscallSample) -> Option<f64>| {
            let v: Vec<f64> = exp
                .samples
                .iter()
                .filter(|s| s.server == server && s.conns == c)
                .filter_map(f)
                .collect();
            Summary::of(&v)
        };
    let group = |s: &crate::suite::SyscallSample, names: &[&str]| -> Option<f64> {
        s.per_round_trip?;
        Some(
            names
                .iter()
                .map(|n| s.per_round_trip_by_name.get(*n).copied().unwrap_or(0.0))
                .sum(),
        )
    };
    let mut header = vec!["server".to_string(), "C".to_string(), "all".to_string()];
    header.extend(GROUPS.iter().map(|(g, _)| g.to_string()));
    header.push("other".into());
    let mut rows = Vec::new();
    let mut bars: Vec<(String, Vec<f64>)> = Vec::new();
    let chart_c = conns.last().copied().unwrap_or(0);
    for server in &exp.servers {
        for &c in &conns {
            let all = summary(server, c, &|s| s.per_round_trip);
            let failure = exp
                .samples
                .iter()
                .find(|s| s.server == *server && s.conns == c)
                .and_then(|s| s.error.clone());
            let mut row = vec![
                server.clone(),
                c.to_string(),
                match (all, failure) {
                    (Some(a), _) => format!("{:.2} ({:.2}–{:.2})", a.median, a.min, a.max),
                    (None, e) => cell(None, 3, e),
                },
            ];
            let mut parts = Vec::new();
            for (_, names) in GROUPS {
                let g = summary(server, c, &|s| group(s, names));
                let v = g.map_or(0.0, |g| g.median.max(0.0));
                parts.push(v);
                row.push(g.map_or("–".into(), |_| format!("{v:.2}")));
            }
            let other = all.map(|a| (a.median - parts.iter().sum::<f64>()).max(0.0));
            row.push(other.map_or("–".into(), |o| format!("{o:.2}")));
            rows.push(row);
            if let (true, Some(o)) = (c == chart_c, other) {
                parts.push(o);
                bars.push((server.clone(), parts));
            }
        }
    }
    rows.push(vec![
        "the floor".into(),
        "any".into(),
        "2".into(),
        "1".into(),
        "1".into(),
        "0".into(),
        "0".into(),
        "0".into(),
        "0".into(),
    ]);
    vars.insert("syscall_table", table(&header, &rows));
    let mut names: Vec<String> = GROUPS.iter().map(|(g, _)| g.to_string()).collect();
    names.push("other".into());
    // The first server at the top.
    bars.reverse();
    stacked_bars(
        &img_dir.join("bench-syscalls.svg"),
        &format!("System calls per round trip, C = {chart_c}, 64 B (the floor is 2)"),
        &names,
        &bars,
        2.0,
    )?;
    let verdict = match summary("epoll-edge", 64, &|s| s.per_round_trip) {
        Some(s) => {
            let met = s.median <= 2.2;
            let wait = summary("epoll-edge", 64, &|x| group(x, GROUPS[2].1));
            let reads = summary("epoll-edge", 64, &|x| group(x, GROUPS[0].1));
            let ctl = summary("epoll-edge", 64, &|x| group(x, GROUPS[3].1));
            format!(
                "**{}**: epoll-edge makes {} system calls per round trip at C = 64 (min–max {}–{}); \
                 the target is at most 2.2{}. Of these, {} are reads, {} are waits and {} are `epoll_ctl`.",
                if met { "Met" } else { "Missed" },
                fixed2(s.median),
                fixed2(s.min),
                fixed2(s.max),
                if met {
                    String::new()
                } else {
                    format!(", missed by {}", fixed2(s.median - 2.2))
                },
                reads.map_or("–".into(), |r| fixed2(r.median)),
                wait.map_or("–".into(), |w| fixed2(w.median)),
                ctl.map_or("–".into(), |c| fixed2(c.median)),
            )
        }
        None => "**Not measured** at C = 64.".into(),
    };
    vars.insert("target_syscalls", verdict);
    let short = summary("epoll-edge", 64, &|s| s.per_round_trip).map_or_else(
        || "not measured".into(),
        |s| {
            format!(
                "**{}**: {:.2} ({:.2}–{:.2})",
                if s.median <= 2.2 { "met" } else { "missed" },
                s.median,
                s.min,
                s.max
            )
        },
    );
    vars.insert("target_syscalls_short", short);
    Ok(())
}

// ---------------------------------------------------------------- experiment 6

fn cost_section(
    results: &Results,
    img_dir: &Path,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(r) = &results.cost else {
        for k in ["cost_table", "cost_scaling"] {
            vars.insert(k, "*(not measured)*".into());
        }
        return Ok(());
    };
    let summary = |m: Mechanism, n: usize| {
        let v: Vec<f64> = r
            .samples
            .iter()
            .filter(|s| s.mechanism == m && s.n == n)
            .map(|s| s.scaled_s)
            .collect();
        Summary::of(&v)
    };
    let calls_made = |m: Mechanism, n: usize| {
        r.samples
            .iter()
            .find(|s| s.mechanism == m && s.n == n)
            .map(|s| s.calls)
    };
    let mut rows = Vec::new();
    for &n in &r.sizes {
        let mut row = vec![thousands(n)];
        for m in Mechanism::ALL {
            row.push(match (summary(m, n), calls_made(m, n)) {
                (Some(s), Some(calls)) if calls < r.calls_nominal => {
                    format!("{} ‡{}", s.fmt(3), thousands(calls as usize))
                }
                (Some(s), _) => s.fmt(3),
                (None, _) if m == Mechanism::Select => "beyond FD_SETSIZE".into(),
                (None, _) => "–".into(),
            });
        }
        let k = KERRISK.iter().find(|(kn, _, _)| *kn == n);
        row.push(k.map_or(String::new(), |k| sig(k.1, 3)));
        row.push(k.map_or(String::new(), |k| sig(k.2, 3)));
        rows.push(row);
    }
    vars.insert(
        "cost_table",
        table(
            &[
                "N".into(),
                "select".into(),
                "poll".into(),
                "epoll_wait".into(),
                "poll, TLPI".into(),
                "epoll, TLPI".into(),
            ],
            &rows,
        ),
    );
    let scaled: Vec<String> = r
        .sizes
        .iter()
        .flat_map(|&n| Mechanism::ALL.iter().map(move |&m| (m, n)))
        .filter_map(|(m, n)| {
            let calls = calls_made(m, n)?;
            (calls < r.calls_nominal).then(|| {
                format!(
                    "{} at N = {}: {} calls, × {}",
                    m.name(),
                    thousands(n),
                    thousands(calls as usize),
                    sig(r.calls_nominal as f64 / calls as f64, 3)
                )
            })
        })
        .collect();
    vars.insert(
        "cost_scaling",
        if scaled.is_empty() {
            "every figure is 100,000 real calls".into()
        } else {
            format!(
                "‡ timed with fewer calls, then scaled to {}: {}",
                thousands(r.calls_nominal as usize),
                scaled.join("; ")
            )
        },
    );
    // The chart: log-log, ours as lines, Kerrisk's as markers.
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for m in Mechanism::ALL {
        let pts: Vec<(f64, f64)> = r
            .sizes
            .iter()
            .filter_map(|&n| summary(m, n).map(|s| (n as f64, s.median)))
            .collect();
        series.push((format!("{} (here)", m.name()), pts));
    }
    let marks = vec![
        (
            "poll, TLPI (2.6.25)".to_string(),
            KERRISK
                .iter()
                .map(|k| (k.0 as f64, k.1))
                .collect::<Vec<_>>(),
        ),
        (
            "epoll, TLPI (2.6.25)".to_string(),
            KERRISK
                .iter()
                .map(|k| (k.0 as f64, k.2))
                .collect::<Vec<_>>(),
        ),
    ];
    log_chart(
        &img_dir.join("bench-select-cost.svg"),
        "CPU seconds for 100,000 calls, one of N descriptors ready",
        &series,
        &marks,
    )
}

// ---------------------------------------------------------------- charts

/// One color per server, the same in every chart.
fn color_of(name: &str) -> RGBColor {
    const COLORS: [RGBColor; 9] = [
        RGBColor(0x4e, 0x79, 0xa7),
        RGBColor(0xf2, 0x8e, 0x2b),
        RGBColor(0xb0, 0x7a, 0xa1),
        RGBColor(0xe1, 0x57, 0x59),
        RGBColor(0x76, 0xb7, 0xb2),
        RGBColor(0x59, 0xa1, 0x4f),
        RGBColor(0xed, 0xc9, 0x48),
        RGBColor(0x55, 0x55, 0x55),
        RGBColor(0x9c, 0x75, 0x5f),
    ];
    let i = all_servers()
        .iter()
        .position(|s| s.name == name)
        .unwrap_or(COLORS.len() - 1);
    COLORS[i % COLORS.len()]
}

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing a chart: {e}")
}

const SIZE: (u32, u32) = (860, 500);

fn canvas(path: &Path) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

/// Lines over categories (K, C), a dot at each median and a bar from min to
/// max; the legend at the right.
fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    labels: &[String],
    series: &[(String, Vec<Option<Summary>>)],
) -> Result<(), String> {
    let root = canvas(path);
    let (plot, legend) = root.split_horizontally(SIZE.0 - 190);
    let ymax = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().map(|s| s.max))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.08;
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..ymax)
        .map_err(err)?;
    let labels_owned = labels.to_vec();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(n)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels_owned.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| sig(*y, 3))
        .draw()
        .map_err(err)?;
    for (name, values) in series {
        let color = color_of(name);
        let pts: Vec<(SegmentValue<usize>, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (SegmentValue::CenterOf(i), s.median)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new(p.clone(), 3, color.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, s)| {
                s.map(|s| {
                    ErrorBar::new_vertical(
                        SegmentValue::CenterOf(i),
                        s.min,
                        s.median,
                        s.max,
                        color.stroke_width(1),
                        8,
                    )
                })
            }))
            .map_err(err)?;
    }
    draw_legend(
        &legend,
        series.iter().map(|(n, _)| (n.clone(), color_of(n))),
    )?;
    root.present().map_err(err)
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: impl Iterator<Item = (String, RGBColor)>,
) -> Result<(), String> {
    for (i, (name, color)) in entries.enumerate() {
        let y = 50 + 22 * i as i32;
        area.draw(&PathElement::new(
            vec![(4, y), (30, y)],
            color.stroke_width(3),
        ))
        .map_err(err)?;
        area.draw(&Text::new(name, (36, y - 7), ("sans-serif", 14)))
            .map_err(err)?;
    }
    Ok(())
}

/// Horizontal stacked bars, one per server, with a dashed line at `floor`.
fn stacked_bars(
    path: &Path,
    title: &str,
    parts: &[String],
    bars: &[(String, Vec<f64>)],
    floor: f64,
) -> Result<(), String> {
    const PART_COLORS: [RGBColor; 6] = [
        RGBColor(0x4e, 0x79, 0xa7),
        RGBColor(0x59, 0xa1, 0x4f),
        RGBColor(0xf2, 0x8e, 0x2b),
        RGBColor(0xe1, 0x57, 0x59),
        RGBColor(0xb0, 0x7a, 0xa1),
        RGBColor(0xaa, 0xaa, 0xaa),
    ];
    let root = canvas(path);
    let (plot, legend) = root.split_horizontally(SIZE.0 - 170);
    let n = bars.len().max(1);
    // Busy servers make far more calls than the rest: cap the axis so the
    // others stay readable, and print the true total at the end of each bar.
    let totals: Vec<f64> = bars.iter().map(|(_, p)| p.iter().sum()).collect();
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let cap = sorted
        .iter()
        .rev()
        .copied()
        .find(|&t| t < 12.0)
        .unwrap_or(4.0)
        .max(floor)
        * 1.35;
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(150)
        .build_cartesian_2d(0f64..cap, (0..n - 1).into_segmented())
        .map_err(err)?;
    let names: Vec<String> = bars.iter().map(|(n, _)| n.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("system calls per round trip")
        .draw()
        .map_err(err)?;
    for (i, (_, values)) in bars.iter().enumerate() {
        let mut start = 0.0;
        for (j, v) in values.iter().enumerate() {
            let end = (start + v).min(cap);
            if end > start {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (start, SegmentValue::Exact(i)),
                            (end, SegmentValue::Exact(i + 1)),
                        ],
                        PART_COLORS[j % PART_COLORS.len()].filled(),
                    )))
                    .map_err(err)?;
            }
            start += v;
        }
        let total = totals[i];
        let label = if total > cap {
            format!("{} →", sig(total, 3))
        } else {
            sig(total, 3)
        };
        let x = total.min(cap * 0.9);
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (x, SegmentValue::CenterOf(i)),
                ("sans-serif", 13),
            )))
            .map_err(err)?;
    }
    // White gaps between the bars.
    for i in 0..=n {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, SegmentValue::Exact(i)), (cap, SegmentValue::Exact(i))],
                WHITE.stroke_width(10),
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(DashedLineSeries::new(
            vec![
                (floor, SegmentValue::Exact(0)),
                (floor, SegmentValue::Exact(n)),
            ],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
    draw_legend(
        &legend,
        parts
            .iter()
            .enumerate()
            .map(|(j, p)| (p.clone(), PART_COLORS[j % PART_COLORS.len()])),
    )?;
    root.present().map_err(err)
}

/// Log-log lines (ours) and hollow markers joined by dashes (Kerrisk's).
fn log_chart(
    path: &Path,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    marks: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let colors = [
        RGBColor(0xe1, 0x57, 0x59),
        RGBColor(0x4e, 0x79, 0xa7),
        RGBColor(0x59, 0xa1, 0x4f),
    ];
    let all = series.iter().chain(marks).flat_map(|(_, p)| p.iter());
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for &(_, y) in all {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    if lo > hi {
        lo = 0.01;
        hi = 1000.0;
    }
    let root = canvas(path);
    let (plot, legend) = root.split_horizontally(SIZE.0 - 190);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (6f64..16_000f64).log_scale(),
            ((lo / 2.0).max(1e-4)..hi * 2.0).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("descriptors watched N (log scale)")
        .y_desc("CPU seconds (log scale)")
        .x_label_formatter(&|x| thousands(x.round() as usize))
        .y_label_formatter(&|y| sig(*y, 2))
        .draw()
        .map_err(err)?;
    let mut entries = Vec::new();
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?;
        entries.push((name.clone(), color));
    }
    for (name, pts) in marks {
        let color = if name.starts_with("poll") {
            colors[1]
        } else {
            colors[2]
        };
        chart
            .draw_series(DashedLineSeries::new(
                pts.clone(),
                5,
                5,
                color.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| Cross::new(*p, 6, color.stroke_width(2))))
            .map_err(err)?;
        entries.push((format!("{name} ×"), color));
    }
    draw_legend(&legend, entries.into_iter())?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_and_refuses_unknown_names() {
        let mut vars = BTreeMap::new();
        vars.insert("a", "1".to_string());
        assert_eq!(fill("x {{a}} y {{ a }}", &vars).unwrap(), "x 1 y 1");
        assert!(fill("{{b}}", &vars).unwrap_err().contains("{{b}}"));
        assert!(fill("{{a", &vars).is_err());
    }

    #[test]
    fn tables_are_markdown() {
        let t = table(&["a".into(), "b".into()], &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---:|\n| x | 1 |\n");
    }
}

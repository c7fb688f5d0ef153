//! Experiment 7 on the page: io_uring against readiness. The section has a
//! template of its own (`templates/uring.md`) and appears only when
//! `uring.json` exists, so pages rendered from results written before the
//! experiment existed do not change.

use super::*;
use crate::suite::{URING_SERVERS, UringExperiment};

/// The section's template.
pub const URING_TEMPLATE: &str = include_str!("../../templates/uring.md");

/// The section's template in the Chinese edition.
pub const URING_TEMPLATE_ZH: &str = include_str!("../../templates/zh/uring.md");

/// Targets: system calls per round trip at C = 64, CPU per round trip as a
/// fraction of epoll-edge's, throughput beside the idle connections as a
/// fraction of without.
const SYSCALL_TARGET: f64 = 0.5;
const CPU_TARGET: f64 = 1.0;
const IDLE_TARGET: f64 = 0.85;
/// Below or above epoll-edge's CPU per round trip by more than this, a
/// point counts as a difference in the summary.
const DIFFERENCE: f64 = 0.05;

const URING: &str = "uring-completion";
const EPOLL: &str = "epoll-edge";

pub(super) fn uring_section(
    results: &Results,
    lang: Lang,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(u) = &results.uring else {
        vars.insert("uring_section", String::new());
        return Ok(());
    };
    let exp = LoadExperiment {
        experiment: u.experiment.clone(),
        servers: u.servers.clone(),
        rounds: u.rounds,
        samples: u.samples.clone(),
    };
    let pick = Pick { exp: &exp };
    let servers: Vec<&str> = URING_SERVERS
        .iter()
        .copied()
        .filter(|s| u.servers.iter().any(|x| x == s))
        .collect();
    let mut conns: Vec<usize> = u
        .samples
        .iter()
        .filter(|s| s.idle == 0)
        .map(|s| s.conns)
        .collect();
    conns.sort();
    conns.dedup();
    let mut sizes: Vec<usize> = u
        .samples
        .iter()
        .filter(|s| s.idle == 0)
        .map(|s| s.size)
        .collect();
    sizes.sort();
    sizes.dedup();

    let mut v: BTreeMap<&str, String> = BTreeMap::new();
    let conns_list: Vec<String> = conns.iter().map(|c| thousands(*c)).collect();
    let sizes_list: Vec<String> = sizes.iter().map(|s| size_name(*s)).collect();
    v.insert(
        "uring_plan",
        match lang {
            Lang::En => format!(
                "C = {} active connections with messages of {}, {} rounds, each server \
                 fresh for every run, the order rotated from round to round; then {} active \
                 connections beside {} idle ones",
                conns_list.join(", "),
                sizes_list.join(" and "),
                u.rounds,
                u.active,
                thousands(u.idle)
            ),
            Lang::Zh => format!(
                "C = {} 个活跃连接，消息为 {}，共 {} 轮，每次运行都用新启动的服务器，\
                 服务器的顺序逐轮轮换；然后是 {} 个活跃连接，旁边另有 {} 个空闲连接",
                conns_list.join("、"),
                sizes_list.join(" 和 "),
                u.rounds,
                u.active,
                thousands(u.idle)
            ),
        },
    );
    v.insert(
        "uring_tables",
        load_tables(&pick, lang, &servers, &conns, &sizes),
    );
    let (ratio_table, beats, loses) = ratio_table(&pick, lang, &conns, &sizes);
    v.insert("uring_ratio_table", ratio_table);
    v.insert("uring_headline", headline(lang, &beats, &loses));
    let (syscall_table, syscall_verdict) = syscalls(u, lang, &servers);
    v.insert("uring_syscall_table", syscall_table);
    v.insert("uring_target_syscalls", syscall_verdict);
    v.insert("uring_target_cpu", cpu_verdict(&pick, lang));
    let (idle_table, idle_verdict) = idle(u, &pick, lang, &servers);
    v.insert("uring_idle_table", idle_table);
    v.insert("uring_target_idle", idle_verdict);
    let template = lang.pick(URING_TEMPLATE, URING_TEMPLATE_ZH);
    vars.insert("uring_section", fill(template, &v)? + "\n");
    Ok(())
}

/// Round trips per second and server CPU per round trip, one table of each
/// per message size: servers down, connections across.
fn load_tables(
    pick: &Pick<'_>,
    lang: Lang,
    servers: &[&str],
    conns: &[usize],
    sizes: &[usize],
) -> String {
    let mut out = String::new();
    for &size in sizes {
        let header: Vec<String> = std::iter::once(lang.pick("server", "服务器").to_string())
            .chain(conns.iter().map(|c| format!("C = {}", thousands(*c))))
            .collect();
        for (what, f, digits) in [
            (
                lang.pick("round trips per second", "每秒往返次数"),
                rps as fn(&Report) -> Option<f64>,
                3,
            ),
            (
                lang.pick(
                    "server CPU per round trip, µs",
                    "每次往返的服务器 CPU（µs）",
                ),
                cpu_per_rt,
                3,
            ),
        ] {
            let rows: Vec<Vec<String>> = servers
                .iter()
                .map(|&s| {
                    std::iter::once(s.to_string())
                        .chain(conns.iter().map(|&c| {
                            cell(
                                lang,
                                pick.summary(s, c, 0, size, f),
                                digits,
                                pick.failure(s, c, 0, size),
                            )
                        }))
                        .collect()
                })
                .collect();
            out += &format!(
                "#### {}{}{what}\n\n",
                size_name(size),
                lang.pick(", ", "，")
            );
            out += &table(&header, &rows);
            out += "\n";
        }
    }
    out.trim_end().to_string()
}

/// uring-completion's CPU per round trip over epoll-edge's, paired by
/// round, at every point; and the points where it is lower, or higher, by
/// more than [`DIFFERENCE`].
fn ratio_table(
    pick: &Pick<'_>,
    lang: Lang,
    conns: &[usize],
    sizes: &[usize],
) -> (String, Vec<String>, Vec<String>) {
    let header: Vec<String> = std::iter::once("C".to_string())
        .chain(sizes.iter().map(|s| size_name(*s)))
        .collect();
    let (mut beats, mut loses) = (Vec::new(), Vec::new());
    let rows: Vec<Vec<String>> = conns
        .iter()
        .map(|&c| {
            std::iter::once(thousands(c))
                .chain(sizes.iter().map(|&size| {
                    let r = pick.paired_ratio((URING, 0), (EPOLL, 0), c, size, cpu_per_rt);
                    if let Some(r) = r {
                        let (c, size, ratio) = (thousands(c), size_name(size), fixed2(r.median));
                        let point = match lang {
                            Lang::En => format!("C = {c}, {size} ({ratio}×)"),
                            Lang::Zh => format!("C = {c}，{size}（{ratio}×）"),
                        };
                        if r.median < 1.0 - DIFFERENCE {
                            beats.push(point);
                        } else if r.median > 1.0 + DIFFERENCE {
                            loses.push(point);
                        }
                    }
                    r.map_or("–".into(), |r| {
                        format!(
                            "{}× ({}–{})",
                            fixed2(r.median),
                            fixed2(r.min),
                            fixed2(r.max)
                        )
                    })
                }))
                .collect()
        })
        .collect();
    (table(&header, &rows), beats, loses)
}

fn headline(lang: Lang, beats: &[String], loses: &[String]) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            lang.pick("none", "无").to_string()
        } else {
            v.join(lang.pick("; ", "；"))
        }
    };
    let percent = format!("{:.0}", DIFFERENCE * 100.0);
    match lang {
        Lang::En => format!(
            "Less server CPU per round trip than epoll-edge, by more than {percent} %: {}. \
             More, by more than {percent} %: {}.",
            list(beats),
            list(loses)
        ),
        Lang::Zh => format!(
            "每次往返的服务器 CPU 比 epoll-edge 少 {percent} % 以上的：{}。\
             多 {percent} % 以上的：{}。",
            list(beats),
            list(loses)
        ),
    }
}

fn cpu_verdict(pick: &Pick<'_>, lang: Lang) -> String {
    match pick.paired_ratio((URING, 0), (EPOLL, 0), 64, 64, cpu_per_rt) {
        Some(r) => {
            let met = r.median <= CPU_TARGET;
            let (verdict, ratio, min, max, rounds) = (
                lang.verdict(met),
                fixed2(r.median),
                fixed2(r.min),
                fixed2(r.max),
                r.count,
            );
            let over = format!("{:.0}", (r.median - CPU_TARGET) * 100.0);
            match lang {
                Lang::En => format!(
                    "**{verdict}**: {ratio}× epoll-edge's (min–max {min}–{max}, {rounds} paired rounds){}",
                    if met {
                        String::new()
                    } else {
                        format!(", {over} % over")
                    }
                ),
                Lang::Zh => format!(
                    "**{verdict}**：epoll-edge 的 {ratio}×（最小–最大 {min}–{max}，{rounds} 轮配对）{}",
                    if met {
                        String::new()
                    } else {
                        format!("，高出 {over} %")
                    }
                ),
            }
        }
        None => lang.not_measured().into(),
    }
}

/// System calls per round trip: servers down, connections across; and the
/// verdict at C = 64.
fn syscalls(u: &UringExperiment, lang: Lang, servers: &[&str]) -> (String, String) {
    if u.syscalls.is_empty() {
        return (
            match lang {
                Lang::En => format!("*(not counted: {})*", u.method),
                Lang::Zh => format!("*（未统计：{}）*", u.method),
            },
            lang.not_measured().into(),
        );
    }
    let mut conns: Vec<usize> = u.syscalls.iter().map(|s| s.conns).collect();
    conns.sort();
    conns.dedup();
    let summary =
        |server: &str, c: usize, f: &dyn Fn(&crate::suite::SyscallSample) -> Option<f64>| {
            let v: Vec<f64> = u
                .syscalls
                .iter()
                .filter(|s| s.server == server && s.conns == c)
                .filter_map(f)
                .collect();
            Summary::of(&v)
        };
    let header: Vec<String> = std::iter::once(lang.pick("server", "服务器").to_string())
        .chain(conns.iter().map(|c| format!("C = {}", thousands(*c))))
        .collect();
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|&s| {
            std::iter::once(s.to_string())
                .chain(conns.iter().map(|&c| {
                    summary(s, c, &|x| x.per_round_trip).map_or("–".into(), |v| {
                        format!("{} ({}–{})", fixed2(v.median), fixed2(v.min), fixed2(v.max))
                    })
                }))
                .collect()
        })
        .collect();
    let verdict = match summary(URING, 64, &|x| x.per_round_trip) {
        Some(s) => {
            let met = s.median <= SYSCALL_TARGET;
            let enter = summary(URING, 64, &|x| {
                x.per_round_trip_by_name.get("io_uring_enter").copied()
            })
            .map_or("–".into(), |e| fixed2(e.median));
            let epoll = summary(EPOLL, 64, &|x| x.per_round_trip)
                .map_or("–".into(), |e| fixed2(e.median));
            let (verdict, median, min, max) = (
                lang.verdict(met),
                fixed2(s.median),
                fixed2(s.min),
                fixed2(s.max),
            );
            let over = fixed2(s.median - SYSCALL_TARGET);
            match lang {
                Lang::En => format!(
                    "**{verdict}**: {median} (min–max {min}–{max}){}, of which {enter} `io_uring_enter`; \
                     epoll-edge: {epoll}",
                    if met {
                        String::new()
                    } else {
                        format!(", over by {over}")
                    },
                ),
                Lang::Zh => format!(
                    "**{verdict}**：{median}（最小–最大 {min}–{max}）{}，其中 {enter} 次是`io_uring_enter`；\
                     epoll-edge：{epoll}",
                    if met {
                        String::new()
                    } else {
                        format!("，超出 {over}")
                    },
                ),
            }
        }
        None => lang
            .pick("not measured at C = 64", "C = 64 时未测量")
            .into(),
    };
    let table = table(&header, &rows);
    (
        match lang {
            Lang::En => format!(
                "Counted with `{}`; 64 B messages; median (min–max).\n\n{}",
                u.method,
                table.trim_end()
            ),
            Lang::Zh => format!(
                "用`{}`统计；64 B 的消息；中位数（最小–最大）。\n\n{}",
                u.method,
                table.trim_end()
            ),
        },
        verdict,
    )
}

/// Throughput beside the idle connections, as a fraction of without (paired
/// by round), and the server's resident memory per idle connection.
fn idle(u: &UringExperiment, pick: &Pick<'_>, lang: Lang, servers: &[&str]) -> (String, String) {
    let (active, k) = (u.active, u.idle);
    let with_idle = match lang {
        Lang::En => format!("with {} idle", thousands(k)),
        Lang::Zh => format!("有 {} 个空闲连接", thousands(k)),
    };
    let header: Vec<String> = [
        lang.pick("server", "服务器").to_string(),
        lang.pick("round trips/s, no idle", "每秒往返次数，无空闲连接")
            .into(),
        with_idle.clone(),
        lang.pick("ratio", "比值").into(),
        lang.pick(
            "CPU per round trip, µs: no idle",
            "每次往返的 CPU（µs），无空闲连接",
        )
        .into(),
        with_idle,
        lang.pick("RSS, no idle (MiB)", "RSS，无空闲连接（MiB）")
            .into(),
        lang.pick(
            "RSS per idle connection (bytes)",
            "每个空闲连接的 RSS（字节）",
        )
        .into(),
    ]
    .to_vec();
    let rss = |r: &Report| r.server.as_ref()?.rss_bytes.map(|b| b as f64);
    let rows: Vec<Vec<String>> = servers
        .iter()
        .map(|&s| {
            let per_conn = pick
                .samples_owned(s, active, k, 64)
                .iter()
                .filter_map(|with| {
                    let without = pick
                        .samples_owned(s, active, 0, 64)
                        .into_iter()
                        .find(|w| w.round == with.round)?;
                    let grown = rss(with.report.as_ref()?)? - rss(without.report.as_ref()?)?;
                    Some(grown / k.max(1) as f64)
                })
                .collect::<Vec<f64>>();
            vec![
                s.to_string(),
                cell(
                    lang,
                    pick.summary(s, active, 0, 64, rps),
                    3,
                    pick.failure(s, active, 0, 64),
                ),
                cell(
                    lang,
                    pick.summary(s, active, k, 64, rps),
                    3,
                    pick.failure(s, active, k, 64),
                ),
                pick.paired_ratio((s, k), (s, 0), active, 64, rps)
                    .map_or("–".into(), |r| format!("{}×", fixed2(r.median))),
                cell(lang, pick.summary(s, active, 0, 64, cpu_per_rt), 3, None),
                cell(lang, pick.summary(s, active, k, 64, cpu_per_rt), 3, None),
                pick.summary(s, active, 0, 64, |r| rss(r).map(|b| b / 1048576.0))
                    .map_or("–".into(), |m| format!("{:.1}", m.median)),
                Summary::of(&per_conn).map_or("–".into(), |m| format!("{:.0}", m.median)),
            ]
        })
        .collect();
    let verdict = match pick.paired_ratio((URING, k), (URING, 0), active, 64, rps) {
        Some(r) => {
            let met = r.median >= IDLE_TARGET;
            let (verdict, ratio, min, max) = (
                lang.verdict(met),
                fixed2(r.median),
                fixed2(r.min),
                fixed2(r.max),
            );
            let short = fixed2(IDLE_TARGET - r.median);
            match lang {
                Lang::En => format!(
                    "**{verdict}**: {ratio}× (min–max {min}–{max}){}",
                    if met {
                        String::new()
                    } else {
                        format!(", short by {short}")
                    }
                ),
                Lang::Zh => format!(
                    "**{verdict}**：{ratio}×（最小–最大 {min}–{max}）{}",
                    if met {
                        String::new()
                    } else {
                        format!("，差 {short}")
                    }
                ),
            }
        }
        None => lang.not_measured().into(),
    };
    (table(&header, &rows).trim_end().to_string(), verdict)
}

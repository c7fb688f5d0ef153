//! Experiment 5 on the page: system calls per round trip.

use super::*;

/// The Chinese table's names of [`GROUPS`] and of the rest.
const GROUP_NAMES_ZH: [&str; 6] = [
    "读",
    "写",
    "等待",
    "epoll_ctl",
    "futex, sched_yield",
    "其他",
];

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

pub(super) fn syscall_section(
    results: &Results,
    lang: Lang,
    charts: Option<&Path>,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(exp) = &results.syscalls else {
        for k in [
            "syscall_table",
            "syscall_method",
            "target_syscalls",
            "target_syscalls_short",
        ] {
            vars.insert(k, lang.not_measured_block().into());
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
    let mut header = vec![
        lang.pick("server", "服务器").to_string(),
        "C".to_string(),
        lang.pick("all", "合计").to_string(),
    ];
    match lang {
        Lang::En => {
            header.extend(GROUPS.iter().map(|(g, _)| g.to_string()));
            header.push("other".into());
        }
        Lang::Zh => header.extend(GROUP_NAMES_ZH.iter().map(|g| g.to_string())),
    }
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
                    (None, e) => cell(lang, None, 3, e),
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
        lang.pick("the floor", "下限").into(),
        lang.pick("any", "任意").into(),
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
    if let Some(img_dir) = charts {
        stacked_bars(
            &img_dir.join("bench-syscalls.svg"),
            &format!("System calls per round trip, C = {chart_c}, 64 B (the floor is 2)"),
            &names,
            &bars,
            2.0,
        )?;
    }
    let verdict = match summary("epoll-edge", 64, &|s| s.per_round_trip) {
        Some(s) => {
            let met = s.median <= 2.2;
            let median_of = |g: Option<Summary>| g.map_or("–".into(), |g| fixed2(g.median));
            let wait = median_of(summary("epoll-edge", 64, &|x| group(x, GROUPS[2].1)));
            let reads = median_of(summary("epoll-edge", 64, &|x| group(x, GROUPS[0].1)));
            let ctl = median_of(summary("epoll-edge", 64, &|x| group(x, GROUPS[3].1)));
            let (verdict, median, min, max) = (
                lang.verdict_first(met),
                fixed2(s.median),
                fixed2(s.min),
                fixed2(s.max),
            );
            let over = fixed2(s.median - 2.2);
            match lang {
                Lang::En => format!(
                    "**{verdict}**: epoll-edge makes {median} system calls per round trip at C = 64 \
                     (min–max {min}–{max}); the target is at most 2.2{}. Of these, {reads} are reads, \
                     {wait} are waits and {ctl} are `epoll_ctl`.",
                    if met {
                        String::new()
                    } else {
                        format!(", missed by {over}")
                    },
                ),
                Lang::Zh => format!(
                    "**{verdict}**：C = 64 时，epoll-edge 每次往返进行 {median} 次系统调用\
                     （最小–最大 {min}–{max}）；目标是至多 2.2{}。其中 {reads} 次是读，{wait} 次是等待，\
                     {ctl} 次是`epoll_ctl`。",
                    if met {
                        String::new()
                    } else {
                        format!("，超出 {over}")
                    },
                ),
            }
        }
        None => lang
            .pick("**Not measured** at C = 64.", "C = 64 时**未测量**。")
            .into(),
    };
    vars.insert("target_syscalls", verdict);
    let short = summary("epoll-edge", 64, &|s| s.per_round_trip).map_or_else(
        || lang.not_measured().into(),
        |s| {
            let verdict = lang.verdict(s.median <= 2.2);
            let (median, min, max) = (
                format!("{:.2}", s.median),
                format!("{:.2}", s.min),
                format!("{:.2}", s.max),
            );
            match lang {
                Lang::En => format!("**{verdict}**: {median} ({min}–{max})"),
                Lang::Zh => format!("**{verdict}**：{median}（{min}–{max}）"),
            }
        },
    );
    vars.insert("target_syscalls_short", short);
    Ok(())
}

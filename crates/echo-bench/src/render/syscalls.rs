//! Experiment 5 on the page: system calls per round trip.

use super::*;

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

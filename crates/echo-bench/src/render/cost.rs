//! Experiment 6 on the page: the cost of one wait, next to Kerrisk's.

use super::*;

pub(super) fn cost_section(
    results: &Results,
    lang: Lang,
    charts: Option<&Path>,
    vars: &mut BTreeMap<&str, String>,
) -> Result<(), String> {
    let Some(r) = &results.cost else {
        for k in ["cost_table", "cost_scaling"] {
            vars.insert(k, lang.not_measured_block().into());
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
                (None, _) if m == Mechanism::Select => {
                    lang.pick("beyond FD_SETSIZE", "超出 FD_SETSIZE").into()
                }
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
                let (name, n, calls, factor) = (
                    m.name(),
                    thousands(n),
                    thousands(calls as usize),
                    sig(r.calls_nominal as f64 / calls as f64, 3),
                );
                match lang {
                    Lang::En => format!("{name} at N = {n}: {calls} calls, × {factor}"),
                    Lang::Zh => format!("N = {n} 时的 {name}：{calls} 次调用，× {factor}"),
                }
            })
        })
        .collect();
    vars.insert(
        "cost_scaling",
        match (lang, scaled.is_empty()) {
            (Lang::En, true) => "every figure is 100,000 real calls".into(),
            (Lang::Zh, true) => "每个数字都来自实际执行的 100,000 次调用".into(),
            (Lang::En, false) => format!(
                "‡ timed with fewer calls, then scaled to {}: {}",
                thousands(r.calls_nominal as usize),
                scaled.join("; ")
            ),
            (Lang::Zh, false) => format!(
                "‡ 计时用的调用次数较少，再按比例换算成 {} 次：{}",
                thousands(r.calls_nominal as usize),
                scaled.join("；")
            ),
        },
    );
    let Some(img_dir) = charts else {
        return Ok(());
    };
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

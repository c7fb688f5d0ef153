//! Experiment 3 on the page: idle CPU.

use super::*;

pub(super) fn idle_cpu_table(results: &Results, lang: Lang) -> String {
    let Some(exp) = &results.idle_cpu else {
        return format!("{}\n", lang.not_measured_block());
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
                cell(lang, cpu, 2, pick.failure(s, 0, 10, 0)),
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
            lang.pick("server", "服务器").into(),
            match lang {
                Lang::En => format!("CPU seconds in {} s, 10 idle clients", sig(secs, 2)),
                Lang::Zh => format!("{} s 内的 CPU 秒数，10 个空闲客户端", sig(secs, 2)),
            },
            lang.pick("of one core", "占一个核心").into(),
        ],
        &rows,
    )
}

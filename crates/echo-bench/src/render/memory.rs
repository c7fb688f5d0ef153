//! Experiment 4 on the page: memory and threads.

use super::*;

pub(super) fn memory_table(results: &Results, lang: Lang) -> String {
    let Some(exp) = &results.memory else {
        return format!("{}\n", lang.not_measured_block());
    };
    let pick = Pick { exp };
    let mut ks: Vec<usize> = exp.samples.iter().map(|s| s.idle).collect();
    ks.sort_unstable();
    ks.dedup();
    let mut header = vec![lang.pick("server", "服务器").to_string()];
    for &k in &ks {
        header.push(match lang {
            Lang::En => format!("{} connections: MiB resident, threads", thousands(k)),
            Lang::Zh => format!("{} 个连接：常驻内存 MiB，线程数", thousands(k)),
        });
    }
    header.push(
        lang.pick(
            "KiB per connection (largest vs none)",
            "每个连接的 KiB（最多连接对比零连接）",
        )
        .into(),
    );
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
                    _ => cell(lang, None, 3, pick.failure(s, 0, k, 0)),
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

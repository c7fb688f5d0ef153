//! Experiment 8 on the page: the read size. Its tables and verdict fill
//! placeholders of section 8 of `templates/benchmarks.md`; without
//! `read-size.json` they say "not measured" and the prose stays.

use super::*;
use crate::suite::{READ_SIZE_SERVERS, ReadSizeExperiment};

/// Target: epoll-edge's CPU per round trip at most this many times
/// floor-echo's, at 64 B and 16 KiB with 64 KiB reads.
const FLOOR_TARGET: f64 = 1.1;
const TARGET_READ: usize = 64 * 1024;
const TARGET_SIZES: [usize; 2] = [64, 16 * 1024];

/// One run of a server: the round, server CPU µs per round trip, round
/// trips per second.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub round: usize,
    pub cpu_us: f64,
    pub rps: f64,
}

/// One row of a table: a read size and the runs of epoll-edge and of
/// floor-echo at it.
pub struct Row {
    pub read_size: usize,
    pub epoll: Vec<Run>,
    pub floor: Vec<Run>,
}

/// epoll-edge's CPU per round trip over floor-echo's, run against run in
/// each round.
fn ratios(row: &Row) -> Option<Summary> {
    let v: Vec<f64> = row
        .epoll
        .iter()
        .filter_map(|a| {
            let b = row.floor.iter().find(|b| b.round == a.round)?;
            (b.cpu_us > 0.0).then(|| a.cpu_us / b.cpu_us)
        })
        .collect();
    Summary::of(&v)
}

/// The table of one message size, as `read-size` prints it and the page
/// shows it: read sizes down; each server's CPU per round trip, their
/// ratio, each server's round trips per second across.
pub fn table_of(rows: &[Row]) -> String {
    table_in(Lang::En, rows)
}

/// [`table_of`] with its header in `lang`.
fn table_in(lang: Lang, rows: &[Row]) -> String {
    let mut out = String::from(lang.pick(
        "| --read-size | epoll-edge µs CPU/rt | floor-echo µs CPU/rt | epoll-edge ÷ floor-echo | epoll-edge rt/s | floor-echo rt/s |\n",
        "| --read-size | epoll-edge 每次往返 CPU µs | floor-echo 每次往返 CPU µs | epoll-edge ÷ floor-echo | epoll-edge 每秒往返次数 | floor-echo 每秒往返次数 |\n",
    ));
    out += "|---:|---:|---:|---:|---:|---:|\n";
    for row in rows {
        let col = |runs: &[Run], f: fn(&Run) -> f64, digits: usize| {
            Summary::of(&runs.iter().map(f).collect::<Vec<_>>()).map_or("–".into(), |x| {
                format!("{:.d$} ({:.d$}–{:.d$})", x.median, x.min, x.max, d = digits)
            })
        };
        let ratio = ratios(row).map_or("–".into(), |x| {
            format!("{:.2} ({:.2}–{:.2})", x.median, x.min, x.max)
        });
        out += &format!(
            "| {} | {} | {} | {ratio} | {} | {} |\n",
            row.read_size,
            col(&row.epoll, |r| r.cpu_us, 2),
            col(&row.floor, |r| r.cpu_us, 2),
            col(&row.epoll, |r| r.rps, 0),
            col(&row.floor, |r| r.rps, 0),
        );
    }
    out
}

/// The rows of one message size, from the experiment's samples.
fn rows_of(x: &ReadSizeExperiment, size: usize) -> Vec<Row> {
    let runs = |server: &str, read: usize| -> Vec<Run> {
        x.samples
            .iter()
            .filter(|s| s.read_size == read && s.load.size == size && s.load.server == server)
            .filter_map(|s| {
                let r = s.load.report.as_ref()?;
                Some(Run {
                    round: s.load.round,
                    cpu_us: cpu_per_rt(r)?,
                    rps: r.round_trips_per_s,
                })
            })
            .collect()
    };
    let [epoll, floor] = READ_SIZE_SERVERS;
    x.read_sizes
        .iter()
        .map(|&read| Row {
            read_size: read,
            epoll: runs(epoll, read),
            floor: runs(floor, read),
        })
        .collect()
}

pub(super) fn read_size_section(results: &Results, lang: Lang, vars: &mut BTreeMap<&str, String>) {
    let Some(x) = &results.read_size else {
        vars.insert("read_size_tables", lang.not_measured_block().into());
        vars.insert("read_size_gain", gain_none(lang).into());
        vars.insert("read_size_target", lang.not_measured().into());
        vars.insert("read_size_worst", String::new());
        return;
    };
    let mut tables = match lang {
        Lang::En => format!(
            "C = {}, {} round{} of {} s; medians (min–max)\n",
            x.conns,
            x.rounds,
            if x.rounds == 1 { "" } else { "s" },
            x.duration_s
        ),
        Lang::Zh => format!(
            "C = {}，共 {} 轮，每轮 {} s；中位数（最小–最大）\n",
            x.conns, x.rounds, x.duration_s
        ),
    };
    let mut by_size = BTreeMap::new();
    for &size in &x.sizes {
        let rows = rows_of(x, size);
        let title = match lang {
            Lang::En => format!("Messages of {}", size_name(size)),
            Lang::Zh => format!("{} 的消息", size_name(size)),
        };
        tables += &format!("\n**{title}**\n\n{}", table_in(lang, &rows));
        by_size.insert(size, rows);
    }
    vars.insert("read_size_tables", tables.trim_end().to_string());
    vars.insert("read_size_gain", gain(&by_size, lang));
    vars.insert("read_size_target", verdict(&by_size, lang));
    vars.insert("read_size_worst", worst(&by_size, lang));
}

/// The end of the sentence on 4 KiB reads when there are no figures.
fn gain_none(lang: Lang) -> &'static str {
    lang.pick(
        ", where a 64 KiB read takes it whole",
        "，而一次 64 KiB 的读取就能把它整个读进来",
    )
}

/// epoll-edge's CPU per round trip with 4 KiB reads over its CPU with
/// 64 KiB reads, for 16 KiB and 64 KiB messages (medians).
fn gain(by_size: &BTreeMap<usize, Vec<Row>>, lang: Lang) -> String {
    let median_at = |size: usize, read: usize| {
        let row = by_size.get(&size)?.iter().find(|r| r.read_size == read)?;
        Summary::of(&row.epoll.iter().map(|r| r.cpu_us).collect::<Vec<_>>()).map(|s| s.median)
    };
    let times = |size: usize| {
        let small = median_at(size, 4096)?;
        let large = median_at(size, TARGET_READ).filter(|l| *l > 0.0)?;
        Some(small / large)
    };
    match (lang, times(16 * 1024), times(64 * 1024)) {
        (Lang::En, Some(a), Some(b)) => format!(
            ", and costs epoll-edge {a:.1} times the CPU time it costs with 64 KiB \
             reads; a 64 KiB message, {b:.1} times"
        ),
        (Lang::Zh, Some(a), Some(b)) => format!(
            "，epoll-edge 为它花的 CPU 时间是 64 KiB 读取时的 {a:.1} 倍；\
             一条 64 KiB 的消息是 {b:.1} 倍"
        ),
        (Lang::En, Some(a), None) => {
            format!(", and costs epoll-edge {a:.1} times the CPU time it costs with 64 KiB reads")
        }
        (Lang::Zh, Some(a), None) => {
            format!("，epoll-edge 为它花的 CPU 时间是 64 KiB 读取时的 {a:.1} 倍")
        }
        _ => gain_none(lang).into(),
    }
}

/// The target: met if the median ratio is within [`FLOOR_TARGET`] at every
/// message size of [`TARGET_SIZES`] with 64 KiB reads.
fn verdict(by_size: &BTreeMap<usize, Vec<Row>>, lang: Lang) -> String {
    let at: Vec<(usize, Option<Summary>)> = TARGET_SIZES
        .iter()
        .map(|&size| {
            let r = by_size
                .get(&size)
                .and_then(|rows| rows.iter().find(|r| r.read_size == TARGET_READ))
                .and_then(ratios);
            (size, r)
        })
        .collect();
    if at.iter().all(|(_, r)| r.is_none()) {
        return lang.not_measured().into();
    }
    let met = at
        .iter()
        .all(|(_, r)| r.is_some_and(|r| r.median <= FLOOR_TARGET));
    let parts: Vec<String> = at
        .iter()
        .map(|(size, r)| {
            let size = size_name(*size);
            match (lang, r) {
                (Lang::En, Some(r)) => format!(
                    "{}× at {size} (min–max {}–{})",
                    fixed2(r.median),
                    fixed2(r.min),
                    fixed2(r.max)
                ),
                (Lang::Zh, Some(r)) => format!(
                    "{size} 时 {}×（最小–最大 {}–{}）",
                    fixed2(r.median),
                    fixed2(r.min),
                    fixed2(r.max)
                ),
                (Lang::En, None) => format!("not measured at {size}"),
                (Lang::Zh, None) => format!("{size} 时未测量"),
            }
        })
        .collect();
    match lang {
        Lang::En => format!("**{}**: {}", lang.verdict(met), parts.join(", ")),
        Lang::Zh => format!("**{}**：{}", lang.verdict(met), parts.join("，")),
    }
}

/// The point where epoll-edge's CPU is furthest above floor-echo's, if it
/// is above the target there.
fn worst(by_size: &BTreeMap<usize, Vec<Row>>, lang: Lang) -> String {
    let mut top: Option<(usize, usize, f64)> = None;
    for (&size, rows) in by_size {
        for row in rows {
            if let Some(r) = ratios(row)
                && top.is_none_or(|(_, _, m)| r.median > m)
            {
                top = Some((size, row.read_size, r.median));
            }
        }
    }
    match top {
        Some((size, read, m)) if m > FLOOR_TARGET => {
            let (size, read, ratio) = (size_name(size), size_name(read), fixed2(m));
            match lang {
                Lang::En => format!(
                    "Its largest ratio here is at {size} messages with {read} reads ({ratio}×). "
                ),
                Lang::Zh => {
                    format!("它在这里的最大比值出现在 {size} 的消息、{read} 的读取上（{ratio}×）。")
                }
            }
        }
        _ => String::new(),
    }
}

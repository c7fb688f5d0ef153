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
    let mut out = String::from(
        "| --read-size | epoll-edge µs CPU/rt | floor-echo µs CPU/rt | epoll-edge ÷ floor-echo | epoll-edge rt/s | floor-echo rt/s |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
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

pub(super) fn read_size_section(results: &Results, vars: &mut BTreeMap<&str, String>) {
    let Some(x) = &results.read_size else {
        vars.insert("read_size_tables", "*(not measured)*".into());
        vars.insert(
            "read_size_gain",
            ", where a 64 KiB read takes it whole".into(),
        );
        vars.insert("read_size_target", "not measured".into());
        vars.insert("read_size_worst", String::new());
        return;
    };
    let mut tables = format!(
        "C = {}, {} round{} of {} s; medians (min–max)\n",
        x.conns,
        x.rounds,
        if x.rounds == 1 { "" } else { "s" },
        x.duration_s
    );
    let mut by_size = BTreeMap::new();
    for &size in &x.sizes {
        let rows = rows_of(x, size);
        tables += &format!(
            "\n**Messages of {}**\n\n{}",
            size_name(size),
            table_of(&rows)
        );
        by_size.insert(size, rows);
    }
    vars.insert("read_size_tables", tables.trim_end().to_string());
    vars.insert("read_size_gain", gain(&by_size));
    vars.insert("read_size_target", verdict(&by_size));
    vars.insert("read_size_worst", worst(&by_size));
}

/// epoll-edge's CPU per round trip with 4 KiB reads over its CPU with
/// 64 KiB reads, for 16 KiB and 64 KiB messages (medians).
fn gain(by_size: &BTreeMap<usize, Vec<Row>>) -> String {
    let median_at = |size: usize, read: usize| {
        let row = by_size.get(&size)?.iter().find(|r| r.read_size == read)?;
        Summary::of(&row.epoll.iter().map(|r| r.cpu_us).collect::<Vec<_>>()).map(|s| s.median)
    };
    let times = |size: usize| {
        let small = median_at(size, 4096)?;
        let large = median_at(size, TARGET_READ).filter(|l| *l > 0.0)?;
        Some(small / large)
    };
    match (times(16 * 1024), times(64 * 1024)) {
        (Some(a), Some(b)) => format!(
            ", and costs epoll-edge {a:.1} times the CPU time it costs with 64 KiB \
             reads; a 64 KiB message, {b:.1} times"
        ),
        (Some(a), None) => {
            format!(", and costs epoll-edge {a:.1} times the CPU time it costs with 64 KiB reads")
        }
        _ => ", where a 64 KiB read takes it whole".into(),
    }
}

/// The target: met if the median ratio is within [`FLOOR_TARGET`] at every
/// message size of [`TARGET_SIZES`] with 64 KiB reads.
fn verdict(by_size: &BTreeMap<usize, Vec<Row>>) -> String {
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
        return "not measured".into();
    }
    let met = at
        .iter()
        .all(|(_, r)| r.is_some_and(|r| r.median <= FLOOR_TARGET));
    let parts: Vec<String> = at
        .iter()
        .map(|(size, r)| match r {
            Some(r) => format!(
                "{}× at {} (min–max {}–{})",
                fixed2(r.median),
                size_name(*size),
                fixed2(r.min),
                fixed2(r.max)
            ),
            None => format!("not measured at {}", size_name(*size)),
        })
        .collect();
    format!(
        "**{}**: {}",
        if met { "met" } else { "missed" },
        parts.join(", ")
    )
}

/// The point where epoll-edge's CPU is furthest above floor-echo's, if it
/// is above the target there.
fn worst(by_size: &BTreeMap<usize, Vec<Row>>) -> String {
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
        Some((size, read, m)) if m > FLOOR_TARGET => format!(
            "Its largest ratio here is at {} messages with {} reads ({}×). ",
            size_name(size),
            size_name(read),
            fixed2(m)
        ),
        _ => String::new(),
    }
}

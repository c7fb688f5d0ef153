//! The benchmarks page from the suite's JSON: tables (medians with min–max),
//! the targets' verdicts, and SVG charts drawn with `plotters`.
//!
//! The page's prose lives in `templates/benchmarks.md`; every `{{name}}` in
//! it is replaced by a table, a figure or a verdict computed here, so no
//! number on the page is typed by hand.
//!
//! The Chinese edition's page (`docs/zh/src/benchmarks.md`) comes from
//! `templates/zh/benchmarks.md` in the same run: the same numbers, tables
//! and charts, with the words the renderer puts around them in Chinese
//! ([`Lang`]), and a first line that records the English page it follows.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::cost::{CostReport, Mechanism};
use crate::load::Report;
use crate::stats::{Summary, sig};
use crate::suite::{LoadExperiment, LoadSample, Machine, SyscallExperiment, all_servers};

mod cost;
mod idle;
mod idle_cpu;
mod memory;
mod read_size;
mod syscalls;
mod throughput;
mod uring;

use cost::cost_section;
use idle::idle_section;
use idle_cpu::idle_cpu_table;
use memory::memory_table;
use read_size::read_size_section;
pub use read_size::{Row as ReadSizeRow, Run as ReadSizeRun, table_of as read_size_table};
use syscalls::syscall_section;
use throughput::throughput_section;
use uring::uring_section;

/// The page's template.
pub const TEMPLATE: &str = include_str!("../../templates/benchmarks.md");

/// The Chinese edition's template: the English one translated, with the
/// same placeholders, and `{{translation_record}}` on its first line.
pub const TEMPLATE_ZH: &str = include_str!("../../templates/zh/benchmarks.md");

/// The English page, as the Chinese page's translation record names it.
pub const ENGLISH_PAGE: &str = "docs/src/benchmarks.md";

/// The language of a page: its template's and that of every word the
/// renderer adds (verdicts, table headers, row labels). Numbers, units,
/// server names, flags and error messages are the same in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `en` on the English page, `zh` on the Chinese one.
    fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    /// Whether a target was met, as the verdicts say it.
    fn verdict(self, met: bool) -> &'static str {
        match (self, met) {
            (Lang::En, true) => "met",
            (Lang::En, false) => "missed",
            (Lang::Zh, true) => "达到",
            (Lang::Zh, false) => "未达到",
        }
    }

    /// [`Lang::verdict`] at the start of a sentence.
    fn verdict_first(self, met: bool) -> &'static str {
        match (self, met) {
            (Lang::En, true) => "Met",
            (Lang::En, false) => "Missed",
            (Lang::Zh, met) => self.verdict(met),
        }
    }

    /// A verdict's or a figure's place when its experiment did not run.
    fn not_measured(self) -> &'static str {
        self.pick("not measured", "未测量")
    }

    /// A table's place when its experiment did not run.
    fn not_measured_block(self) -> &'static str {
        self.pick("*(not measured)*", "*（未测量）*")
    }

    /// `median (min–max)` in a sentence: Chinese prose takes full-width
    /// brackets (table cells keep [`Summary::fmt`] in both languages).
    fn summary(self, s: &Summary, digits: usize) -> String {
        match self {
            Lang::En => s.fmt(digits),
            Lang::Zh => format!(
                "{}（{}–{}）",
                sig(s.median, digits),
                sig(s.min, digits),
                sig(s.max, digits)
            ),
        }
    }
}

/// The FNV-1a 64-bit hash of `bytes`, which the Chinese edition's
/// translation records hold of the English page they follow.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Line 1 of the Chinese page: the English page `english` it was rendered
/// beside.
pub fn translation_record(english: &str) -> String {
    format!(
        "<!-- 译自 {ENGLISH_PAGE} fnv1a64:{:016x} -->",
        fnv1a64(english.as_bytes())
    )
}

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
    pub uring: Option<crate::suite::UringExperiment>,
    pub read_size: Option<crate::suite::ReadSizeExperiment>,
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
            uring: read_json(dir, "uring.json")?,
            read_size: read_json(dir, "read-size.json")?,
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

/// `12,300 (11,900–12,800)`, or why there is no figure (the error itself
/// is the program's, in English on both pages).
fn cell(lang: Lang, summary: Option<Summary>, digits: usize, failure: Option<String>) -> String {
    match (summary, failure) {
        (Some(s), _) => s.fmt(digits),
        (None, Some(e)) => format!("{}{}", lang.pick("failed: ", "失败："), e.replace('|', "/")),
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

/// Renders the English page from `template` and draws the charts into
/// `img_dir`. Returns the page's text.
pub fn render(results: &Results, template: &str, img_dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(img_dir).map_err(|e| format!("{}: {e}", img_dir.display()))?;
    render_in(results, Lang::En, template, Some(img_dir), BTreeMap::new())
}

/// Renders the Chinese edition's page from `template`; it shows the
/// English page's charts, so none is drawn. `english` is the English page
/// rendered from the same results: `{{translation_record}}` records its
/// hash, so the Chinese page names the very English page it sits beside.
pub fn render_zh(results: &Results, template: &str, english: &str) -> Result<String, String> {
    let mut vars = BTreeMap::new();
    vars.insert("translation_record", translation_record(english));
    render_in(results, Lang::Zh, template, None, vars)
}

/// Fills `template` in `lang`; charts are drawn only with `charts`.
fn render_in(
    results: &Results,
    lang: Lang,
    template: &str,
    charts: Option<&Path>,
    mut vars: BTreeMap<&str, String>,
) -> Result<String, String> {
    vars.insert("machine", machine_section(results, lang));
    idle_section(results, lang, charts, &mut vars)?;
    throughput_section(results, lang, charts, &mut vars)?;
    vars.insert("idle_cpu_table", idle_cpu_table(results, lang));
    vars.insert("memory_table", memory_table(results, lang));
    syscall_section(results, lang, charts, &mut vars)?;
    cost_section(results, lang, charts, &mut vars)?;
    uring_section(results, lang, &mut vars)?;
    read_size_section(results, lang, &mut vars);
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

fn machine_section(results: &Results, lang: Lang) -> String {
    let Some(m) = &results.machine else {
        return lang
            .pick(
                "*(no machine.json: the suite has not run)*\n",
                "*（没有 machine.json：测试套件还没有运行过）*\n",
            )
            .into();
    };
    let p = &m.plan;
    let missing = if m.servers_missing.is_empty() {
        lang.pick("none", "无").to_string()
    } else {
        m.servers_missing.join(", ")
    };
    match lang {
        Lang::En => format!(
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
        ),
        Lang::Zh => format!(
            "- **CPU**：{}（进程看到 {} 个逻辑 CPU，即`nproc`），内存 {:.0} GiB\n\
             - **内核**：Linux {}\n\
             - **编译器**：{}，release 配置；工作区位于提交`{}`\n\
             - **时间**：{}，{}，总耗时 {:.0} s（实际经过的时间）\n\
             - **命令**：`{}`\n\
             - **平均负载**（1、5、15 分钟）开始前：{}；结束后：{}\n\
             - **计划**：每项比较交错进行 {} 轮；每次负载运行都针对一个新启动的服务器，先预热 {} s，再测量 {} s\n\
             - **未构建、因而略去的服务器**：{}\n",
            m.cpu_model,
            m.nproc,
            m.memory_gib,
            m.kernel,
            m.rustc,
            m.commit,
            m.date,
            match p.mode.as_str() {
                "full" => "完整计划".to_string(),
                "quick" => "快速计划".to_string(),
                "smoke" => "冒烟测试计划".to_string(),
                other => format!("{other} 计划"),
            },
            m.wall_s,
            m.command.trim(),
            loadavg3(&m.loadavg_start),
            loadavg3(&m.loadavg_end),
            p.rounds,
            p.warmup_s,
            p.duration_s,
            missing
        ),
    }
}

fn loadavg3(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------- experiment 1

// ---------------------------------------------------------------- experiment 2

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

// ---------------------------------------------------------------- experiment 5

// ---------------------------------------------------------------- experiment 6

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

    /// The names of a template's placeholders, in order.
    fn placeholders(template: &str) -> Vec<&str> {
        template
            .split("{{")
            .skip(1)
            .filter_map(|rest| Some(rest.split_once("}}")?.0.trim()))
            .collect()
    }

    #[test]
    fn the_chinese_templates_have_the_english_placeholders_in_order() {
        let zh = placeholders(TEMPLATE_ZH);
        assert_eq!(zh.first(), Some(&"translation_record"));
        assert_eq!(zh[1..], placeholders(TEMPLATE)[..]);
        assert_eq!(
            placeholders(uring::URING_TEMPLATE_ZH),
            placeholders(uring::URING_TEMPLATE)
        );
        assert!(TEMPLATE_ZH.starts_with("{{translation_record}}\n"));
    }

    #[test]
    fn the_translation_record_holds_the_fnv1a64_of_the_english_page() {
        // Published test vectors of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(
            translation_record("a"),
            "<!-- 译自 docs/src/benchmarks.md fnv1a64:af63dc4c8601ec8c -->"
        );
    }

    #[test]
    fn every_section_fills_the_chinese_template_without_results() {
        let dir = std::env::temp_dir().join(format!("echo-bench-render-{}", std::process::id()));
        let results = Results::default();
        let english = render(&results, TEMPLATE, &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let chinese = render_zh(&results, TEMPLATE_ZH, &english).unwrap();
        assert!(
            chinese.starts_with(&translation_record(&english)),
            "{chinese}"
        );
        assert!(chinese.contains("*（未测量）*") && !chinese.contains("not measured"));
        assert!(english.contains("*(not measured)*") && !english.contains("未测量"));
    }

    #[test]
    fn tables_are_markdown() {
        let t = table(&["a".into(), "b".into()], &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---:|\n| x | 1 |\n");
    }
}

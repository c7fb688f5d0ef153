//! The load generator against real servers (select-queue and both peers),
//! against broken ones, select-cost with tiny N, and the suite and renderer
//! end to end on a plan of seconds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use echo_bench::cost::CostReport;
use echo_bench::load::Report;
use echo_bench::render::translation_record;
use test_support::{ServerProcess, bin_path, workspace_root};

const ECHO_BENCH: &str = env!("CARGO_BIN_EXE_echo-bench");
const SELECT_COST: &str = env!("CARGO_BIN_EXE_select-cost");
const BENCH_SUITE: &str = env!("CARGO_BIN_EXE_bench-suite");
const BENCH_RENDER: &str = env!("CARGO_BIN_EXE_bench-render");

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn bench(server: &ServerProcess, extra: &[&str]) -> Result<Report, String> {
    let addr = server.addr().to_string();
    let pid = server.pid().to_string();
    let mut args = vec![
        "--addr",
        &addr,
        "--server-pid",
        &pid,
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run(ECHO_BENCH, &args);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))
}

#[test]
fn the_generator_drives_select_queue_and_both_peers() {
    for name in ["select-queue", "tokio-echo", "mio-echo"] {
        let server = ServerProcess::start(bin_path(name), &["--quiet"]);
        // 16 KiB messages need several reads and, often, partial writes.
        for (size, conns) in [("64", "4"), ("16384", "3")] {
            let r = bench(&server, &["--conns", conns, "--idle", "20", "--size", size])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.round_trips > 0, "{name}: {r:?}");
            assert!(r.round_trips_total >= r.round_trips + 20, "{name}: {r:?}");
            let size: u64 = size.parse().unwrap();
            // Every byte of every finished round trip, plus the idle pings.
            assert!(r.bytes_verified >= (r.round_trips_total - 20) * size + 20);
            let s = r.server.as_ref().expect("server usage");
            assert!(s.rss_bytes.unwrap() > 0 && s.threads.unwrap() >= 1);
            assert!(r.latency_us.as_ref().unwrap().p50 > 0.0);
            assert!(r.client_cpu_s > 0.0);
        }
    }
}

#[test]
fn the_table_names_its_figures() {
    let server = ServerProcess::start(bin_path("mio-echo"), &["--quiet"]);
    let out = run(
        ECHO_BENCH,
        &[
            "--addr",
            &server.addr().to_string(),
            "--conns",
            "2",
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "--server-pid",
            &server.pid().to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for word in [
        "round trips",
        "p99.9",
        "client CPU",
        "server CPU",
        "per round trip",
        "client share",
    ] {
        assert!(text.contains(word), "no {word:?} in {text}");
    }
}

/// A server that echoes with one byte changed, or closes after `close_after`
/// bytes.
fn broken_server(
    corrupt_at: Option<usize>,
    close_after: Option<usize>,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut total = 0usize;
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                return;
            }
            for (i, b) in buf[..n].iter_mut().enumerate() {
                if Some(total + i) == corrupt_at {
                    *b ^= 0x20;
                }
            }
            total += n;
            if close_after.is_some_and(|c| total >= c) {
                return;
            }
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    (addr, handle)
}

#[test]
fn a_wrong_byte_or_a_lost_connection_is_an_error() {
    let (addr, h) = broken_server(Some(1000), None);
    let out = run(
        ECHO_BENCH,
        &[
            "--addr",
            &addr,
            "--conns",
            "1",
            "--size",
            "100",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("round trip 10: byte 0 came back as"), "{err}");
    h.join().unwrap();

    let (addr, h) = broken_server(None, Some(250));
    let out = run(
        ECHO_BENCH,
        &[
            "--addr",
            &addr,
            "--conns",
            "1",
            "--size",
            "100",
            "--duration",
            "2",
            "--warmup",
            "0",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("was closed by the server after"), "{err}");
    h.join().unwrap();

    let out = run(ECHO_BENCH, &["--addr", "127.0.0.1:1", "--duration", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: connect to 127.0.0.1:1"));
}

#[test]
fn select_cost_times_every_mechanism_at_tiny_sizes() {
    let out = run(
        SELECT_COST,
        &[
            "--sizes", "5,20", "--calls", "2000", "--budget", "10000", "--rounds", "2", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: CostReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.samples.len(), 2 * 2 * 3);
    assert!(
        r.samples
            .iter()
            .all(|s| s.cpu_s > 0.0 && s.scaled_s >= s.cpu_s * 0.999_999)
    );
    // poll at N = 20 is limited to 10,000 / 20 = 500 calls, epoll never.
    let calls = |m: &str, n: usize| {
        r.samples
            .iter()
            .find(|s| s.mechanism.name() == m && s.n == n)
            .map(|s| s.calls)
    };
    assert_eq!(calls("poll", 20), Some(500));
    assert_eq!(calls("epoll_wait", 20), Some(2000));
    let table = run(
        SELECT_COST,
        &["--sizes", "5", "--calls", "100", "--rounds", "1"],
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("select") && text.contains("epoll_wait"),
        "{text}"
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("echo-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The English page and the Chinese edition's, rendered in one run into
/// `out`; the Chinese page's first line records the English page.
fn render(results: &Path, out: &Path) -> (String, String) {
    let page = out.join("benchmarks.md");
    let zh_page = out.join("zh").join("benchmarks.md");
    let img = out.join("img");
    let r = run(
        BENCH_RENDER,
        &[
            "--results",
            results.to_str().unwrap(),
            "--page",
            page.to_str().unwrap(),
            "--img",
            img.to_str().unwrap(),
            "--zh-page",
            zh_page.to_str().unwrap(),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (english, chinese) = (
        std::fs::read_to_string(page).unwrap(),
        std::fs::read_to_string(zh_page).unwrap(),
    );
    assert_eq!(
        chinese.lines().next(),
        Some(translation_record(&english).as_str())
    );
    assert!(!chinese.contains("{{"), "{chinese}");
    // Every verdict the renderer writes is in Chinese on the Chinese page.
    for english_word in [
        "**met**",
        "**missed**",
        "**Met**",
        "**Missed**",
        "not measured",
    ] {
        assert!(!chinese.contains(english_word), "{english_word}: {chinese}");
    }
    (english, chinese)
}

#[test]
fn the_suite_writes_json_that_the_renderer_turns_into_a_page() {
    let tmp = TempDir::new("suite");
    let results = tmp.0.join("results");
    let bin_dir = Path::new(ECHO_BENCH).parent().unwrap();
    let out = run(
        BENCH_SUITE,
        &[
            "--smoke",
            "--only",
            "2,4,6",
            "--out",
            results.to_str().unwrap(),
            "--bin-dir",
            bin_dir.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "machine.json",
        "throughput.json",
        "memory.json",
        "select-cost.json",
    ] {
        let text = std::fs::read_to_string(results.join(file)).unwrap();
        let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    }
    let (page, zh) = render(&results, &tmp.0);
    assert!(!page.contains("{{"), "{page}");
    assert!(page.contains("| select-queue |"), "{page}");
    assert!(
        page.contains("*(not measured)*"),
        "experiment 1 was not run: {page}"
    );
    assert!(zh.contains("| select-queue |"), "{zh}");
    assert!(
        zh.contains("*（未测量）*"),
        "experiment 1 was not run: {zh}"
    );
    for svg in ["bench-throughput-64.svg", "bench-select-cost.svg"] {
        let text = std::fs::read_to_string(tmp.0.join("img").join(svg)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("select"), "{svg}");
    }
}

/// Experiment 7 at smoke sizes: its JSON, and its section on the page,
/// which pages rendered without `uring.json` do not have.
#[test]
fn the_io_uring_experiment_renders_its_own_section() {
    let tmp = TempDir::new("uring");
    let results = tmp.0.join("results");
    let bin_dir = Path::new(ECHO_BENCH).parent().unwrap();
    let out = run(
        BENCH_SUITE,
        &[
            "--smoke",
            "--only",
            "7",
            "--out",
            results.to_str().unwrap(),
            "--bin-dir",
            bin_dir.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(results.join("uring.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["idle"], 10);
    let (page, zh) = render(&results, &tmp.0);
    assert!(!page.contains("{{"), "{page}");
    for (page, title) in [
        (&page, "## 7. Completion against readiness"),
        (&zh, "## 7. 完成与就绪"),
    ] {
        let section = page
            .split(title)
            .nth(1)
            .unwrap_or_else(|| panic!("no section 7: {page}"));
        assert!(section.contains("| epoll-edge |"), "{section}");
        if bin_dir.join("uring-completion").is_file() {
            assert!(section.contains("| uring-completion |"), "{section}");
        }
    }
    // Without uring.json, no section: the committed page stays as it was.
    std::fs::remove_file(results.join("uring.json")).unwrap();
    let (page, zh) = render(&results, &tmp.0);
    assert!(!page.contains("## 7."), "{page}");
    assert!(page.contains("\n## Run it yourself"), "{page}");
    assert!(!zh.contains("## 7."), "{zh}");
    assert!(zh.contains("\n## 自己运行"), "{zh}");
}

/// Experiment 8 on its quick plan (two read sizes, two message sizes, one
/// round: seconds), its JSON, and its tables and verdict on the page.
#[test]
fn the_read_size_experiment_runs_its_quick_plan_and_renders() {
    let tmp = TempDir::new("read-size");
    let results = tmp.0.join("results");
    let bin_dir = Path::new(ECHO_BENCH).parent().unwrap();
    let started = std::time::Instant::now();
    let out = run(
        BENCH_SUITE,
        &[
            "--quick",
            "--only",
            "8",
            "--out",
            results.to_str().unwrap(),
            "--bin-dir",
            bin_dir.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 8 runs of 0.4 s each: far less than this even in a debug build.
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    let text = std::fs::read_to_string(results.join("read-size.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let samples = json["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2 * 2 * 2, "{text}");
    assert!(samples.iter().all(|s| s["error"].is_null()), "{text}");
    let (page, zh) = render(&results, &tmp.0);
    assert!(!page.contains("{{"), "{page}");
    let section = page
        .split("## 8. The read size")
        .nth(1)
        .unwrap_or_else(|| panic!("no section 8: {page}"));
    assert!(section.contains("**Messages of 16 KiB**"), "{section}");
    assert!(section.contains("| 65536 | "), "{section}");
    assert!(
        section.contains("| **met**: ") || section.contains("| **missed**: "),
        "{section}"
    );
    let section = zh
        .split("## 8. 读取大小")
        .nth(1)
        .unwrap_or_else(|| panic!("no section 8: {zh}"));
    assert!(section.contains("**16 KiB 的消息**"), "{section}");
    assert!(section.contains("| 65536 | "), "{section}");
    assert!(
        section.contains("| **达到**：") || section.contains("| **未达到**："),
        "{section}"
    );
    // Without read-size.json the section stays, with no figures.
    std::fs::remove_file(results.join("read-size.json")).unwrap();
    let (page, zh) = render(&results, &tmp.0);
    let section = page.split("## 8. The read size").nth(1).unwrap();
    assert!(section.contains("*(not measured)*"), "{section}");
    assert!(!section.contains("| 65536 | "), "{section}");
    let section = zh.split("## 8. 读取大小").nth(1).unwrap();
    assert!(section.contains("*（未测量）*"), "{section}");
    assert!(!section.contains("| 65536 | "), "{section}");
}

#[test]
fn the_committed_page_is_rendered_from_the_committed_results() {
    let root = workspace_root();
    let results = root.join("bench-results");
    if !results.join("machine.json").exists() {
        eprintln!("skipping: no bench-results/machine.json yet (scripts/bench.sh writes it)");
        return;
    }
    let tmp = TempDir::new("page");
    let (page, zh) = render(&results, &tmp.0);
    let mut problems = Vec::new();
    for (path, rendered) in [
        ("docs/src/benchmarks.md", &page),
        ("docs/zh/src/benchmarks.md", &zh),
    ] {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if *rendered != committed {
            problems.push(format!(
                "{path} differs from what bench-render makes of bench-results/"
            ));
        }
    }
    for entry in std::fs::read_dir(tmp.0.join("img")).unwrap() {
        let entry = entry.unwrap();
        let committed = std::fs::read(root.join("docs/src/img").join(entry.file_name()));
        if !committed.is_ok_and(|c| c == std::fs::read(entry.path()).unwrap()) {
            problems.push(format!(
                "docs/src/img/{:?} differs from its rendering",
                entry.file_name()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}: run scripts/bench.sh --render-only (or target/release/bench-render with \
         --zh-page docs/zh/src/benchmarks.md), which writes both pages and the charts",
        problems.join("; ")
    );
}

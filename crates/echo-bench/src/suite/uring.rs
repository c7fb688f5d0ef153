//! Experiment 7: io_uring against readiness. uring-completion, epoll-edge
//! and the two peers at every number of active connections and message
//! size; 16 active connections beside 10,000 idle ones; system calls per
//! round trip at every number of connections.

use super::*;

/// The servers of experiment 7, in the page's order.
pub const URING_SERVERS: [&str; 4] = ["uring-completion", "epoll-edge", "mio-echo", "tokio-echo"];

/// What experiment 7 writes (`uring.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UringExperiment {
    pub experiment: String,
    pub servers: Vec<String>,
    pub rounds: usize,
    /// Active connections beside the idle ones, and how many idle.
    pub active: usize,
    pub idle: usize,
    /// Load runs: every server at every (C, S) with no idle connection,
    /// and at (`active`, 64 B) beside `idle` idle connections.
    pub samples: Vec<LoadSample>,
    /// `perf stat` (tracepoints), `strace -c -f`, or `none`.
    pub method: String,
    /// System calls per round trip, 64 B messages.
    pub syscalls: Vec<SyscallSample>,
}

impl Suite {
    /// Experiment 7: uring-completion against epoll-edge, mio-echo and
    /// tokio-echo, interleaved round by round like the others.
    pub fn uring(&mut self) -> Result<(), String> {
        // uring-completion is not among `all_servers`: the other
        // experiments leave it out.
        let servers: Vec<Server> = URING_SERVERS
            .iter()
            .filter_map(|&n| {
                self.server(n).or_else(|| {
                    (n == "uring-completion" && self.bin_dir.join(n).is_file())
                        .then(|| Server::new(n, n, &[], false, true))
                })
            })
            .collect();
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        for round in 0..plan.rounds {
            for &size in &plan.uring_sizes {
                for &conns in &plan.uring_conns {
                    for server in Self::rotated(&servers, round) {
                        let spec = Spec::new(conns, 0, size, plan.warmup_s, plan.duration_s);
                        let s = self.sample(&server, round, spec);
                        self.describe(&format!("uring C={conns} S={size}"), &s);
                        samples.push(s);
                    }
                }
            }
            // The same active load beside idle connections; its idle-free
            // twin is the (active, 64 B) point above when `uring_conns`
            // has it, else it is run here.
            let mut idle_counts = vec![plan.uring_idle];
            if !(plan.uring_conns.contains(&plan.uring_active) && plan.uring_sizes.contains(&64)) {
                idle_counts.insert(0, 0);
            }
            for idle in idle_counts {
                for server in Self::rotated(&servers, round) {
                    let spec =
                        Spec::new(plan.uring_active, idle, 64, plan.warmup_s, plan.duration_s);
                    let s = self.sample(&server, round, spec);
                    self.describe(&format!("uring C={} K={idle}", plan.uring_active), &s);
                    samples.push(s);
                }
            }
        }
        let method = counting_method();
        let mut syscalls = Vec::new();
        if let Some(method) = &method {
            let tmp = self.out_dir.join("tmp-uring");
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            for round in 0..plan.syscall_rounds {
                for &conns in &plan.uring_syscall_conns {
                    for server in Self::rotated(&servers, round) {
                        let sample = self.syscall_sample(&server, method, &tmp, round, conns, 64);
                        let what = match (&sample.per_round_trip, &sample.error) {
                            (Some(v), _) => format!("{v:.2} system calls per round trip"),
                            (None, Some(e)) => format!("FAILED: {e}"),
                            (None, None) => "no round trips".into(),
                        };
                        self.say(&format!(
                            "uring syscalls C={conns} r{} {}: {what}",
                            round + 1,
                            server.name
                        ));
                        syscalls.push(sample);
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&tmp);
        } else {
            self.say("neither perf nor strace works here: system calls not counted");
        }
        self.write_json(
            "uring.json",
            &UringExperiment {
                experiment: "uring".into(),
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                rounds: plan.rounds,
                active: plan.uring_active,
                idle: plan.uring_idle,
                samples,
                method: method.map_or("none".into(), |m| m.describe()),
                syscalls,
            },
        )
    }
}

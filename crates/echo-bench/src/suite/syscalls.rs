//! Experiment 5: system calls per round trip, counted by perf or strace.

use super::*;

impl Suite {
    /// Experiment 5: system calls per round trip.
    pub fn syscalls(&mut self) -> Result<(), String> {
        let method = counting_method();
        let servers = self.servers.clone();
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        let Some(method) = method else {
            self.say("neither perf nor strace works here: system calls not counted");
            return self.write_json(
                "syscalls.json",
                &SyscallExperiment {
                    experiment: "syscalls".into(),
                    method: "none".into(),
                    size: 64,
                    servers: Vec::new(),
                    samples,
                },
            );
        };
        let tmp = self.out_dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        for round in 0..plan.syscall_rounds {
            for &conns in &plan.syscall_conns {
                for server in Self::rotated(&servers, round) {
                    let sample = self.syscall_sample(&server, &method, &tmp, round, conns, 64);
                    let what = match (&sample.per_round_trip, &sample.error) {
                        (Some(v), _) => format!("{v:.2} system calls per round trip"),
                        (None, Some(e)) => format!("FAILED: {e}"),
                        (None, None) => "no round trips".into(),
                    };
                    self.say(&format!(
                        "syscalls C={conns} r{} {}: {what}",
                        round + 1,
                        server.name
                    ));
                    samples.push(sample);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        self.write_json(
            "syscalls.json",
            &SyscallExperiment {
                experiment: "syscalls".into(),
                method: method.describe(),
                size: 64,
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                samples,
            },
        )
    }

    /// One point: a short and a long counted run of `server` with `conns`
    /// connections and `size`-byte messages, and the difference of their
    /// counts per round trip.
    pub(super) fn syscall_sample(
        &self,
        server: &Server,
        method: &Method,
        tmp: &Path,
        round: usize,
        conns: usize,
        size: usize,
    ) -> SyscallSample {
        let plan = &self.plan;
        let mut runs = Vec::new();
        for duration in [plan.syscall_short_s, plan.syscall_long_s] {
            runs.push(self.counted_run(server, method, tmp, conns, size, duration));
        }
        match (runs.remove(0), runs.remove(0)) {
            (Ok((sr, sc)), Ok((lr, lc))) => {
                let drt = lr.saturating_sub(sr);
                let per = |long: u64, short: u64| {
                    (drt > 0).then(|| (long as f64 - short as f64) / drt as f64)
                };
                let by_name = SYSCALLS
                    .iter()
                    .filter_map(|&name| {
                        let l = lc.by_name.get(name).copied().unwrap_or(0);
                        let s = sc.by_name.get(name).copied().unwrap_or(0);
                        per(l, s).map(|v| (name.to_string(), v))
                    })
                    .collect();
                SyscallSample {
                    server: server.name.clone(),
                    round,
                    conns,
                    short_round_trips: sr,
                    long_round_trips: lr,
                    per_round_trip: per(lc.total, sc.total),
                    short: sc,
                    long: lc,
                    per_round_trip_by_name: by_name,
                    error: None,
                }
            }
            (Err(e), _) | (_, Err(e)) => SyscallSample {
                server: server.name.clone(),
                round,
                conns,
                short_round_trips: 0,
                long_round_trips: 0,
                short: Counts::default(),
                long: Counts::default(),
                per_round_trip: None,
                per_round_trip_by_name: BTreeMap::new(),
                error: Some(e),
            },
        }
    }

    /// One server's whole life under the counter, with one load run: the
    /// round trips of the run and the counts.
    fn counted_run(
        &self,
        server: &Server,
        method: &Method,
        tmp: &Path,
        conns: usize,
        size: usize,
        duration_s: f64,
    ) -> Result<(u64, Counts), String> {
        let file = tmp.join(format!("counts-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let wrapper = method.wrapper(&file);
        let mut process = self.start(server, Some(&wrapper))?;
        // The counter's child is the server.
        let pid = child_of(process.pid()).ok_or("cannot find the server under the counter")?;
        let report = self.load(
            &process,
            Some(pid),
            Spec::new(conns, 0, size, 0.0, duration_s),
        );
        // The server ends by the signal, the counter then writes its file.
        let _ = echo_sys::kill(pid, libc::SIGTERM);
        if process.wait_exit(Duration::from_secs(10)).is_none() {
            return Err("the counter did not exit after the server was stopped".into());
        }
        let report = report?;
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let _ = std::fs::remove_file(&file);
        Ok((report.round_trips_total, method.parse(&text)?))
    }
}

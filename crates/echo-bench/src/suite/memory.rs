//! Experiment 4: memory and threads with K connections held open.

use super::*;

impl Suite {
    /// Experiment 4: memory and threads with K connections held open.
    pub fn memory(&mut self) -> Result<(), String> {
        let names = ["blocking-threaded", "epoll-edge", "mio-echo", "tokio-echo"];
        let servers: Vec<Server> = names.iter().filter_map(|n| self.server(n)).collect();
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        for round in 0..plan.memory_rounds {
            for &idle in &plan.memory_counts {
                for server in Self::rotated(&servers, round) {
                    let s = self.sample(&server, round, Spec::new(0, idle, 0, 0.0, 0.3));
                    let what = s
                        .report
                        .as_ref()
                        .and_then(|r| r.server.as_ref())
                        .map_or_else(
                            || s.error.clone().unwrap_or_default(),
                            |u| {
                                format!(
                                    "{:.1} MiB, {} threads",
                                    u.rss_bytes.unwrap_or(0) as f64 / 1048576.0,
                                    u.threads.unwrap_or(0)
                                )
                            },
                        );
                    self.say(&format!(
                        "memory K={idle} r{} {}: {what}",
                        round + 1,
                        s.server
                    ));
                    samples.push(s);
                }
            }
        }
        self.write_json(
            "memory.json",
            &LoadExperiment {
                experiment: "memory".into(),
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                rounds: plan.memory_rounds,
                samples,
            },
        )
    }
}

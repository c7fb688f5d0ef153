//! Experiment 1: 16 active connections beside K idle ones.

use super::*;

impl Suite {
    /// Experiment 1: 16 active connections, 64 B, and K idle ones.
    pub fn idle_connections(&mut self) -> Result<(), String> {
        let names = [
            "select-queue",
            "poll-queue",
            "epoll-edge",
            "epoll-edge --level",
            "mio-echo",
            "tokio-echo",
        ];
        let servers: Vec<Server> = names.iter().filter_map(|n| self.server(n)).collect();
        let plan = self.plan.clone();
        let conns = if plan.mode == "smoke" { 2 } else { 16 };
        let mut samples = Vec::new();
        for round in 0..plan.rounds {
            for &idle in &plan.idle_counts {
                for server in Self::rotated(&servers, round) {
                    // select holds FD_SETSIZE (1024) descriptors in all,
                    // a few of which are the server's own.
                    if server.select_limited && idle + conns + 8 > echo_sys::FD_SETSIZE {
                        continue;
                    }
                    let spec = Spec::new(conns, idle, 64, plan.warmup_s, plan.duration_s);
                    let s = self.sample(&server, round, spec);
                    self.describe(&format!("idle K={idle}"), &s);
                    samples.push(s);
                }
            }
        }
        self.write_json(
            "idle.json",
            &LoadExperiment {
                experiment: "idle".into(),
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                rounds: plan.rounds,
                samples,
            },
        )
    }
}

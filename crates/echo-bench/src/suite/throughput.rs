//! Experiment 2: every server at every number of connections and message size.

use super::*;

impl Suite {
    /// Experiment 2: every server at every (C, S).
    pub fn throughput(&mut self) -> Result<(), String> {
        let servers = self.servers.clone();
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        for round in 0..plan.rounds {
            for &size in &plan.sizes {
                for &conns in &plan.conns {
                    for server in Self::rotated(&servers, round) {
                        let spec = Spec::new(conns, 0, size, plan.warmup_s, plan.duration_s);
                        let s = self.sample(&server, round, spec);
                        self.describe(&format!("C={conns} S={size}"), &s);
                        samples.push(s);
                    }
                }
            }
        }
        self.write_json(
            "throughput.json",
            &LoadExperiment {
                experiment: "throughput".into(),
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                rounds: plan.rounds,
                samples,
            },
        )
    }
}

//! Experiment 8: the read size. epoll-edge and floor-echo (the least a
//! correct epoll echo server does) started with every `--read-size` of the
//! plan, at every message size, interleaved round by round like the others.

use super::*;

/// The servers of experiment 8, in the page's order: the chapter's server,
/// then the floor it is measured against.
pub const READ_SIZE_SERVERS: [&str; 2] = ["epoll-edge", "floor-echo"];

/// One load run against a server started with `--read-size read_size`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadSizeSample {
    pub read_size: usize,
    #[serde(flatten)]
    pub load: LoadSample,
}

/// What experiment 8 writes (`read-size.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadSizeExperiment {
    pub experiment: String,
    pub servers: Vec<String>,
    pub rounds: usize,
    pub conns: usize,
    pub duration_s: f64,
    pub read_sizes: Vec<usize>,
    pub sizes: Vec<usize>,
    pub samples: Vec<ReadSizeSample>,
}

impl Suite {
    /// Experiment 8: every server at every (message size, read size), each
    /// run on a fresh server, the servers' order rotated from round to round.
    pub fn read_size(&mut self) -> Result<(), String> {
        // floor-echo is a peer the other experiments leave out, so it is not
        // among `all_servers`.
        let servers: Vec<&str> = READ_SIZE_SERVERS
            .iter()
            .copied()
            .filter(|n| self.bin_dir.join(n).is_file())
            .collect();
        if servers.len() < READ_SIZE_SERVERS.len() {
            self.say("read size: epoll-edge or floor-echo not built; no ratio to the floor");
        }
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        for round in 0..plan.read_size_rounds {
            for &size in &plan.read_size_msgs {
                for &read in &plan.read_sizes {
                    let read_arg = read.to_string();
                    let at_read: Vec<Server> = servers
                        .iter()
                        .map(|&n| Server::new(n, n, &["--read-size", &read_arg], false, true))
                        .collect();
                    for server in Self::rotated(&at_read, round) {
                        let spec = Spec::new(
                            plan.read_size_conns,
                            0,
                            size,
                            plan.warmup_s,
                            plan.duration_s,
                        );
                        let s = self.sample(&server, round, spec);
                        self.describe(&format!("read size {read} S={size}"), &s);
                        samples.push(ReadSizeSample {
                            read_size: read,
                            load: s,
                        });
                    }
                }
            }
        }
        self.write_json(
            "read-size.json",
            &ReadSizeExperiment {
                experiment: "read-size".into(),
                servers: servers.iter().map(|s| s.to_string()).collect(),
                rounds: plan.read_size_rounds,
                conns: plan.read_size_conns,
                duration_s: plan.duration_s,
                read_sizes: plan.read_sizes.clone(),
                sizes: plan.read_size_msgs.clone(),
                samples,
            },
        )
    }
}

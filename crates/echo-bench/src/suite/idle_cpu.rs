//! Experiment 3: the CPU time of servers with ten idle clients.

use super::*;

impl Suite {
    /// Experiment 3: ten idle clients, no traffic; the server's CPU time.
    /// All servers idle side by side (idle servers do not compete; the one
    /// that spins has a core of its own on two cores).
    pub fn idle_cpu(&mut self) -> Result<(), String> {
        let servers: Vec<Server> = self.servers.iter().filter(|s| s.chapter).cloned().collect();
        let plan = self.plan.clone();
        let mut samples = Vec::new();
        for round in 0..plan.idle_cpu_rounds {
            let at_s = self.started.elapsed().as_secs_f64();
            let mut running = Vec::new();
            for server in &servers {
                let started = self.start(server, None).and_then(|p| {
                    let child = Command::new(self.bin_dir.join("echo-bench"))
                        .args([
                            "--addr",
                            &p.addr().to_string(),
                            "--conns",
                            "0",
                            "--idle",
                            "10",
                            "--warmup",
                            "0",
                            "--duration",
                            &plan.idle_cpu_s.to_string(),
                            "--server-pid",
                            &p.pid().to_string(),
                            "--json",
                        ])
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .map_err(|e| format!("cannot run echo-bench: {e}"))?;
                    Ok((p, child))
                });
                running.push((server.clone(), started));
            }
            for (server, started) in running {
                let result = started.and_then(|(_p, child)| {
                    let out = child.wait_with_output().map_err(|e| e.to_string())?;
                    if !out.status.success() {
                        let err = String::from_utf8_lossy(&out.stderr);
                        return Err(err.lines().last().unwrap_or("failed").to_string());
                    }
                    serde_json::from_slice::<Report>(&out.stdout).map_err(|e| e.to_string())
                });
                let (report, error) = match result {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e)),
                };
                let s = LoadSample {
                    server: server.name.clone(),
                    round,
                    conns: 0,
                    idle: 10,
                    size: 0,
                    at_s,
                    report,
                    error,
                };
                let cpu = s
                    .report
                    .as_ref()
                    .and_then(|r| r.server.as_ref())
                    .map_or("?".into(), |u| format!("{:.2} s", u.cpu_s));
                let why = s.error.clone().unwrap_or_default();
                self.say(&format!(
                    "idle CPU r{} {}: {cpu} {why}",
                    round + 1,
                    s.server
                ));
                samples.push(s);
            }
        }
        self.write_json(
            "idle-cpu.json",
            &LoadExperiment {
                experiment: "idle-cpu".into(),
                servers: servers.iter().map(|s| s.name.clone()).collect(),
                rounds: plan.idle_cpu_rounds,
                samples,
            },
        )
    }
}

//! Experiment 6: the cost of one wait (select-cost, as its own process).

use super::*;

impl Suite {
    /// Experiment 6: select-cost, as its own process.
    pub fn select_cost(&mut self) -> Result<(), String> {
        let plan = self.plan.clone();
        let sizes = if plan.mode == "smoke" {
            "10,20"
        } else {
            "10,100,1000,10000"
        };
        self.say(&format!("select-cost, {} round(s)", plan.cost_rounds));
        let out = Command::new(self.bin_dir.join("select-cost"))
            .args([
                "--sizes",
                sizes,
                "--budget",
                &plan.cost_budget.to_string(),
                "--rounds",
                &plan.cost_rounds.to_string(),
                "--json",
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run select-cost: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "select-cost failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let report: crate::cost::CostReport =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("select-cost's JSON: {e}"))?;
        self.write_json("select-cost.json", &report)
    }
}

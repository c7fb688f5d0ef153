//! A server under test: started on a free port, its stderr collected line by
//! line, killed and reaped when dropped.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to print its startup line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The workspace's root directory (where `Cargo.toml` with `[workspace]` is).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The path of a workspace binary, built by `cargo build --workspace` (which
/// `cargo test --workspace` does for every package with integration tests).
/// Looks next to the running test executable, so it follows the profile and
/// `CARGO_TARGET_DIR` of the build that runs it.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // A test binary lives in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target/debug"));
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

/// A running server and everything it has printed on stderr so far.
pub struct ServerProcess {
    child: Child,
    /// The port from the startup line.
    pub port: u16,
    lines: Arc<(Mutex<Lines>, Condvar)>,
    stdin: Option<ChildStdin>,
}

/// How to start a server: the program, its arguments, and whether the test
/// wants to write to its stdin.
pub struct ServerCommand {
    program: OsString,
    args: Vec<OsString>,
    stdin: bool,
    pre_command: Option<String>,
}

impl ServerCommand {
    pub fn new(program: impl Into<OsString>) -> Self {
        ServerCommand {
            program: program.into(),
            args: Vec::new(),
            stdin: false,
            pre_command: None,
        }
    }

    /// A command line as one string, split on whitespace (no quoting), as
    /// given to the conformance suite's `--server-cmd`.
    pub fn from_command_line(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace();
        let mut cmd = ServerCommand::new(words.next()?);
        cmd.args.extend(words.map(OsString::from));
        Some(cmd)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Keep a pipe to the server's stdin (by default stdin is `/dev/null`).
    pub fn stdin_piped(mut self) -> Self {
        self.stdin = true;
        self
    }

    /// Run `shell` (for example `ulimit -n 64`) in `/bin/sh` before `exec`ing
    /// the server, to change its limits without touching the test process.
    pub fn with_shell_prefix(mut self, shell: &str) -> Self {
        self.pre_command = Some(shell.to_string());
        self
    }

    /// Starts the server on 127.0.0.1 and a free port, and waits for its
    /// startup line.
    pub fn start(self) -> Result<ServerProcess, String> {
        let mut args = self.args.clone();
        if !args.iter().any(|a| a == "--port") {
            args.extend(["--port".into(), "0".into()]);
        }
        if !args.iter().any(|a| a == "--host") {
            args.extend(["--host".into(), "127.0.0.1".into()]);
        }
        let mut command = match &self.pre_command {
            Some(prefix) => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(format!("{prefix} && exec \"$0\" \"$@\""))
                    .arg(&self.program)
                    .args(&args);
                c
            }
            None => {
                let mut c = Command::new(&self.program);
                c.args(&args);
                c
            }
        };
        command
            .stdin(if self.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.program))?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        let lines = Arc::new((Mutex::new(Lines::default()), Condvar::new()));
        let sink = Arc::clone(&lines);
        if let Some(stderr) = stderr {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stderr);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf);
                            let line = line.trim_end_matches(['\n', '\r']).to_string();
                            let (lock, cvar) = &*sink;
                            if let Ok(mut l) = lock.lock() {
                                l.lines.push(line);
                            }
                            cvar.notify_all();
                        }
                    }
                }
                let (lock, cvar) = &*sink;
                if let Ok(mut l) = lock.lock() {
                    l.closed = true;
                }
                cvar.notify_all();
            });
        }
        let mut server = ServerProcess {
            child,
            port: 0,
            lines,
            stdin,
        };
        let startup = server
            .wait_for_line(|l| l.starts_with("starting up on "), STARTUP_TIMEOUT)
            .ok_or_else(|| {
                format!(
                    "{:?} printed no startup line within {STARTUP_TIMEOUT:?}; it printed: {:?}",
                    self.program,
                    server.lines()
                )
            })?;
        server.port = startup
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("no port in startup line {startup:?}"))?;
        Ok(server)
    }
}

impl ServerProcess {
    /// Starts `program` with `args` (see [`ServerCommand::start`]), panicking
    /// with the reason if it cannot.
    pub fn start(program: impl Into<OsString>, args: &[&str]) -> ServerProcess {
        match ServerCommand::new(program).args(args).start() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        let (lock, _) = &*self.lines;
        lock.lock().map(|l| l.lines.clone()).unwrap_or_default()
    }

    /// Waits (at most `timeout`) for a line that satisfies `pred`, among those
    /// printed so far or later, and returns it.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.lines;
        let mut guard = lock.lock().ok()?;
        loop {
            if let Some(l) = guard.lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if guard.closed || now >= deadline {
                return None;
            }
            guard = cvar.wait_timeout(guard, deadline - now).ok()?.0;
        }
    }

    /// Waits (at most `timeout`) until `count` lines satisfy `pred`.
    pub fn wait_for_count(
        &self,
        pred: impl Fn(&str) -> bool,
        count: usize,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.lines;
        let Ok(mut guard) = lock.lock() else {
            return false;
        };
        loop {
            if guard.lines.iter().filter(|l| pred(l)).count() >= count {
                return true;
            }
            let now = Instant::now();
            if guard.closed || now >= deadline {
                return false;
            }
            match cvar.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => guard = g,
                Err(_) => return false,
            }
        }
    }

    /// Writes to the server's stdin (see [`ServerCommand::stdin_piped`]).
    pub fn write_stdin(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self.stdin.as_mut() {
            Some(s) => s.write_all(data),
            None => Err(std::io::Error::other("stdin is not piped")),
        }
    }

    /// Closes the server's stdin (end-of-file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (at most `timeout`) for the server to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether the server is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends signal `sig` (`libc::SIGSTOP`, `libc::SIGCONT`...) to the server.
    pub fn signal(&self, sig: i32) -> std::io::Result<()> {
        echo_sys::kill(self.pid(), sig)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

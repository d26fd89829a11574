//! The `readnet` binary as a child process.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use crate::WAIT;

/// What the server prints on stdout once its listener is bound.
const LISTENING: &str = "readnet listening on ";
/// Printed before [`LISTENING`] when the server also serves SIP2 (`--sip2-listen`).
const SIP2_LISTENING: &str = "readnet sip2 listening on ";
/// What it prints once its HTTP listener (`--http-listen`) is bound.
const HTTP_LISTENING: &str = "readnet http listening on ";

/// The `readnet` binary of this build, built by `cargo build -p readnet --bin readnet` the first
/// time a test of this process asks for it (cheap when it is up to date), so that `cargo test`
/// and `cargo nextest run` work from a fresh clone.
pub fn readnet_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_binary)
}

fn build_binary() -> PathBuf {
    // The test executable is target/<profile>/deps/<name>-<hash>; the binary target/<profile>/readnet.
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let profile_dir = deps.parent().expect("target/<profile>");
    let target_dir = profile_dir.parent().expect("target");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a profile directory name");
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "readnet", "--bin", "readnet"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "building the readnet binary failed ({command:?}, {}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let binary = profile_dir.join(format!("readnet{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing after the build",
        binary.display()
    );
    binary
}

/// `readnet serve`'s TLS flags: PEM files the test made.
#[derive(Debug, Clone)]
pub struct ServeTls {
    /// `--tls-cert`: the server's certificate (for `localhost` and 127.0.0.1).
    pub cert: PathBuf,
    /// `--tls-key`.
    pub key: PathBuf,
    /// `--client-ca`: with it, mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// A running `readnet serve` on a data directory. Dropping it kills the process.
pub struct TestServer {
    child: Option<Child>,
    addr: SocketAddr,
    /// The SIP2 listener's address, when started with `--sip2-listen`.
    sip2_addr: Option<SocketAddr>,
    data_dir: PathBuf,
    tls: Option<ServeTls>,
    /// More `readnet serve` flags, kept across restarts.
    flags: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Where the HTTP listener is, once the server has said.
    http: Arc<Mutex<Option<String>>>,
}

impl TestServer {
    /// Starts `readnet serve --data <data_dir> --listen 127.0.0.1:0` and waits (at most
    /// [`WAIT`]) for it to say where it listens.
    pub fn start(data_dir: &Path) -> TestServer {
        TestServer::start_at(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts `readnet serve --data <data_dir> --listen <listen>`: the same port again after a
    /// kill, for clients that reconnect to the address they know.
    pub fn start_at(data_dir: &Path, listen: SocketAddr) -> TestServer {
        TestServer::launch(data_dir, listen, None, Vec::new())
    }

    /// Starts `readnet serve` with more flags (bounds set low for a test, say).
    pub fn start_with_args(data_dir: &Path, flags: &[&str]) -> TestServer {
        let flags = flags.iter().map(|f| f.to_string()).collect();
        TestServer::launch(data_dir, SocketAddr::from(([127, 0, 0, 1], 0)), None, flags)
    }

    /// [`TestServer::start_tls`] with more `readnet serve` flags.
    pub fn start_tls_with_args(data_dir: &Path, tls: ServeTls, flags: &[&str]) -> TestServer {
        let flags = flags.iter().map(|f| f.to_string()).collect();
        TestServer::launch(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(tls),
            flags,
        )
    }

    /// Starts `readnet serve` allowed at most `files` open file descriptors (`prlimit`).
    pub fn start_with_fd_limit(data_dir: &Path, files: u32) -> TestServer {
        let prefix = vec![format!("--nofile={files}:{files}")];
        TestServer::launch_with(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
            Vec::new(),
            Some(prefix),
        )
    }

    /// Starts `readnet serve` over TLS (`--tls-cert`, `--tls-key`, and `--client-ca` if given)
    /// on 127.0.0.1 and a free port; [`TestServer::url`] is then `https://localhost:<port>`.
    pub fn start_tls(data_dir: &Path, tls: ServeTls) -> TestServer {
        TestServer::launch(
            data_dir,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(tls),
            Vec::new(),
        )
    }

    fn launch(
        data_dir: &Path,
        listen: SocketAddr,
        tls: Option<ServeTls>,
        flags: Vec<String>,
    ) -> TestServer {
        TestServer::launch_with(data_dir, listen, tls, flags, None)
    }

    /// `launch`, under `prlimit` with `prlimit_args` if given.
    fn launch_with(
        data_dir: &Path,
        listen: SocketAddr,
        tls: Option<ServeTls>,
        flags: Vec<String>,
        prlimit_args: Option<Vec<String>>,
    ) -> TestServer {
        let binary = readnet_binary();
        let mut command = match &prlimit_args {
            None => Command::new(binary),
            Some(prlimit_args) => {
                let mut command = Command::new("prlimit");
                command.args(prlimit_args).arg(binary);
                command
            }
        };
        command
            .arg("serve")
            .arg("--data")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen.to_string());
        if let Some(tls) = &tls {
            command
                .arg("--tls-cert")
                .arg(&tls.cert)
                .arg("--tls-key")
                .arg(&tls.key);
            if let Some(client_ca) = &tls.client_ca {
                command.arg("--client-ca").arg(client_ca);
            }
        }
        command.args(&flags);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));

        // Drain stderr into a buffer (a full pipe would stall the server) to show on failure.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = child_stderr.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&chunk[..n]);
            }
        });

        // Read stdout until the listening line, then keep draining it.
        let stdout = child.stdout.take().expect("piped stdout");
        let (found, address) = mpsc::channel();
        let (sip2_found, sip2_address) = mpsc::channel();
        let http = Arc::new(Mutex::new(None));
        let http_found = Arc::clone(&http);
        thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(SIP2_LISTENING) {
                    let _ = sip2_found.send(rest.trim().to_owned());
                }
                if let Some(rest) = line.strip_prefix(HTTP_LISTENING) {
                    *http_found.lock().expect("http address") = Some(rest.trim().to_owned());
                }
                if let Some(rest) = line.strip_prefix(LISTENING)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(rest.trim().to_owned());
                }
            }
        });

        let mut server = TestServer {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sip2_addr: None,
            data_dir: data_dir.to_owned(),
            tls,
            flags,
            stderr,
            http,
        };
        match address.recv_timeout(WAIT) {
            Ok(text) => server.addr = text.parse().unwrap_or_else(|e| {
                panic!(
                    "cannot parse the address in {LISTENING:?}{text:?}: {e}\nserver stderr:\n{}",
                    server.stderr_text()
                )
            }),
            Err(error) => {
                // Kill it if it still runs; either way `wait` says how it ended, and once it
                // is gone its stderr reaches end of file, so all of it has been read.
                let mut child = server.child.take().expect("the child");
                let _ = child.kill();
                let status = child.wait();
                let _ = stderr_reader.join();
                let what = match error {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not print {LISTENING:?} within {WAIT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        format!("closed its stdout before printing {LISTENING:?}")
                    }
                };
                panic!(
                    "readnet serve --data {} {what} (exit: {status:?})\nserver stderr:\n{}",
                    data_dir.display(),
                    server.stderr_text()
                );
            }
        }
        // Printed before the gRPC line: there by now if the server serves SIP2.
        server.sip2_addr = sip2_address
            .try_recv()
            .ok()
            .and_then(|text| text.parse().ok());
        server
    }

    /// The SIP2 listener's address; panics unless the server was started with `--sip2-listen`.
    pub fn sip2_addr(&self) -> SocketAddr {
        self.sip2_addr
            .expect("the server was started with --sip2-listen and printed its address")
    }

    /// The token of the network-admin `admin` the server created on its new data directory
    /// (`<data>/admin.token`), once the server has written it.
    pub fn admin_token(&self) -> String {
        let file = self.data_dir.join("admin.token");
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Ok(token) = std::fs::read_to_string(&file)
                && !token.trim().is_empty()
            {
                return token.trim().to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not appear within {WAIT:?}\nserver stderr:\n{}",
                file.display(),
                self.stderr_text()
            );
            thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Where its HTTP listener is (started with `--http-listen`), once it has said.
    pub fn http_addr(&self) -> SocketAddr {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(text) = self.http.lock().expect("http address").clone() {
                return text.parse().expect("an address");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "readnet serve did not print {HTTP_LISTENING:?} within {WAIT:?}\nserver stderr:\n{}",
                self.stderr_text()
            );
            thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, for clients; over TLS `https://localhost:<port>`, the name the
    /// server's certificate carries.
    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// The server's resident memory (`VmRSS` in `/proc/<pid>/status`), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line");
        kib * 1024
    }

    /// What the server wrote on stderr so far (its logs).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    /// The server's stderr once it holds `needle`, or as it is after `patience`: a line logged
    /// when a session ends can reach the buffer after the client has seen the session close.
    pub fn stderr_text_with(&self, needle: &str, patience: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + patience;
        loop {
            let text = self.stderr_text();
            if text.contains(needle) || std::time::Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush; what the server acknowledged must survive it.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server hard and starts a new one on the same data directory.
    pub fn crash_and_restart(&mut self) {
        let flags = self.flags.clone();
        self.restart_with(&flags);
    }

    /// Kills the server hard and starts a new one on the same data directory with more
    /// `readnet serve` flags (`flags` replace those of the last start).
    pub fn restart_with(&mut self, flags: &[impl AsRef<str>]) {
        self.kill_hard();
        *self = TestServer::launch(
            &self.data_dir.clone(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            self.tls.clone(),
            flags.iter().map(|f| f.as_ref().to_owned()).collect(),
        );
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

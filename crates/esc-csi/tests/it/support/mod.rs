//! What the binary's tests share: running it, and a daemon that is stopped when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

use esc_csi_provider::grpc::proto::v1alpha1::MountRequest;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_esc-csi");

/// How the docs run the binary from a clone; the tests run `BIN` in its place.
pub(crate) const CARGO_RUN: &str = "cargo run -q -p esc-csi -- ";

/// The repository's root, where the docs' commands run.
pub(crate) fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// A Mount of `acme/app/prod`'s `app.hello` as the file `hello`, for pod `team/web-0`, with
/// `token` in the volume's nodePublishSecretRef.
pub(crate) fn mount_request(token: &str) -> MountRequest {
    let attributes = serde_json::json!({
        "organization": "acme",
        "project": "app",
        "environment": "prod",
        "secrets": "- fileName: hello\n  secretKey: app.hello\n",
        "csi.storage.k8s.io/pod.name": "web-0",
        "csi.storage.k8s.io/pod.namespace": "team",
        "csi.storage.k8s.io/pod.uid": "u-1",
    });
    MountRequest {
        attributes: attributes.to_string(),
        secrets: serde_json::json!({"pulumi-access-token": token}).to_string(),
        target_path: "/t".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

pub(crate) fn esc_csi(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A running `esc-csi serve`, stopped with SIGTERM when dropped.
pub(crate) struct Daemon {
    pub(crate) child: Child,
}

impl Daemon {
    pub(crate) fn start(socket: &Path, envs: &[(&str, &str)], args: &[&str]) -> Daemon {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .args(args)
            .env_remove("KUBECONFIG")
            .env("ESC_CSI_ENDPOINT", socket)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let started = Instant::now();
        // Ready when it accepts a connection (a stale socket file exists but refuses).
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the daemon never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child }
    }

    pub(crate) fn terminate(mut self) -> Output {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Sends `signal` (e.g. "-TERM") without waiting.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
    }

    /// Waits for the daemon to exit, at most `limit`.
    pub(crate) fn wait(mut self, limit: Duration) -> Output {
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < limit,
                "the daemon did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

/// A loopback port free right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over plain HTTP/1.0: the status code and the body.
pub(crate) fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.split(' ').nth(1).unwrap().parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A child process whose stderr is collected; killed when dropped.
pub(crate) struct Process {
    child: Child,
    stderr: BufReader<ChildStderr>,
    logs: String,
}

impl Process {
    pub(crate) fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Process {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Process {
            child,
            stderr,
            logs: String::new(),
        }
    }

    /// Reads log lines until one contains `marker`; returns it.
    pub(crate) fn wait_for(&mut self, marker: &str) -> String {
        loop {
            let mut line = String::new();
            assert!(
                self.stderr.read_line(&mut line).unwrap() > 0,
                "exited before {marker:?}: {}",
                self.logs
            );
            self.logs.push_str(&line);
            if line.contains(marker) {
                return line;
            }
        }
    }

    /// SIGTERM; then whether it exited 0, and every log line.
    pub(crate) fn stop(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let success = self.child.wait().unwrap().success();
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        self.logs.push_str(&rest);
        (success, std::mem::take(&mut self.logs))
    }

    /// SIGTERM, which must end it cleanly; then every log line.
    pub(crate) fn terminate(self) -> String {
        let (success, logs) = self.stop();
        assert!(success, "{logs}");
        logs
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

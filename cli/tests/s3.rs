//! The `s3://` store against a real S3-compatible server on loopback: moto's `moto_server`
//! (PyPI `moto[server]`, which `.ci/run` installs). A round trip through a multipart upload
//! (a file larger than one 8 MiB part), `list` and `verify`, a changed object caught with exit
//! status 5 and nothing restored, and no object replaced. Without `moto_server` on the PATH the
//! test says so and passes, except under CI (`CI=true`), where it fails.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_e2ee-backup");
const BUCKET: &str = "backups";

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Option<Server> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto_server is needed under CI (pip install 'moto[server]'): {err}"
            );
            eprintln!("skipped: no moto_server on the PATH ({err}); pip install 'moto[server]'");
            return None;
        }
    };
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // moto takes unsigned requests: make the bucket.
    let (status, _) = raw(port, "PUT", &format!("/{BUCKET}"), b"");
    assert_eq!(status, 200, "create bucket");
    Some(server)
}

/// One plain HTTP/1.1 request to the server; its status and body.
fn raw(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "chunked responses are not handled here"
    );
    (status, response[split + 4..].to_vec())
}

fn run(server: &Server, dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--key-file")
        .arg(dir.join("key"))
        .args(args)
        .env("HOME", dir.join("home"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("E2EE_BACKUP_REPO")
        .env_remove("E2EE_BACKUP_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .expect("run e2ee-backup")
}

#[track_caller]
fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Incompressible bytes (a small xorshift), so the data object outgrows one part.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn a_folder_round_trips_through_an_s3_store_and_a_changed_object_is_caught() {
    let Some(server) = start_server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let src = dir.join("src");
    fs::create_dir_all(src.join("empty")).expect("mkdir");
    fs::write(src.join("small.txt"), "hello\n").expect("write");
    fs::write(src.join("empty.bin"), b"").expect("write");
    let big = noise(20 * 1024 * 1024 + 12_345);
    fs::write(src.join("big.bin"), &big).expect("write");
    let repo = format!("s3://{BUCKET}/alice/repo");

    assert_code(&run(&server, dir, &["init", "--repo", &repo]), 0);
    let out = run(
        &server,
        dir,
        &[
            "backup",
            src.to_str().expect("utf-8"),
            "--repo",
            &repo,
            "--compression",
            "none",
        ],
    );
    assert_code(&out, 0);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let listed = run(&server, dir, &["list", "--repo", &repo]);
    assert_code(&listed, 0);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    assert_code(&run(&server, dir, &["verify", &id, "--repo", &repo]), 0);

    let to = dir.join("restored");
    let restore = |to: &Path| {
        run(
            &server,
            dir,
            &[
                "restore",
                &id,
                "--repo",
                &repo,
                "--to",
                to.to_str().expect("utf-8"),
            ],
        )
    };
    assert_code(&restore(&to), 0);
    assert_eq!(fs::read(to.join("big.bin")).expect("big"), big);
    assert_eq!(fs::read(to.join("small.txt")).expect("small"), b"hello\n");
    assert_eq!(fs::read(to.join("empty.bin")).expect("empty"), b"");
    assert!(to.join("empty").is_dir());

    // The store changes one byte of the data object: verify and restore fail with 5, and
    // nothing is restored.
    let key = format!("/{BUCKET}/alice/repo/snapshots/{id}.data");
    let (status, mut body) = raw(server.port, "GET", &key, b"");
    assert_eq!(status, 200);
    assert!(body.len() > big.len(), "the whole object came back");
    let middle = body.len() / 2;
    body[middle] ^= 1;
    assert_eq!(raw(server.port, "PUT", &key, &body).0, 200);
    assert_code(&run(&server, dir, &["verify", &id, "--repo", &repo]), 5);
    let tampered = dir.join("tampered");
    assert_code(&restore(&tampered), 5);
    assert!(!tampered.exists(), "a tampered snapshot left files behind");

    // Another key is refused by the repository key check (exit 4), over S3 too.
    let other = dir.join("other");
    fs::create_dir_all(&other).expect("mkdir");
    let out = run(&server, &other, &["init", "--repo", &repo]);
    assert_code(&out, 4);
}

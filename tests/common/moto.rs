//! A moto server for Rust tests, started from the project's venv and stopped on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name)
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let bin = venv_bin("moto_server");
        assert!(
            bin.exists(),
            "{} missing: run `make venv` (make test does it)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    /// An IAM client against this moto with its default test credentials.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "test");
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .load()
            .await;
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&sdk)
                .endpoint_url(&self.endpoint)
                .build(),
        )
    }
}

/// Whether `name` exists in IAM.
pub async fn user_exists(iam: &aws_sdk_iam::Client, name: &str) -> bool {
    iam.get_user().user_name(name).send().await.is_ok()
}

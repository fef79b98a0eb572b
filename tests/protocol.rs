//! Protocol test: this file plays the server. It launches the built plugin with
//! the environment a server sets, completes the handshake and mutual TLS,
//! serves Storage/SystemView from memory through the broker, and calls every
//! `pb.Backend` method, asserting each answer.

mod common;

use std::time::Duration;

use serde_json::json;

use common::host::{call, data_of, launch, request, setup_mount, spawn_plugin, with_mount};
use vault_plugin_secrets_aws::proto::grpc::health::v1::health_client::HealthClient;
use vault_plugin_secrets_aws::proto::grpc::health::v1::HealthCheckRequest;
use vault_plugin_secrets_aws::proto::logical::plugin_version_client::PluginVersionClient;
use vault_plugin_secrets_aws::proto::pb;
use vault_plugin_secrets_aws::proto::plugin::grpc_controller_client::GrpcControllerClient;
use vault_plugin_secrets_aws::proto::pluginutil::multiplexing::plugin_multiplexing_client::PluginMultiplexingClient;
use vault_plugin_secrets_aws::proto::pluginutil::multiplexing::MultiplexingSupportRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backend_conversation() {
    let mut l = launch().await;

    // Side services.
    let mux = PluginMultiplexingClient::new(l.channel.clone())
        .multiplexing_support(MultiplexingSupportRequest {})
        .await
        .expect("multiplexing")
        .into_inner();
    assert!(mux.supported);
    let health = HealthClient::new(l.channel.clone())
        .check(HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");
    let version = PluginVersionClient::new(l.channel.clone())
        .version(vault_plugin_secrets_aws::proto::logical::Empty {})
        .await
        .expect("version")
        .into_inner();
    assert_eq!(
        version.plugin_version,
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );

    // Two mounts in one process, each with its own storage.
    let s1 = setup_mount(&l, "mountAAAAA", 1).await;
    let s2 = setup_mount(&l, "mountBBBBB", 2).await;

    let mut b = l.backend();
    let t = b
        .r#type(with_mount("mountAAAAA", pb::Empty {}))
        .await
        .expect("type")
        .into_inner();
    assert_eq!(t.r#type, 1);
    let sp = b
        .special_paths(with_mount("mountAAAAA", pb::Empty {}))
        .await
        .expect("special")
        .into_inner();
    let paths = sp.paths.expect("paths");
    assert_eq!(paths.local_storage, vec!["wal/"]);
    assert!(paths.seal_wrap_storage.contains(&"config/root".to_string()));

    // resolve-path is answered as unsupported, never a gRPC error.
    let r = call(&l, "mountAAAAA", "resolve-path", "config/lease", json!({})).await;
    assert_eq!(r.err.as_ref().map(|e| e.err_type), Some(5));

    // write then read config/lease on mount A; mount B stays empty.
    let r = call(
        &l,
        "mountAAAAA",
        "update",
        "config/lease",
        json!({"lease": "1h", "lease_max": "2d"}),
    )
    .await;
    assert!(
        r.err.is_none() && r.response.is_none(),
        "204 expected: {r:?}"
    );
    assert_eq!(
        s1.get_json("config/lease"),
        Some(json!({"Lease": 3_600_000_000_000i64, "LeaseMax": 172_800_000_000_000i64}))
    );
    assert!(s2.keys().is_empty());
    let r = call(&l, "mountAAAAA", "read", "config/lease", json!(null)).await;
    assert_eq!(
        data_of(&r),
        json!({"lease": "1h0m0s", "lease_max": "48h0m0s"})
    );
    let r = call(&l, "mountBBBBB", "read", "config/lease", json!(null)).await;
    assert!(
        r.response.is_none() && r.err.is_none(),
        "missing config reads as nothing (404)"
    );

    // Bad input: 400 naming the field and the rule, nothing stored.
    let r = call(
        &l,
        "mountBBBBB",
        "update",
        "config/lease",
        json!({"lease": "soon", "lease_max": "1h"}),
    )
    .await;
    let err = data_of(&r)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.starts_with("Invalid lease: "), "{err}");
    let r = call(
        &l,
        "mountBBBBB",
        "update",
        "config/lease",
        json!({"lease_max": "1h"}),
    )
    .await;
    assert_eq!(data_of(&r)["error"], "'lease' is a required parameter");
    assert!(s2.keys().is_empty(), "nothing stored after bad input");

    // Unknown fields are answered with a warning only when there is a response.
    let r = call(
        &l,
        "mountAAAAA",
        "read",
        "config/lease",
        json!({"bogus": 1}),
    )
    .await;
    let warnings = r
        .response
        .as_ref()
        .map(|x| x.warnings.clone())
        .unwrap_or_default();
    assert_eq!(
        warnings,
        vec!["Endpoint ignored these unrecognized parameters: [bogus]"]
    );

    // Unknown path → 404; unsupported operation → 405.
    let r = call(&l, "mountAAAAA", "read", "no/such/path", json!({})).await;
    assert_eq!(r.err.as_ref().map(|e| e.err_type), Some(6));
    let r = call(&l, "mountAAAAA", "delete", "config/lease", json!({})).await;
    assert_eq!(r.err.as_ref().map(|e| e.err_type), Some(5));

    // Help on a path and on the root (OpenAPI).
    let r = call(&l, "mountAAAAA", "help", "config/lease", json!({})).await;
    let d = data_of(&r);
    let help = d["help"].as_str().unwrap_or_default();
    assert!(help.contains("lease_max (string)"), "{help}");
    assert!(d["openapi"]["paths"]["/config/lease"].is_object());
    let r = call(
        &l,
        "mountAAAAA",
        "help",
        "",
        json!({"requestResponsePrefix": "aws"}),
    )
    .await;
    assert_eq!(data_of(&r)["openapi"]["openapi"], "3.0.2");

    // Existence check: config/lease declares none.
    let ex = b
        .handle_existence_check(with_mount(
            "mountAAAAA",
            pb::HandleExistenceCheckArgs {
                storage_id: 0,
                request: request("create", "config/lease", json!({})).request,
            },
        ))
        .await
        .expect("existence")
        .into_inner();
    assert!(!ex.check_found && ex.err.is_none());
    let ex = b
        .handle_existence_check(with_mount(
            "mountAAAAA",
            pb::HandleExistenceCheckArgs {
                storage_id: 0,
                request: request("create", "nope", json!({})).request,
            },
        ))
        .await
        .expect("existence")
        .into_inner();
    assert_eq!(ex.err.map(|e| e.err_type), Some(6));

    // Invalidate, Cleanup; a cleaned-up mount no longer answers, the other does.
    b.invalidate_key(with_mount(
        "mountAAAAA",
        pb::InvalidateKeyArgs {
            key: "config/root".into(),
        },
    ))
    .await
    .expect("invalidate");
    b.cleanup(with_mount("mountAAAAA", pb::Empty {}))
        .await
        .expect("cleanup");
    let r = call(&l, "mountAAAAA", "read", "config/lease", json!({})).await;
    assert!(r.err.is_some());
    let r = call(
        &l,
        "mountBBBBB",
        "update",
        "config/lease",
        json!({"lease": 60, "lease_max": "90"}),
    )
    .await;
    assert!(r.err.is_none() && r.response.is_none());

    // Shutdown while mount B is still live: the process exits 0.
    GrpcControllerClient::new(l.channel.clone())
        .shutdown(vault_plugin_secrets_aws::proto::plugin::Empty {})
        .await
        .expect("shutdown");
    let status = l
        .wait_exit(Duration::from_secs(5))
        .expect("plugin exits after Shutdown");
    assert!(status.success(), "{status:?}");

    // The plugin logged hclog JSON lines.
    let lines = l.stderr_lines.lock().expect("lock").clone();
    assert!(
        lines
            .iter()
            .any(|x| x.contains("\"@level\"") && x.contains("\"@timestamp\"")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_refuses_strangers_and_plaintext() {
    let l = launch().await;
    // A TLS client presenting some other certificate.
    let (stranger, _) = common::host::host_identity();
    let cfg = vault_plugin_secrets_aws::plugin::tls::client_config(
        &stranger,
        l.plugin_cert_der.clone().into(),
    )
    .expect("cfg");
    let res = async {
        let ch = common::host::connect_tls(&l.socket, cfg).await?;
        PluginVersionClient::new(ch)
            .version(vault_plugin_secrets_aws::proto::logical::Empty {})
            .await
            .map_err(|e| e.to_string())
            .map(|_| ())
            .map_err(|e| e.into())
    };
    let res: Result<(), Box<dyn std::error::Error>> =
        res.await.map_err(|e: Box<dyn std::error::Error>| e);
    assert!(
        res.is_err(),
        "a client with the wrong certificate must be refused"
    );

    // A TLS client with no client certificate at all.
    let no_cert = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .dangerous()
    .with_custom_certificate_verifier(vault_plugin_secrets_aws::plugin::tls::PinnedCert::new(
        l.plugin_cert_der.clone().into(),
    ))
    .with_no_client_auth();
    let mut no_cert = no_cert;
    no_cert.alpn_protocols = vec![b"h2".to_vec()];
    let ok = match common::host::connect_tls(&l.socket, std::sync::Arc::new(no_cert)).await {
        Err(_) => false,
        Ok(ch) => PluginVersionClient::new(ch)
            .version(vault_plugin_secrets_aws::proto::logical::Empty {})
            .await
            .is_ok(),
    };
    assert!(!ok, "a client without a certificate must be refused");

    // Plaintext HTTP/2 on the TLS socket.
    let socket = l.socket.clone();
    let plain = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await;
    let ok = match plain {
        Err(_) => false,
        Ok(ch) => tokio::time::timeout(
            Duration::from_secs(5),
            PluginVersionClient::new(ch)
                .version(vault_plugin_secrets_aws::proto::logical::Empty {}),
        )
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false),
    };
    assert!(!ok, "plaintext must be refused");

    // The legitimate host still works afterwards.
    let v = PluginVersionClient::new(l.channel.clone())
        .version(vault_plugin_secrets_aws::proto::logical::Empty {})
        .await;
    assert!(v.is_ok());
}

#[test]
fn refuses_to_run_without_the_magic_cookie() {
    let out = std::process::Command::new(common::host::plugin_binary())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plugin") && err.contains("plugin register"),
        "{err}"
    );
    // The database-plugin probe is refused the same way.
    let out = std::process::Command::new(common::host::plugin_binary())
        .env(
            "VAULT_DATABASE_PLUGIN",
            "926a0820-aea2-be28-51d6-83cdf00e8edb",
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn version_flag_and_protocol_negotiation() {
    let out = std::process::Command::new(common::host::plugin_binary())
        .arg("-version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = std::process::Command::new(common::host::plugin_binary())
        .env(
            "VAULT_BACKEND_PLUGIN",
            "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "3,4")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("protocol version 5"));
}

#[test]
fn handshake_line_is_printed_exactly_once() {
    let (_, pem) = common::host::host_identity();
    let (mut child, line) = spawn_plugin(&[], &pem);
    assert!(line.starts_with("1|5|unix|"), "{line}");
    // Nothing else follows on stdout before we kill it.
    let _ = child.kill();
    let _ = child.wait();
    let mut rest = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut rest);
    }
    assert!(rest.is_empty(), "unexpected extra stdout: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_when_the_broker_stream_closes() {
    let mut l = launch().await;
    // A mount is set up through the broker stream, so the stream is live...
    let _storage = setup_mount(&l, "mountCCCCC", 1).await;
    // ...then it drops: the server has gone away.
    l.close_broker();
    let status = l.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "plugin must exit when the server is gone");
}

/// Roles are cached in the plugin (a storage round trip less per `creds/` and `roles/` read);
/// a change made elsewhere (another node, `sys/raw`) must show once the server sends
/// InvalidateKey for it, and the plugin's own writes and deletes must show at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_cache_follows_writes_deletes_and_invalidations() {
    let l = launch().await;
    let storage = setup_mount(&l, "mountCACHE", 7).await;
    let mount = "mountCACHE";
    let arns = |r: &pb::HandleRequestReply| data_of(r)["policy_arns"].clone();
    let write = call(
        &l,
        mount,
        "update",
        "roles/r",
        json!({"credential_type": "iam_user", "policy_arns": "arn:aws:iam::aws:policy/A"}),
    )
    .await;
    assert!(write.err.is_none(), "{write:?}");
    let first = call(&l, mount, "read", "roles/r", json!({})).await;
    assert_eq!(arns(&first), json!(["arn:aws:iam::aws:policy/A"]));

    // Changed behind the plugin's back: still the cached entry until invalidated.
    let mut stored = storage.get_json("role/r").expect("role stored");
    stored["policy_arns"] = json!(["arn:aws:iam::aws:policy/B"]);
    storage.put_json("role/r", &stored);
    let cached = call(&l, mount, "read", "roles/r", json!({})).await;
    assert_eq!(arns(&cached), json!(["arn:aws:iam::aws:policy/A"]));
    l.backend()
        .invalidate_key(with_mount(
            mount,
            pb::InvalidateKeyArgs {
                key: "role/r".into(),
            },
        ))
        .await
        .expect("invalidate");
    let fresh = call(&l, mount, "read", "roles/r", json!({})).await;
    assert_eq!(arns(&fresh), json!(["arn:aws:iam::aws:policy/B"]));

    // The plugin's own partial update and delete show at once.
    let update = call(
        &l,
        mount,
        "update",
        "roles/r",
        json!({"policy_arns": "arn:aws:iam::aws:policy/C"}),
    )
    .await;
    assert!(update.err.is_none(), "{update:?}");
    let updated = call(&l, mount, "read", "roles/r", json!({})).await;
    assert_eq!(arns(&updated), json!(["arn:aws:iam::aws:policy/C"]));
    let delete = call(&l, mount, "delete", "roles/r", json!({})).await;
    assert!(delete.err.is_none(), "{delete:?}");
    let gone = call(&l, mount, "read", "roles/r", json!({})).await;
    assert!(
        gone.response.is_none() || data_of(&gone).is_null(),
        "{gone:?}"
    );
}

#[tokio::test]
async fn role_list_cache_follows_writes_deletes_and_invalidations() {
    let l = launch().await;
    let storage = setup_mount(&l, "mountLIST", 8).await;
    let mount = "mountLIST";
    let keys = |r: &pb::HandleRequestReply| data_of(r)["keys"].clone();
    let role = json!({"credential_type": "iam_user", "policy_arns": "arn:aws:iam::aws:policy/A"});
    for name in ["roles/a", "roles/b"] {
        let w = call(&l, mount, "update", name, role.clone()).await;
        assert!(w.err.is_none(), "{w:?}");
    }
    let listed = call(&l, mount, "list", "roles", json!({})).await;
    assert_eq!(keys(&listed), json!(["a", "b"]));

    // A role stored behind the plugin's back (another node) shows once the server says so.
    storage.put_json("role/c", &role);
    let cached = call(&l, mount, "list", "roles", json!({})).await;
    assert_eq!(keys(&cached), json!(["a", "b"]));
    l.backend()
        .invalidate_key(with_mount(
            mount,
            pb::InvalidateKeyArgs {
                key: "role/c".into(),
            },
        ))
        .await
        .expect("invalidate");
    let fresh = call(&l, mount, "list", "roles", json!({})).await;
    assert_eq!(keys(&fresh), json!(["a", "b", "c"]));

    // The plugin's own writes and deletes show at once.
    let d = call(&l, mount, "delete", "roles/a", json!({})).await;
    assert!(d.err.is_none(), "{d:?}");
    let w = call(&l, mount, "update", "roles/z", role.clone()).await;
    assert!(w.err.is_none(), "{w:?}");
    let after = call(&l, mount, "list", "roles", json!({})).await;
    assert_eq!(keys(&after), json!(["b", "c", "z"]));
}

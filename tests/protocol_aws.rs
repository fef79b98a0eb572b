//! Protocol test of the engine's AWS paths: this file plays the server (as in
//! `protocol.rs`) with moto as AWS, to drive what the real server cannot on
//! demand — an immediate rollback, and storage written by the Go plugin.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use common::host::{call, data_of, launch, request, setup_mount, with_mount};
use common::moto::{user_exists, Moto};
use vault_plugin_secrets_aws::proto::pb;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn make_user(iam: &aws_sdk_iam::Client, name: &str) {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    iam.create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("key");
    iam.put_user_policy()
        .user_name(name)
        .policy_name("p")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .expect("policy");
}

fn revoke_request(internal: serde_json::Value, issued_secs_ago: i64) -> pb::HandleRequestArgs {
    let mut args = request("revoke", "creds/legacy", json!({"access_key": "AKIA"}));
    if let Some(r) = args.request.as_mut() {
        r.secret = Some(pb::Secret {
            lease_options: Some(pb::LeaseOptions {
                ttl: 3_600_000_000_000,
                renewable: true,
                increment: 0,
                issue_time: Some(prost_types::Timestamp {
                    seconds: now() - issued_secs_ago,
                    nanos: 0,
                }),
                max_ttl: 0,
            }),
            internal_data: internal.to_string(),
            lease_id: "aws/creds/legacy/abc".into(),
        });
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_and_go_plugin_storage() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let l = launch().await;
    let storage = setup_mount(&l, "mountAWS001", 1).await;
    let id = "mountAWS001";

    // config/root in the Go plugin's shape (no Vault-only keys).
    storage.put_json(
        "config/root",
        &json!({"access_key": "testing", "secret_key": "testing", "iam_endpoint": moto.endpoint, "sts_endpoint": moto.endpoint,
                "region": "us-east-1", "max_retries": -1, "username_template": ""}),
    );
    let r = call(&l, id, "read", "config/root", json!({})).await;
    let d = data_of(&r);
    assert_eq!(d["region"], "us-east-1");
    assert!(d.get("secret_key").is_none());

    // config/lease with capitalised keys and nanoseconds.
    storage.put_json(
        "config/lease",
        &json!({"Lease": 1_800_000_000_000i64, "LeaseMax": 43_200_000_000_000i64}),
    );
    let r = call(&l, id, "read", "config/lease", json!({})).await;
    assert_eq!(
        data_of(&r),
        json!({"lease": "30m0s", "lease_max": "12h0m0s"})
    );

    // A Go-written role: nanosecond TTLs, no Vault-only keys.
    storage.put_json(
        "role/go",
        &json!({"credential_types": ["assumed_role"], "policy_arns": null, "role_arns": ["arn:aws:iam::123456789012:role/x"],
                "policy_document": "", "iam_groups": null, "iam_tags": null, "version": 0,
                "default_sts_ttl": 900_000_000_000i64, "max_sts_ttl": 3_600_000_000_000i64, "user_path": "", "permissions_boundary_arn": ""}),
    );
    let r = call(&l, id, "read", "roles/go", json!({})).await;
    let d = data_of(&r);
    assert_eq!(d["credential_type"], "assumed_role");
    assert_eq!(d["default_sts_ttl"], 900);
    assert_eq!(d["max_sts_ttl"], 3600);

    // A very old `policy/` entry is migrated on read and the old key removed.
    storage.0.lock().expect("lock").insert(
        "policy/old".into(),
        b"arn:aws:iam::aws:policy/ReadOnlyAccess".to_vec(),
    );
    let r = call(&l, id, "read", "roles/old", json!({})).await;
    let d = data_of(&r);
    assert_eq!(d["credential_type"], "iam_user");
    assert_eq!(
        d["policy_arns"],
        json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    );
    assert!(storage.get_json("role/old").is_some());
    assert!(!storage.keys().contains(&"policy/old".to_string()));

    // An outstanding Go-plugin lease (role object embedded in `policy`) is revoked.
    make_user(&iam, "vault-token-go-1600000000-abcdefghij").await;
    let internal = json!({"secret_type": "access_keys", "username": "vault-token-go-1600000000-abcdefghij",
                          "policy": {"credential_types": ["iam_user"], "policy_arns": null}, "is_sts": false});
    let r = l
        .backend()
        .handle_request(with_mount(id, revoke_request(internal, 3600)))
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.err.is_none() && r.response.is_none(), "{r:?}");
    assert!(!user_exists(&iam, "vault-token-go-1600000000-abcdefghij").await);

    // A pre-is_sts lease (very old) is treated as an IAM user.
    make_user(&iam, "vault-ancient").await;
    let internal = json!({"secret_type": "access_keys", "username": "vault-ancient", "policy": "arn:aws:iam::aws:policy/x"});
    let r = l
        .backend()
        .handle_request(with_mount(id, revoke_request(internal, 3600)))
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.err.is_none(), "{r:?}");
    assert!(!user_exists(&iam, "vault-ancient").await);

    // Revoking a lease whose user is already gone: fine when old, an error (retry later) when young.
    let gone =
        json!({"secret_type": "access_keys", "username": "vault-never-existed", "is_sts": false});
    let r = l
        .backend()
        .handle_request(with_mount(id, revoke_request(gone.clone(), 3600)))
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.err.is_none(), "{r:?}");
    let r = l
        .backend()
        .handle_request(with_mount(id, revoke_request(gone, 10)))
        .await
        .expect("rpc")
        .into_inner();
    assert!(
        r.err.is_some(),
        "young lease with missing user must be retried"
    );

    // STS leases: revoke succeeds and touches nothing.
    let sts = json!({"secret_type": "access_keys", "username": "vault-sts", "policy": "arn", "is_sts": true});
    let r = l
        .backend()
        .handle_request(with_mount(id, revoke_request(sts, 10)))
        .await
        .expect("rpc")
        .into_inner();
    assert!(r.err.is_none() && r.response.is_none());

    // A half-created user under a WAL entry: left alone while young, removed by an immediate rollback.
    make_user(&iam, "vault-half-created").await;
    storage.put_json(
        "wal/0000-half",
        &json!({"type": "user", "data": {"UserName": "vault-half-created"}, "created_at": now()}),
    );
    let r = call(&l, id, "rollback", "", serde_json::Value::Null).await;
    assert!(r.err.is_none(), "{r:?}");
    assert!(
        user_exists(&iam, "vault-half-created").await,
        "a young WAL entry is not rolled back"
    );
    let r = call(&l, id, "rollback", "", json!({"immediate": true})).await;
    assert!(r.err.is_none() && r.response.is_none(), "{r:?}");
    assert!(!user_exists(&iam, "vault-half-created").await);
    assert!(
        storage.get_json("wal/0000-half").is_none(),
        "WAL entry deleted after rollback"
    );

    // An old WAL entry for a user that never got created is simply dropped.
    storage.put_json(
        "wal/0001-none",
        &json!({"type": "user", "data": {"UserName": "vault-nobody"}, "created_at": now() - 3600}),
    );
    let r = call(&l, id, "rollback", "", serde_json::Value::Null).await;
    assert!(r.err.is_none(), "{r:?}");
    assert!(storage.get_json("wal/0001-none").is_none());
}

"""With no keys in config/root, the engine uses the AWS SDK's default chain.

A second OpenBao is started with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in its
environment (the plugin inherits the server's environment); moto enforces
auth, so credentials only issue if the plugin really signs with that key.
"""

from __future__ import annotations

import json
import uuid

import devstack


ADMIN = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def test_no_keys_in_config_root_uses_the_environment_chain(moto, plugin_binary):
    iam = moto.client("iam")
    name = f"engine-env-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_REGION": "us-east-1"}
    with devstack.Bao(extra_env=env) as bao:
        bao.start()
        devstack.install_plugin(bao, plugin_binary)
        devstack.enable(bao, "aws")
        # Endpoints only: no access_key/secret_key stored.
        bao.cli("write", "aws/config/root", f"iam_endpoint={moto.endpoint}", f"sts_endpoint={moto.endpoint}",
                check=True)
        status, body = bao.api("GET", "aws/config/root")
        assert status == 200 and body["data"]["access_key"] == "", body
        bao.cli("write", "aws/roles/env", "credential_type=iam_user",
                "policy_document=" + json.dumps({"Version": "2012-10-17", "Statement": [ADMIN]}), check=True)
        moto.set_auth(0)
        try:
            status, body = bao.api("GET", "aws/creds/env")
            assert status == 200, body
            issued = body["data"]["access_key"]
            owner = moto.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]) \
                .get_access_key_last_used(AccessKeyId=issued)["UserName"]
            assert owner.startswith("vault-"), owner
            status, _ = bao.api("PUT", "sys/leases/revoke", {"lease_id": body["lease_id"], "sync": True})
            assert status == 204
        finally:
            moto.set_auth(float("inf"))
    iam.delete_user_policy(UserName=name, PolicyName="admin")
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)

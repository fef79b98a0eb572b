//! Launch checks and the go-plugin handshake line.
//!
//! A Vault-family server starts the plugin with a magic cookie and a few
//! `PLUGIN_*` variables; everything the transport needs to know about how it
//! was launched is read here, once, so the rest of the code never looks at the
//! environment.

use std::path::PathBuf;

use base64::Engine;

/// Environment key of the backend-plugin magic cookie (same in Vault and OpenBao).
pub const MAGIC_COOKIE_KEY: &str = "VAULT_BACKEND_PLUGIN";
/// Value the server sets for backend (secrets/auth) plugins.
pub const MAGIC_COOKIE_VALUE: &str = "6669da05-b1c8-4f49-97d9-c8e5bed98e20";
/// go-plugin's core protocol version, the first field of the handshake line.
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The only application protocol we speak: Vault's v5 backend protocol (multiplexed gRPC).
pub const APP_PROTOCOL_VERSION: u32 = 5;

/// Sentence printed when someone runs the binary by hand.
pub const NOT_A_PLUGIN_MESSAGE: &str = "\
This binary is the AWS secrets engine plugin for HashiCorp Vault and OpenBao; \
it is not meant to be run directly. Copy it into the server's plugin directory and register it, e.g.:
  vault plugin register -sha256=$(sha256sum vault-plugin-secrets-aws | cut -d' ' -f1) -command=vault-plugin-secrets-aws secret aws
  vault secrets enable -path=aws aws
(with OpenBao use `bao` instead of `vault`). Run it with -version to print its version.";

/// What the server told us at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// PEM of the server's AutoMTLS certificate; `None` means plaintext.
    pub client_cert_pem: Option<String>,
    /// Legacy metadata mode: answer only Setup/SpecialPaths/Type/Version/Cleanup.
    pub metadata_mode: bool,
    /// Directory for our unix socket.
    pub socket_dir: PathBuf,
}

/// Why we refuse to serve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LaunchError {
    /// No (or a different) magic cookie: run by hand, or probed as another plugin kind.
    #[error("{NOT_A_PLUGIN_MESSAGE}")]
    NotAPlugin,
    /// The server does not accept protocol 5.
    #[error("this plugin only speaks plugin protocol version 5, but the server offered [{0}]; upgrade the server (Vault >= 1.12 or OpenBao)")]
    UnsupportedProtocol(String),
}

/// Reads a variable by its OpenBao name first, then by Vault's name (`BAO_x`, then `VAULT_x`).
pub fn bao_or_vault_var(get: &dyn Fn(&str) -> Option<String>, suffix: &str) -> Option<String> {
    get(&format!("BAO_{suffix}")).or_else(|| get(&format!("VAULT_{suffix}")))
}

/// Parses the launch environment through `get` (injectable for tests).
pub fn read_env(get: &dyn Fn(&str) -> Option<String>) -> Result<LaunchEnv, LaunchError> {
    if get(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(LaunchError::NotAPlugin);
    }
    let offered = get("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_default();
    let speaks_v5 = offered
        .split(',')
        .filter_map(|v| v.trim().parse::<u32>().ok())
        .any(|v| v == APP_PROTOCOL_VERSION);
    if !speaks_v5 {
        return Err(LaunchError::UnsupportedProtocol(offered));
    }
    let metadata_mode = bao_or_vault_var(get, "PLUGIN_METADATA_MODE")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "t"))
        .unwrap_or(false);
    let client_cert_pem = get("PLUGIN_CLIENT_CERT").filter(|p| !p.trim().is_empty());
    let socket_dir = get("PLUGIN_UNIX_SOCKET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    Ok(LaunchEnv {
        client_cert_pem,
        metadata_mode,
        socket_dir,
    })
}

/// The one stdout line go-plugin reads: `1|5|unix|<path>|grpc|<raw-std base64 DER>`.
pub fn handshake_line(network: &str, address: &str, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn refuses_without_cookie_or_with_database_cookie() {
        assert_eq!(read_env(&env(&[])), Err(LaunchError::NotAPlugin));
        let db = env(&[
            (
                "VAULT_DATABASE_PLUGIN",
                "926a0820-aea2-be28-51d6-83cdf00e8edb",
            ),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
        ]);
        assert_eq!(read_env(&db), Err(LaunchError::NotAPlugin));
    }

    #[test]
    fn requires_protocol_5() {
        let e = env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "4,3"),
        ]);
        assert_eq!(
            read_env(&e),
            Err(LaunchError::UnsupportedProtocol("4,3".into()))
        );
        let e = env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "x, 5"),
        ]);
        assert!(read_env(&e).is_ok());
    }

    #[test]
    fn bao_names_win_over_vault_names() {
        let e = env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5"),
            ("BAO_PLUGIN_METADATA_MODE", "false"),
            ("VAULT_PLUGIN_METADATA_MODE", "true"),
            ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----"),
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/x"),
        ]);
        let l = read_env(&e).expect("valid env");
        assert!(!l.metadata_mode);
        assert!(l.client_cert_pem.is_some());
        assert_eq!(l.socket_dir, PathBuf::from("/run/x"));
        let e = env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5"),
            ("VAULT_PLUGIN_METADATA_MODE", "true"),
        ]);
        assert!(read_env(&e).expect("valid env").metadata_mode);
    }

    #[test]
    fn handshake_line_uses_unpadded_standard_base64() {
        let line = handshake_line("unix", "/tmp/plugin1", Some(&[0xfb, 0xff]));
        assert_eq!(line, "1|5|unix|/tmp/plugin1|grpc|+/8");
        assert_eq!(handshake_line("unix", "/p", None), "1|5|unix|/p|grpc|");
    }
}

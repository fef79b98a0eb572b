//! AutoMTLS: our per-launch certificate and verifiers pinned to the server's one.
//!
//! The server's certificate is a self-signed P-521 CA certificate. rustls' stock
//! webpki verifiers refuse a CA used as an end entity, so both directions pin the
//! exact DER bytes from `PLUGIN_CLIENT_CERT` and check handshake signatures with
//! the aws-lc-rs provider (which verifies P-521).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// TLS set-up failures; all are fatal at launch.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot generate the plugin certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("PLUGIN_CLIENT_CERT holds no PEM certificate: {0}")]
    BadClientCert(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Our certificate and key for one launch.
pub struct Identity {
    /// DER of our self-signed certificate (also sent in the handshake line).
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

impl Identity {
    /// A fresh P-256 certificate for `localhost`, valid from 30 s ago, usable for
    /// both server and client auth (the same cert is our client cert on broker dials).
    pub fn generate() -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        dn.push(DnType::OrganizationName, "HashiCorp");
        params.distinguished_name = dn;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::seconds(30);
        params.not_after = now + time::Duration::days(3650);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// An identity from an existing certificate and PKCS#8 key (the protocol test
    /// host uses this to play the server with a P-521 certificate like go-plugin's).
    pub fn from_parts(cert_der: Vec<u8>, pkcs8_key: Vec<u8>) -> Self {
        Self {
            cert_der: CertificateDer::from(cert_der),
            key_der: PrivatePkcs8KeyDer::from(pkcs8_key),
        }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }
}

/// Decodes the server's PEM certificate (`PLUGIN_CLIENT_CERT`).
pub fn parse_pem_cert(pem: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| TlsError::BadClientCert(e.to_string()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts exactly one certificate, byte for byte, and verifies signatures made with it.
#[derive(Debug)]
pub struct PinnedCert {
    pinned: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl PinnedCert {
    /// Pins `cert`.
    pub fn new(cert: CertificateDer<'static>) -> Arc<Self> {
        Arc::new(Self {
            pinned: cert,
            provider: provider(),
        })
    }

    fn check(&self, presented: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if presented.as_ref() == self.pinned.as_ref() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))
        }
    }

    fn tls12(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn tls13(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientCertVerifier for PinnedCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|_| ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// Listener config: our cert, client cert required and pinned, ALPN h2 (grpc-go insists).
pub fn server_config(
    id: &Identity,
    peer: CertificateDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(PinnedCert::new(peer))
        .with_single_cert(vec![id.cert_der.clone()], id.key())?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// Broker dial-back config: the server must present the pinned cert; we present ours.
pub fn client_config(
    id: &Identity,
    peer: CertificateDer<'static>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(PinnedCert::new(peer))
        .with_client_auth_cert(vec![id.cert_der.clone()], id.key())?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(cfg))
}

/// Both rustls configs for one launch, or none when the server asked for plaintext.
#[derive(Clone)]
pub struct MtlsConfig {
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cert_is_der_for_localhost() {
        let id = Identity::generate().expect("cert");
        assert!(id.cert_der.len() > 200);
        assert!(server_config(&id, id.cert_der.clone()).is_ok());
        assert!(client_config(&id, id.cert_der.clone()).is_ok());
    }

    #[test]
    fn pinned_verifier_accepts_only_the_pinned_bytes() {
        let a = Identity::generate().expect("cert");
        let b = Identity::generate().expect("cert");
        let v = PinnedCert::new(a.cert_der.clone());
        assert!(v.check(&a.cert_der).is_ok());
        assert!(v.check(&b.cert_der).is_err());
        assert!(ClientCertVerifier::supported_verify_schemes(&*v)
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }

    #[test]
    fn bad_pem_is_refused() {
        assert!(parse_pem_cert("not a cert").is_err());
    }
}

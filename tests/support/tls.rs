//! The one test PKI: a throwaway CA ([`TestCa`]) that issues loopback server certificates,
//! the rustls server and client configurations built from PEM, and PEM decoding. Every TLS
//! service of the tests (the registry harness and its token service, the plain registry,
//! the local Harbor, the git smart-HTTP server) gets its certificate here, so what a
//! "test CA" is (key usages, SANs, the authority key identifier Go's verifier wants) is
//! written once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A throwaway CA that signs loopback server certificates.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A fresh CA (new key, self-signed).
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "harborize test CA");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "harborize tests");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("self-sign CA"),
        }
    }

    /// The CA certificate (PEM), what a client is told to trust.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, PKCS#8 key PEM) for `127.0.0.1`, `127.0.0.2`, `::1` and `localhost`.
    pub fn server_cert(&self) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("server key");
        let mut params = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "127.0.0.2".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "127.0.0.1");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign server cert");
        (cert.pem(), key.serialize_pem())
    }

    /// A rustls server configuration with a fresh certificate of this CA.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let (cert, key) = self.server_cert();
        server_tls_config(&cert, &key)
    }

    /// Write `ca.pem`, `cert.pem` and `key.pem` (a fresh server certificate) into `dir`,
    /// for a server that reads files (distribution's `http.tls`); returns the CA's path.
    pub fn write_files(&self, dir: &Path) -> PathBuf {
        let (cert, key) = self.server_cert();
        std::fs::write(dir.join("ca.pem"), self.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        dir.join("ca.pem")
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A rustls server configuration for this certificate and PKCS#8 key (PEM).
pub fn server_tls_config(cert_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certs: Vec<CertificateDer<'static>> = pem_blocks(cert_pem, "CERTIFICATE")
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        pem_blocks(key_pem, "PRIVATE KEY")
            .pop()
            .expect("PKCS#8 key"),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server TLS config");
    Arc::new(cfg)
}

/// rustls client config trusting exactly the given PEM CA certificate.
pub fn client_tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for der in pem_blocks(ca_pem, "CERTIFICATE") {
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .expect("add CA cert");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("rustls protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// Decode every PEM block with the given label.
pub fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let j = after.find(&end).expect("PEM end marker");
        let b64: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        out.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("PEM base64"),
        );
        rest = &after[j + end.len()..];
    }
    out
}

//! TLS for SSL and SASL_SSL listeners: a rustls server config from a PEM certificate chain and
//! a PEM private key (PKCS#8, PKCS#1 or SEC1).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a listener's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The certificate file is unreadable, is not PEM, or has no CERTIFICATE block.
    #[error("reading certificates from {path}: {reason}")]
    Certificates {
        /// The certificate chain file, as configured.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no PKCS#8, PKCS#1 or SEC1 private key.
    #[error("reading the private key from {path}: {reason}")]
    Key {
        /// The private key file, as configured.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server config on the aws-lc-rs provider, TLS 1.2 and 1.3, no client certificates, from
/// a PEM chain (leaf first) and a PEM private key. Errors: [`TlsConfigError`].
pub fn server_config(
    cert_pem: &Path,
    key_pem: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    let cert_err = |reason: String| TlsConfigError::Certificates {
        path: cert_pem.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem).map_err(|e| TlsConfigError::Key {
        path: key_pem.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(cfg))
}

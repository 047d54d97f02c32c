//! TLS for the client↔relay link (rustls with the ring provider).
//!
//! The reference fleet uses a self-signed certificate made at provisioning (`rcgen`); clients
//! pin it by trusting exactly that certificate as their only root. A deployment would use its
//! chat server's usual certificate instead.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(pub String);

fn e(x: impl std::fmt::Display) -> TlsError {
    TlsError(x.to_string())
}

/// A self-signed certificate for `names` (DNS names or IP addresses): (certificate PEM,
/// private key PEM).
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec()).map_err(e)?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The relay's TLS server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(e)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(e)?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(e)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(e)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts only the certificate(s) in `pinned_pem`.
pub fn client_config(pinned_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pinned_pem) {
        roots.add(cert.map_err(e)?).map_err(e)?;
    }
    if roots.is_empty() {
        return Err(TlsError("no certificate in the pinned file".into()));
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(e)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

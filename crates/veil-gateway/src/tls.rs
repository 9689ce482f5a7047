//! TLS with rustls: `[server.tls]` -> an acceptor, built once at startup.
//!
//! The crypto provider is *ring*, passed explicitly rather than taken from the process
//! default: ring is already in the build (reqwest's rustls uses it), it builds without cmake
//! or a C++ toolchain, and an explicit provider cannot fail at run time when another crate
//! enables a second provider. HTTP/1.1 only (ALPN `http/1.1`), like the plain listener.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::TlsConfig;

/// A TLS acceptor; cloning is cheap.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor { .. }")
    }
}

impl TlsAcceptor {
    /// The rustls acceptor.
    pub fn inner(&self) -> &tokio_rustls::TlsAcceptor {
        &self.0
    }
}

/// Describes a PEM error without quoting the file (it may be a private key).
fn pem_reason(err: &pem::Error) -> String {
    match err {
        pem::Error::Io(io) => io.to_string(),
        pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        _ => "malformed PEM".into(),
    }
}

/// Reads the certificate chain and key and builds the acceptor; the error says which file
/// failed and why, never its content.
pub fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, String> {
    let cert_path = config.cert.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
        .map_err(|err| format!("certificate `{cert_path}`: {}", pem_reason(&err)))?
        .collect::<Result<_, _>>()
        .map_err(|err| format!("certificate `{cert_path}`: {}", pem_reason(&err)))?;
    if certs.is_empty() {
        return Err(format!("certificate `{cert_path}`: no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|err| {
        format!(
            "private key `{}`: {}",
            config.key.display(),
            pem_reason(&err)
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("tls setup: {err}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("certificate and key are unusable together: {err}"))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor(tokio_rustls::TlsAcceptor::from(Arc::new(
        server,
    ))))
}

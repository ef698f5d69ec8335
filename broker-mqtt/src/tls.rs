//! The rustls client configuration of `mqtts://`: the system's roots plus the certificate
//! authorities given to the builder, and an optional client certificate, on ring's provider
//! (the one the workspace's other transports use).

use crate::options::TlsFiles;
use broker_core::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Builds the configuration; an unreadable or invalid file is a `BrokerOptionsError`.
pub(crate) fn client_config(files: &TlsFiles) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot use is skipped, as every rustls client does.
        let _ = roots.add(cert);
    }
    for path in &files.root_certificates {
        for cert in certificates(path)? {
            roots
                .add(cert)
                .map_err(|err| bad_file(path, &err.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::broker_options(format!("TLS setup failed: {err}")))?
        .with_root_certificates(roots);
    match &files.client_certificate {
        Some((cert, key)) => {
            let chain = certificates(cert)?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|err| bad_file(key, &err.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| Error::broker_options(format!("TLS client certificate: {err}")))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Every certificate of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| bad_file(path, &err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad_file(path, &err.to_string()))?;
    if certs.is_empty() {
        return Err(bad_file(path, "no certificate in it"));
    }
    Ok(certs)
}

fn bad_file(path: &Path, why: &str) -> Error {
    Error::broker_options(format!("TLS file {}: {why}", path.display()))
}

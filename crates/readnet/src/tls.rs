//! TLS from PEM files: the listener's (`serve --tls-cert --tls-key [--client-ca]`) and the
//! client subcommands' for `https://` servers (`--tls-ca`, `--tls-cert --tls-key`).
//!
//! Errors name the flag and the file, so an operator knows which of three PEM files is wrong.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Makes ring the process's rustls crypto provider, unless one is installed already. The
/// KurrentDB client compiles aws-lc-rs into the same rustls, and with two providers compiled in,
/// rustls will not pick one by itself: a server configuration would have none.
pub fn install_crypto_provider() {
    // An error means a provider is installed already (the KurrentDB client installs its own
    // when it connects first); either one serves.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The listener's TLS: its certificate chain and key, and for mutual TLS the CA that signs the
/// clients' certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The server's certificate chain (PEM), leaf first: `--tls-cert`.
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, SEC1 or PKCS#1): `--tls-key`.
    pub key: PathBuf,
    /// With it, every client must present a certificate this CA signed: `--client-ca`.
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    /// Reads the files and checks that they make a usable TLS configuration.
    pub fn config(&self) -> anyhow::Result<ServerTlsConfig> {
        install_crypto_provider();
        let cert = read_certificates(&self.cert, "--tls-cert")?;
        let key = read_key(&self.key, "--tls-key")?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(client_ca) = &self.client_ca {
            let ca = read_certificates(client_ca, "--client-ca")?;
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        // tonic builds the rustls configuration here: a key that does not belong to the
        // certificate is found now, before the listener is bound, with the files named.
        tonic::transport::Server::builder()
            .tls_config(config.clone())
            .with_context(|| {
                format!(
                    "--tls-cert {} and --tls-key {}: not a usable certificate and key",
                    self.cert.display(),
                    self.key.display()
                )
            })?;
        Ok(config)
    }
}

impl ServerTlsFiles {
    /// The same certificate, key and client CA as a rustls configuration, for the listeners
    /// that are not tonic's (SIP2).
    pub fn rustls_config(&self) -> anyhow::Result<std::sync::Arc<rustls::ServerConfig>> {
        install_crypto_provider();
        let chain = CertificateDer::pem_slice_iter(&read_certificates(&self.cert, "--tls-cert")?)
            .collect::<Result<Vec<_>, _>>()
            .context("--tls-cert")?;
        let key = PrivateKeyDer::from_pem_slice(&read_key(&self.key, "--tls-key")?)
            .context("--tls-key")?;
        let builder = rustls::ServerConfig::builder();
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(client_ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in
                    CertificateDer::pem_slice_iter(&read_certificates(client_ca, "--client-ca")?)
                {
                    roots
                        .add(ca.context("--client-ca")?)
                        .with_context(|| format!("--client-ca {}", client_ca.display()))?;
                }
                let verifier =
                    rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(roots))
                        .build()
                        .with_context(|| format!("--client-ca {}", client_ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).with_context(|| {
            format!(
                "--tls-cert {} and --tls-key {}: not a usable certificate and key",
                self.cert.display(),
                self.key.display()
            )
        })?;
        Ok(std::sync::Arc::new(config))
    }
}

/// How a client reaches an `https://` server: whom it trusts and which certificate it shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ClientTls {
    /// Trust the server's certificate if this CA (PEM) signed it, instead of the system's
    /// roots: for deployments with their own CA (https:// servers only).
    #[arg(long = "tls-ca", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Present this client certificate (PEM) to a server that requires one (mutual TLS).
    #[arg(long = "tls-cert", value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long = "tls-key", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl ClientTls {
    /// The TLS to connect to `url` with: `None` for `http://`, where giving any of the TLS
    /// files is a mistake worth saying.
    pub fn config(&self, url: &str) -> anyhow::Result<Option<ClientTlsConfig>> {
        let https = url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        if !https {
            let given = [
                ("--tls-ca", &self.ca),
                ("--tls-cert", &self.cert),
                ("--tls-key", &self.key),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, file)| file.is_some()) {
                anyhow::bail!(
                    "{flag} is for https:// servers; {url} is plaintext (use https://HOST:PORT)"
                );
            }
            return Ok(None);
        }
        install_crypto_provider();
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(ca) => {
                config.ca_certificate(Certificate::from_pem(read_certificates(ca, "--tls-ca")?))
            }
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            config = config.identity(Identity::from_pem(
                read_certificates(cert, "--tls-cert")?,
                read_key(key, "--tls-key")?,
            ));
        }
        Ok(Some(config))
    }
}

/// A PEM file holding at least one certificate, as read for `flag`.
fn read_certificates(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let pem = read(path, flag)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{flag} {}: not a PEM file", path.display()))?;
    anyhow::ensure!(
        !certificates.is_empty(),
        "{flag} {}: no certificate (-----BEGIN CERTIFICATE-----) in it",
        path.display()
    );
    Ok(pem)
}

/// A PEM file holding a private key, as read for `flag`.
fn read_key(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let pem = read(path, flag)?;
    PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
        format!(
            "{flag} {}: no private key (PKCS#8, SEC1 or PKCS#1 PEM) in it",
            path.display()
        )
    })?;
    Ok(pem)
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}: cannot read it", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_for_a_plaintext_server_are_refused_naming_the_flag() {
        let tls = ClientTls {
            ca: Some(PathBuf::from("ca.pem")),
            ..ClientTls::default()
        };
        let error = tls.config("http://127.0.0.1:50051").unwrap_err();
        assert!(error.to_string().contains("--tls-ca"), "{error}");
        assert!(ClientTls::default().config("http://x:1").unwrap().is_none());
    }

    #[test]
    fn a_missing_pem_file_is_named_with_its_flag() {
        let files = ServerTlsFiles {
            cert: PathBuf::from("/nonexistent/server.pem"),
            key: PathBuf::from("/nonexistent/server.key"),
            client_ca: None,
        };
        let error = format!("{:#}", files.config().unwrap_err());
        assert!(
            error.contains("--tls-cert /nonexistent/server.pem"),
            "{error}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("server.pem");
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let files = ServerTlsFiles {
            cert: cert.clone(),
            key: dir.path().join("server.key"),
            client_ca: None,
        };
        let error = format!("{:#}", files.config().unwrap_err());
        assert!(
            error.contains("--tls-cert") && error.contains("no certificate"),
            "{error}"
        );
    }
}

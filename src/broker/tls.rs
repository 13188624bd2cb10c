//! TLS for broker connections: which certificates to trust and present.

use std::path::PathBuf;

/// PEM files for TLS: a CA to trust besides the system's, and a client certificate with
/// its PKCS#8 key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// Accept any certificate for any host name: encrypted, but not authenticated.
    pub insecure: bool,
}

impl TlsFiles {
    /// What to tell the user about certificate checks turned off, if they are.
    pub fn insecure_warning(&self) -> Option<&'static str> {
        self.insecure.then_some(
            "--insecure: the broker's TLS certificate and host name are not verified; \
             the connection is encrypted but anyone in the middle can read it",
        )
    }

    pub(super) fn connector(&self) -> Result<native_tls::TlsConnector, String> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
        };
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(ca) = &self.ca_file {
            let pem = read(ca, "CA file")?;
            let certificate = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                format!("the CA file {} holds no PEM certificate: {e}", ca.display())
            })?;
            builder.add_root_certificate(certificate);
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let identity = native_tls::Identity::from_pkcs8(
                    &read(cert, "certificate file")?,
                    &read(key, "key file")?,
                )
                .map_err(|e| {
                    format!(
                        "cannot use the client certificate {} with key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
                builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(
                    "a client certificate needs both a certificate file and a key file".to_owned(),
                )
            }
        }
        if self.insecure {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        builder
            .build()
            .map_err(|e| format!("cannot set up TLS: {e}"))
    }
}

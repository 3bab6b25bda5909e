//! How the services reach the K3s API from Lambda: an API URL, a ServiceAccount bearer token and
//! the cluster CA (all read from SSM), turned into a `kube::Config` by hand — there is no
//! kubeconfig file and no in-cluster environment.

use std::{fmt, time::Duration};

use rustls_pki_types::{CertificateDer, pem::PemObject};

/// Where the K3s API is and how to authenticate to it.
#[derive(Clone)]
pub struct KubeCredentials {
    /// `https://<master private ip>:6443`.
    pub api_url: String,
    /// The autoscaler ServiceAccount's token. Never logged.
    pub token: String,
    /// The cluster CA certificate(s), PEM.
    pub ca_pem: String,
    /// Timeout of the TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Timeout of one response, counted from when the request was written.
    pub read_timeout: Duration,
}

impl KubeCredentials {
    /// Credentials with the default timeouts (connect 5 s, response 15 s): an invocation makes a
    /// handful of calls and must stay far below the scaler's 60 s.
    pub fn new(api_url: impl Into<String>, token: impl Into<String>, ca_pem: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
            token: token.into(),
            ca_pem: ca_pem.into(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
        }
    }

    /// The kube configuration: our CA only, bearer token, timeouts, and kube's own retry layer
    /// off — an eviction's 429 must reach the caller at once, and retries belong to the queue.
    pub fn config(&self) -> Result<kube::Config, ConnectError> {
        let url = self.api_url.parse::<http::Uri>().map_err(|source| ConnectError::Url { source })?;
        if url.scheme_str() != Some("https") {
            return Err(ConnectError::NotHttps);
        }
        let roots = CertificateDer::pem_slice_iter(self.ca_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ConnectError::Ca { source })?;
        if roots.is_empty() {
            return Err(ConnectError::NoCertificate);
        }
        if self.token.trim().is_empty() {
            return Err(ConnectError::NoToken);
        }
        let mut config = kube::Config::new(url);
        config.root_cert = Some(roots);
        config.auth_info.token = Some(self.token.trim().to_owned().into());
        config.connect_timeout = Some(self.connect_timeout);
        config.read_timeout = Some(self.read_timeout);
        config.write_timeout = Some(self.read_timeout);
        config.reset_reader_on_write = true;
        config.default_retry = false;
        Ok(config)
    }
}

impl fmt::Debug for KubeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCredentials")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// Why a client for the K3s API could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The API URL does not parse.
    #[error("reading the K3s API URL")]
    Url {
        /// Why.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// The API URL is not `https://`: the token would travel in clear.
    #[error("the K3s API URL must be https://")]
    NotHttps,
    /// The CA PEM does not parse.
    #[error("reading the cluster CA certificate (PEM)")]
    Ca {
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The CA PEM holds no certificate.
    #[error("the cluster CA parameter holds no PEM certificate")]
    NoCertificate,
    /// The token is empty.
    #[error("the K3s ServiceAccount token is empty")]
    NoToken,
    /// kube could not build the client (TLS setup).
    #[error("building the K3s API client")]
    Client {
        /// Why.
        #[source]
        source: kube::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway self-signed CA (openssl req -x509, P-256), made for these tests only.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT2gAwIBAgIUYKV5mkqg5hxWJdqEwuF/5BAuyL0wCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWazNzLWF1dG9zY2FsZXItdGVzdC1jYTAeFw0yNjEyMDMxMTA1
MjhaFw0zNjExMzAxMTA1MjhaMCExHzAdBgNVBAMMFmszcy1hdXRvc2NhbGVyLXRl
c3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATC6VOi2Ma3q3BRo8+SRi4c
Ufkc88D7LF/IaAMmONGsSVZiSP8G7TxmcUMh+zF6COHCtbAOkox1lMTLmoC23kQV
o1MwUTAdBgNVHQ4EFgQUT9j+/iSryVbFTclSCgR9+QKPADMwHwYDVR0jBBgwFoAU
T9j+/iSryVbFTclSCgR9+QKPADMwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNJADBGAiEAwRWDUAwhNdy8ppdY3v+XK2S9B3/wPOVXkFws0yp+DpYCIQC8neCP
GOoc8ulumzT8+AZorRAb8GNmq9Odg6Isy4yYfA==
-----END CERTIFICATE-----
";

    #[test]
    fn credentials_become_a_config_with_our_ca_token_and_no_kube_retries() {
        let creds = KubeCredentials::new("https://10.0.1.10:6443", "secret-token\n", CA);
        let config = creds.config().expect("valid");
        assert_eq!(config.cluster_url.to_string(), "https://10.0.1.10:6443/");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
        assert!(!config.default_retry);
        assert_eq!(config.read_timeout, Some(Duration::from_secs(15)));
        assert!(config.auth_info.token.is_some());
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let creds = KubeCredentials::new("https://10.0.1.10:6443", "secret-token", CA);
        assert!(!format!("{creds:?}").contains("secret-token"));
    }

    #[test]
    fn bad_inputs_are_refused_naming_what_is_wrong() {
        let err = |url: &str, token: &str, ca: &str| KubeCredentials::new(url, token, ca).config().unwrap_err();
        assert!(matches!(err("http://10.0.1.10:6443", "t", CA), ConnectError::NotHttps));
        assert!(matches!(err("https://10.0.1.10:6443", "t", "not a pem"), ConnectError::NoCertificate));
        assert!(matches!(err("https://10.0.1.10:6443", " ", CA), ConnectError::NoToken));
        assert!(matches!(err("::", "t", CA), ConnectError::Url { .. }));
    }
}

//! TLS for API requests: the platform's root certificates, loaded when a TLS handshake first
//! needs them rather than when the client is built, so `ConfigureProvider` does not read and
//! parse the system's certificate store on Terraform's critical path.
//!
//! Verification is exactly reqwest's default (rustls-platform-verifier over the system roots,
//! with the same crypto provider, protocol versions and ALPN); only the moment the roots are
//! loaded moves. For an `https` base URL the load starts at once on a background thread, so it
//! overlaps Terraform's own work before the first request; a plain `http` URL (a local
//! emulator) never needs it.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

/// A [`Verifier`] built on first use (or by [`LazyPlatformVerifier::warm`]).
#[derive(Debug)]
pub(crate) struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        LazyPlatformVerifier {
            provider,
            inner: OnceLock::new(),
        }
    }

    /// The platform verifier, loading the system roots if no one has yet.
    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Loads the system roots now, on a background thread; a handshake that needs them
    /// first waits for that load instead of starting its own.
    fn warm(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("tls-roots".to_owned())
            .spawn(move || {
                let _ = me.get();
            });
        if let Err(e) = spawned {
            // Not fatal: the first handshake loads the roots itself.
            tracing::debug!("could not start loading the TLS roots in the background: {e}");
        }
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// The provider's signature schemes, as the platform verifier reports them; asked for
    /// before the server's certificate arrives, and needs no roots.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS configuration reqwest builds by default, with [`LazyPlatformVerifier`] in place of
/// an eagerly built platform verifier. `warm` starts loading the roots at once.
pub(crate) fn client_config(warm: bool) -> Result<rustls::ClientConfig, rustls::Error> {
    // As reqwest: a process-wide default provider if one was installed, else aws-lc-rs.
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = Arc::new(LazyPlatformVerifier::new(Arc::clone(&provider)));
    if warm {
        verifier.warm();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // reqwest without its http2 feature offers HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_not_loaded_until_a_handshake_needs_them() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let v = LazyPlatformVerifier::new(Arc::clone(&provider));
        assert_eq!(
            v.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
        assert!(v.inner.get().is_none());
        let config = client_config(false).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    /// Loading the roots late changes nothing about what is trusted: a server whose
    /// certificate no system root vouches for is still refused.
    #[tokio::test]
    async fn a_certificate_no_system_root_vouches_for_is_refused() {
        let self_signed = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key =
            rustls::pki_types::PrivatePkcs8KeyDer::from(self_signed.signing_key.serialize_der());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![self_signed.cert.der().clone()], key.into())
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(client_config(true).unwrap())
            .resolve("localhost", addr)
            .build()
            .unwrap();
        let err = client
            .get(format!("https://localhost:{}/v1/tasks", addr.port()))
            .send()
            .await
            .expect_err("an untrusted certificate must fail the request");
        let mut chain = Vec::new();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = source {
            chain.push(e.to_string());
            source = e.source();
        }
        let chain = chain.join(": ");
        assert!(chain.contains("UnknownIssuer"), "{chain}");
    }
}

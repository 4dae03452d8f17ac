//! AutoMTLS: the per-process server certificate and the rustls server configuration
//! that requires Terraform's client certificate (the PEM in `PLUGIN_CLIENT_CERT`).

use std::sync::Arc;
use std::time::Duration;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, ServerConfig, SignatureScheme};

use super::WireError;

/// About 30 years, go-plugin's certificate lifetime.
const CERT_LIFETIME: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
/// Backdating tolerates small clock differences, as go-plugin does.
const CERT_BACKDATE: Duration = Duration::from_secs(30);

/// The server's freshly generated certificate and private key.
pub struct ServerIdentity {
    /// DER of the self-signed certificate; printed (base64) on the handshake line.
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("ServerIdentity")
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// Generates a self-signed certificate with go-plugin's profile: CN and SAN `localhost`,
    /// CA, the four key usages and both extended key usages, valid from 30 s ago for ~30 years.
    ///
    /// ECDSA P-256 because it is the fastest key to generate (tens of microseconds) and Go's
    /// TLS stack accepts it; go-plugin's own P-521 choice costs startup time for nothing.
    pub fn generate() -> Result<Self, WireError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName as RcDn, DnType,
            ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        let mut dn = RcDn::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
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
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - CERT_BACKDATE;
        params.not_after = now + CERT_LIFETIME;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }
}

/// The crypto provider everywhere in the wire layer: aws-lc-rs, because *ring* cannot
/// verify the ECDSA P-521 signatures of Terraform's client certificate.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Parses every certificate in a PEM text (Terraform sends exactly one).
pub fn parse_pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, WireError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WireError::ClientCert(format!("PLUGIN_CLIENT_CERT is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(WireError::ClientCert(
            "PLUGIN_CLIENT_CERT holds no certificate".to_owned(),
        ));
    }
    Ok(certs)
}

/// A TLS server configuration that requires and verifies Terraform's client certificate,
/// negotiates ALPN `h2` (grpc-go refuses TLS peers without it) and allows TLS 1.2 and 1.3.
pub fn server_config(
    identity: &ServerIdentity,
    client_cert_pem: &str,
) -> Result<ServerConfig, WireError> {
    let provider = crypto_provider();
    let verifier = PinnedCertVerifier::new(
        parse_pem_certs(client_cert_pem)?,
        provider.signature_verification_algorithms,
    );
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            vec![identity.cert_der.clone()],
            PrivateKeyDer::Pkcs8(identity.key_der.clone_key()),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts exactly the pinned certificate(s), and checks the peer's handshake signature
/// with the aws-lc-rs algorithms (which include ECDSA P-521 with SHA-512).
///
/// Pinning rather than webpki path validation: go-plugin certificates are self-signed CAs
/// used as end entities, which webpki rejects (`CaUsedAsEndEntity`), while Go accepts a
/// leaf that is itself in the trusted pool. Matching the exact DER that Terraform gave us
/// is at least as strict as Go's check against a pool holding only that certificate.
#[derive(Debug)]
pub struct PinnedCertVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    /// A verifier accepting only `pinned`, verifying signatures with `algorithms`.
    pub fn new(
        pinned: Vec<CertificateDer<'static>>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        Self { pinned, algorithms }
    }

    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }
}

impl ClientCertVerifier for PinnedCertVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: Go's client then always offers its (only) certificate.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The same pinning for a test client verifying our server certificate (Go does this in
/// Terraform; in tests a rustls client stands in for it).
#[cfg(test)]
impl rustls::client::danger::ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.check(end_entity)
            .map(|()| rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_certificate_has_go_plugins_profile() {
        let id = ServerIdentity::generate().unwrap();
        // Look for the DER encodings of the profile's pieces (no X.509 parser in our deps).
        let der = id.cert_der.as_ref();
        let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
        // basicConstraints cA=TRUE.
        assert!(has(&[0x30, 0x03, 0x01, 0x01, 0xff]));
        // keyUsage bits 0,2,4,5 (digitalSignature, keyEncipherment, keyAgreement, keyCertSign).
        assert!(has(&[0x03, 0x02, 0x02, 0xac]));
        // OIDs: serverAuth 1.3.6.1.5.5.7.3.1 and clientAuth ...3.2 appear in the EKU extension.
        let server_auth = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
        let client_auth = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
        assert!(has(&server_auth));
        assert!(has(&client_auth));
        assert!(has(b"localhost"));
        assert!(format!("{id:?}").contains("cert_der_len"));
    }

    #[test]
    fn pem_parsing_rejects_garbage_and_empty() {
        assert!(matches!(
            parse_pem_certs("hello"),
            Err(WireError::ClientCert(_))
        ));
        assert!(matches!(parse_pem_certs(""), Err(WireError::ClientCert(_))));
    }

    #[test]
    fn pem_parsing_keeps_certificates_and_skips_other_sections() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        // Text around the blocks and a key block between the certificates are ignored.
        let pem = format!(
            "leading text\n{}{}{}",
            cert.pem(),
            key.serialize_pem(),
            cert.pem()
        );
        let certs = parse_pem_certs(&pem).unwrap();
        assert_eq!(certs, vec![cert.der().clone(), cert.der().clone()]);
        // A key alone holds no certificate.
        assert!(matches!(
            parse_pem_certs(&key.serialize_pem()),
            Err(WireError::ClientCert(m)) if m.contains("no certificate")
        ));
        // A certificate block whose body is not base64 is an error, not an empty result.
        assert!(matches!(
            parse_pem_certs("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            Err(WireError::ClientCert(m)) if m.contains("not valid PEM")
        ));
    }

    #[test]
    fn verifier_advertises_p521() {
        let v =
            PinnedCertVerifier::new(vec![], crypto_provider().signature_verification_algorithms);
        assert!(
            ClientCertVerifier::supported_verify_schemes(&v)
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
    }
}

//! In-process end-to-end tests of the served process: AutoMTLS with a P-521 client
//! certificate like Terraform's, health, Shutdown, rejection of unauthenticated clients.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use super::logging::LogOptions;
use super::proto::plugin::grpc_controller_client::GrpcControllerClient;
use super::proto::tfplugin6;
use super::proto::tfplugin6::provider_client::ProviderClient;
use super::serve::{Launch, serve_with};

const TEST_LOG: LogOptions = LogOptions {
    level_var: "TF_LOG_PROVIDER_WIDGETS",
    crates: &["tfplugin"],
};
use super::tls::{PinnedCertVerifier, crypto_provider};
use super::{ServeOptions, WireError, handshake, provider_service};

/// A provider answering one RPC; every other RPC is the generated Unimplemented stub.
struct TinyProvider;

#[tonic::async_trait]
impl tfplugin6::provider_server::Provider for TinyProvider {
    async fn get_provider_schema(
        &self,
        _request: tonic::Request<tfplugin6::get_provider_schema::Request>,
    ) -> Result<tonic::Response<tfplugin6::get_provider_schema::Response>, tonic::Status> {
        Ok(tonic::Response::new(
            tfplugin6::get_provider_schema::Response {
                provider: Some(tfplugin6::Schema::default()),
                ..Default::default()
            },
        ))
    }
}

/// A certificate shaped like the one Terraform puts in `PLUGIN_CLIENT_CERT` (ECDSA P-521).
fn terraform_like_client_cert() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().clone();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), der, key_der)
}

struct Running {
    line: String,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<Result<(), WireError>>,
}

async fn start(launch: Launch, debug: bool) -> Running {
    let (tx, rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let done = tokio::spawn(serve_with(
        provider_service(TinyProvider),
        ServeOptions {
            provider_address: "registry.terraform.io/example/widgets",
            debug,
            log: TEST_LOG,
            recovered_panic: || false,
            on_terminate: || {},
        },
        launch,
        move |line| {
            let _ = tx.send(line);
            Ok(())
        },
        stop.clone(),
    ));
    let line = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("handshake within 5 s")
        .expect("server announced");
    Running { line, stop, done }
}

fn terraform_launch(client_cert_pem: Option<String>) -> Launch {
    Launch {
        cookie: Some(handshake::MAGIC_COOKIE_VALUE.to_owned()),
        protocol_versions: Some("5,6".to_owned()),
        client_cert_pem,
        ..Launch::default()
    }
}

/// Splits `1|6|unix|<path>|grpc|<cert>` and decodes the certificate.
fn parse_handshake(line: &str) -> (String, String, Option<CertificateDer<'static>>) {
    use base64::Engine as _;
    let parts: Vec<&str> = line.split('|').collect();
    assert_eq!(parts.len(), 6, "{line}");
    assert_eq!(&parts[..2], ["1", "6"]);
    assert_eq!(parts[4], "grpc");
    assert!(!parts[5].contains('='), "certificate must be unpadded");
    let cert = (!parts[5].is_empty()).then(|| {
        CertificateDer::from(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(parts[5])
                .unwrap(),
        )
    });
    (parts[2].to_owned(), parts[3].to_owned(), cert)
}

/// A gRPC channel over TLS like Terraform's client: only the handshake certificate is
/// trusted, ALPN h2, and optionally a client certificate.
async fn tls_channel(
    network: &str,
    addr: &str,
    server_cert: CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<Channel, tonic::transport::Error> {
    let provider = crypto_provider();
    let verifier = PinnedCertVerifier::new(
        vec![server_cert],
        provider.signature_verification_algorithms,
    );
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let (network, addr) = (network.to_owned(), addr.to_owned());
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, network, addr) = (connector.clone(), network.clone(), addr.clone());
            async move {
                let name = ServerName::try_from("localhost").unwrap();
                let io: Box<dyn IoStream> = match network.as_str() {
                    "unix" => Box::new(
                        connector
                            .connect(name, tokio::net::UnixStream::connect(&addr).await?)
                            .await?,
                    ),
                    _ => Box::new(
                        connector
                            .connect(name, tokio::net::TcpStream::connect(&addr).await?)
                            .await?,
                    ),
                };
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(io))
            }
        }))
        .await
}

trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

async fn plaintext_unix_channel(path: &str) -> Channel {
    let path = path.to_owned();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .unwrap()
}

async fn health_check(channel: Channel) -> Result<i32, tonic::Status> {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".to_owned(),
        })
        .await?;
    Ok(resp.into_inner().status)
}

async fn assert_stops(running: Running) {
    let result = tokio::time::timeout(Duration::from_secs(3), running.done)
        .await
        .expect("server stops promptly after Shutdown")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn automtls_with_p521_client_health_schema_and_shutdown() {
    let (pem, client_cert, client_key) = terraform_like_client_cert();
    let running = start(terraform_launch(Some(pem)), false).await;
    let (network, addr, server_cert) = parse_handshake(&running.line);
    assert_eq!(network, "unix");
    assert!(std::path::Path::new(&addr).exists());
    let server_cert = server_cert.expect("TLS certificate on the handshake line");

    // A client without a certificate gets nothing.
    let anonymous = tls_channel(&network, &addr, server_cert.clone(), None).await;
    if let Ok(channel) = anonymous {
        assert!(health_check(channel).await.is_err());
    }
    // Nor does a client with another P-521 certificate.
    let (_, other_cert, other_key) = terraform_like_client_cert();
    if let Ok(channel) = tls_channel(
        &network,
        &addr,
        server_cert.clone(),
        Some((other_cert, other_key)),
    )
    .await
    {
        assert!(health_check(channel).await.is_err());
    }

    let channel = tls_channel(
        &network,
        &addr,
        server_cert,
        Some((client_cert, client_key)),
    )
    .await
    .unwrap();
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(health_check(channel.clone()).await.unwrap(), serving);

    let mut provider = ProviderClient::new(channel.clone());
    let schema = provider
        .get_provider_schema(tfplugin6::get_provider_schema::Request {})
        .await
        .unwrap()
        .into_inner();
    assert!(schema.provider.is_some());
    // Unimplemented RPCs answer the status Terraform understands.
    let err = provider
        .stop_provider(tfplugin6::stop_provider::Request {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    let mut controller = GrpcControllerClient::new(channel);
    controller
        .shutdown(super::proto::plugin::Empty {})
        .await
        .unwrap();
    assert_stops(running).await;
    assert!(
        !std::path::Path::new(&addr).exists(),
        "socket removed on exit"
    );
}

#[tokio::test]
async fn large_messages_pass_the_256_mib_limit() {
    struct Echo;
    #[tonic::async_trait]
    impl tfplugin6::provider_server::Provider for Echo {
        async fn read_resource(
            &self,
            request: tonic::Request<tfplugin6::read_resource::Request>,
        ) -> Result<tonic::Response<tfplugin6::read_resource::Response>, tonic::Status> {
            Ok(tonic::Response::new(tfplugin6::read_resource::Response {
                new_state: request.into_inner().current_state,
                ..Default::default()
            }))
        }
    }
    let (tx, rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let done = tokio::spawn(serve_with(
        provider_service(Echo),
        ServeOptions {
            provider_address: "registry.terraform.io/example/widgets",
            debug: false,
            log: TEST_LOG,
            recovered_panic: || false,
            on_terminate: || {},
        },
        terraform_launch(None),
        move |line| {
            let _ = tx.send(line);
            Ok(())
        },
        stop.clone(),
    ));
    let line = rx.await.unwrap();
    let (_, addr, cert) = parse_handshake(&line);
    assert!(cert.is_none(), "no PLUGIN_CLIENT_CERT means plaintext");
    let channel = plaintext_unix_channel(&addr).await;
    let mut client = ProviderClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let big = vec![7_u8; 5 * 1024 * 1024];
    let resp = client
        .read_resource(tfplugin6::read_resource::Request {
            current_state: Some(tfplugin6::DynamicValue {
                msgpack: big.clone(),
                json: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.new_state.map(|v| v.msgpack.len()), Some(big.len()));
    stop.cancel();
    assert!(
        tokio::time::timeout(Duration::from_secs(3), done)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn tcp_mode_honours_the_port_range() {
    // Pick a currently free port and offer exactly it.
    let probe = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = probe.local_addr().unwrap().port().to_string();
    drop(probe);
    let launch = Launch {
        tcp: true,
        min_port: Some(port.clone()),
        max_port: Some(port.clone()),
        ..terraform_launch(None)
    };
    let running = start(launch, false).await;
    let (network, addr, _) = parse_handshake(&running.line);
    assert_eq!(network, "tcp");
    assert_eq!(addr, format!("127.0.0.1:{port}"));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(health_check(channel.clone()).await.is_ok());
    GrpcControllerClient::new(channel)
        .shutdown(super::proto::plugin::Empty {})
        .await
        .unwrap();
    assert_stops(running).await;
}

#[tokio::test]
async fn debug_mode_is_plaintext_and_prints_reattach_config() {
    // No cookie and a client cert present: debug mode ignores both.
    let (pem, _, _) = terraform_like_client_cert();
    let launch = Launch {
        client_cert_pem: Some(pem),
        ..Launch::default()
    };
    let running = start(launch, true).await;
    let mut lines = running.line.lines();
    assert!(lines.next().unwrap().contains("debug mode"));
    let assignment = lines.next().unwrap();
    let json = assignment
        .strip_prefix("TF_REATTACH_PROVIDERS='")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let entry = &v["registry.terraform.io/example/widgets"];
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], std::process::id());
    let path = entry["Addr"]["String"].as_str().unwrap().to_owned();
    let channel = plaintext_unix_channel(&path).await;
    assert!(health_check(channel).await.is_ok());
    running.stop.cancel();
    assert_stops(running).await;
}

#[tokio::test]
async fn refuses_to_start_without_cookie_or_protocol_six() {
    let no_cookie = Launch::default();
    let err = serve_with(
        provider_service(TinyProvider),
        ServeOptions {
            provider_address: "x/y",
            debug: false,
            log: TEST_LOG,
            recovered_panic: || false,
            on_terminate: || {},
        },
        no_cookie,
        |_| panic!("must not announce"),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WireError::NotLaunchedByTerraform));
    // What `run` prints for a human names the provider and the way to debug it.
    let told = super::handshake::not_launched_by_terraform("registry.terraform.io/example/widgets");
    assert!(
        told.contains("registry.terraform.io/example/widgets"),
        "{told}"
    );
    assert!(told.contains("`example/widgets` provider"), "{told}");
    assert!(told.contains("--debug"), "{told}");

    let v5_only = Launch {
        protocol_versions: Some("5".to_owned()),
        ..terraform_launch(None)
    };
    let err = serve_with(
        provider_service(TinyProvider),
        ServeOptions {
            provider_address: "x/y",
            debug: false,
            log: TEST_LOG,
            recovered_panic: || false,
            on_terminate: || {},
        },
        v5_only,
        |_| panic!("must not announce"),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WireError::NoCommonProtocol { .. }));

    let bad_pem = terraform_launch(Some("not a certificate".to_owned()));
    let err = serve_with(
        provider_service(TinyProvider),
        ServeOptions {
            provider_address: "x/y",
            debug: false,
            log: TEST_LOG,
            recovered_panic: || false,
            on_terminate: || {},
        },
        bad_pem,
        |_| panic!("must not announce"),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, WireError::ClientCert(_)));
}

#[test]
fn the_runtime_starts_a_few_worker_threads_however_many_cores() {
    assert_eq!(super::worker_threads(None, 1), 1);
    assert_eq!(super::worker_threads(None, 2), 2);
    assert_eq!(super::worker_threads(None, 4), 4);
    assert_eq!(super::worker_threads(None, 64), 4);
    // available_parallelism never says 0, but a 0 must not build a runtime without workers.
    assert_eq!(super::worker_threads(None, 0), 1);
}

#[test]
fn tokio_worker_threads_is_honoured_only_when_it_is_a_positive_integer() {
    let env = |v: &str| super::worker_threads(Some(std::ffi::OsStr::new(v)), 64);
    assert_eq!(env("16"), 16);
    for bad in ["0", "all", "-2", "", " 16"] {
        assert_eq!(env(bad), 4, "{bad:?}");
    }
}

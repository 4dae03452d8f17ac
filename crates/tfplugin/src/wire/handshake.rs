//! The go-plugin launch contract: magic cookie, protocol negotiation, port range,
//! the stdout handshake line and the debug-mode reattach line.

use std::ops::RangeInclusive;

use base64::Engine as _;

use super::WireError;

/// Environment variable holding the magic cookie Terraform sets for its plugins.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The cookie value shared by Terraform and OpenTofu for provider plugins.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The only application protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 6;
/// go-plugin's core protocol version (field 1 of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// go-plugin's defaults when `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT` are absent.
const DEFAULT_MIN_PORT: u16 = 10000;
const DEFAULT_MAX_PORT: u16 = 25000;

/// Text for a human who started the binary by hand (no magic cookie), for the provider at
/// `provider_address` (e.g. `registry.terraform.io/example/widgets`).
pub fn not_launched_by_terraform(provider_address: &str) -> String {
    let source = provider_address
        .strip_prefix("registry.terraform.io/")
        .unwrap_or(provider_address);
    format!(
        "This binary is a plugin for Terraform (and OpenTofu): the provider `{provider_address}`.
It is not meant to be run directly. Terraform starts it on demand when a
configuration uses the `{source}` provider; install it through
`terraform init` (or a dev_overrides block in your CLI configuration).

To debug it, run it with `--debug`: it then serves without TLS and prints a
TF_REATTACH_PROVIDERS value to export in the shell that runs Terraform."
    )
}

/// Checks the magic cookie; its absence means a human ran the binary.
pub fn check_cookie(value: Option<&str>) -> Result<(), WireError> {
    match value {
        Some(v) if v == MAGIC_COOKIE_VALUE => Ok(()),
        _ => Err(WireError::NotLaunchedByTerraform),
    }
}

/// Picks protocol 6 from `PLUGIN_PROTOCOL_VERSIONS` (a comma list such as `5,6`).
///
/// An absent or empty list means an old client that did not negotiate; go-plugin then
/// assumes the server's own version, so we do too.
pub fn negotiate_version(offered: Option<&str>) -> Result<u32, WireError> {
    let Some(list) = offered.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(PROTOCOL_VERSION);
    };
    let has_six = list
        .split(',')
        .any(|v| v.trim().parse::<u32>() == Ok(PROTOCOL_VERSION));
    if has_six {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(WireError::NoCommonProtocol {
            offered: list.to_owned(),
        })
    }
}

/// The TCP port range from `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT`, with go-plugin's defaults.
pub fn port_range(min: Option<&str>, max: Option<&str>) -> Result<RangeInclusive<u16>, WireError> {
    fn parse(name: &str, value: Option<&str>, default: u16) -> Result<u16, WireError> {
        match value.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => s
                .parse::<u16>()
                .map_err(|_| WireError::PortRange(format!("{name}={s:?} is not a port number"))),
        }
    }
    let lo = parse("PLUGIN_MIN_PORT", min, DEFAULT_MIN_PORT)?;
    let hi = parse("PLUGIN_MAX_PORT", max, DEFAULT_MAX_PORT)?;
    if lo == 0 || lo > hi {
        return Err(WireError::PortRange(format!(
            "PLUGIN_MIN_PORT={lo} and PLUGIN_MAX_PORT={hi} do not form a usable range"
        )));
    }
    Ok(lo..=hi)
}

/// Binds `127.0.0.1` on the first free port of `range`, in ascending order like go-plugin.
pub fn bind_tcp_in_range(range: RangeInclusive<u16>) -> Result<std::net::TcpListener, WireError> {
    let (lo, hi) = (*range.start(), *range.end());
    for port in range {
        if let Ok(listener) = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)) {
            return Ok(listener);
        }
    }
    Err(WireError::PortRange(format!(
        "no free TCP port on 127.0.0.1 in {lo}..={hi}"
    )))
}

/// The network kinds go-plugin clients accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A unix domain socket path.
    Unix,
    /// `127.0.0.1:<port>`.
    Tcp,
}

impl Network {
    /// The name used on the handshake and reattach lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        }
    }
}

/// `CORE|APP|NETWORK|ADDR|grpc|CERT`: the first and only line we print on stdout.
///
/// The certificate is the server certificate's DER in standard base64 without padding
/// (Go's `RawStdEncoding`); it is empty when serving without TLS.
pub fn handshake_line(network: Network, addr: &str, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!(
        "{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|{}|{addr}|grpc|{cert}",
        network.as_str()
    )
}

/// The JSON value for `TF_REATTACH_PROVIDERS` describing this debug-mode process.
pub fn reattach_json(provider_address: &str, pid: u32, network: Network, addr: &str) -> String {
    let entry = serde_json::json!({
        "Protocol": "grpc",
        "ProtocolVersion": PROTOCOL_VERSION,
        "Pid": pid,
        "Test": true,
        "Addr": { "Network": network.as_str(), "String": addr },
    });
    let mut root = serde_json::Map::new();
    root.insert(provider_address.to_owned(), entry);
    serde_json::Value::Object(root).to_string()
}

/// The two stdout lines printed in debug mode: an explanation and the shell assignment.
pub fn reattach_lines(provider_address: &str, pid: u32, network: Network, addr: &str) -> String {
    let json = reattach_json(provider_address, pid, network, addr);
    format!(
        "Provider started in debug mode. It reads its environment (credentials, TF_LOG) from this shell, not from Terraform's; export this in the shell running Terraform (Ctrl-C stops the provider):\n\
         TF_REATTACH_PROVIDERS='{json}'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_must_match_exactly() {
        assert!(check_cookie(Some(MAGIC_COOKIE_VALUE)).is_ok());
        assert!(matches!(
            check_cookie(None),
            Err(WireError::NotLaunchedByTerraform)
        ));
        assert!(check_cookie(Some("d602bf8f")).is_err());
        assert!(check_cookie(Some("")).is_err());
    }

    #[test]
    fn negotiates_six_from_terraforms_lists() {
        assert_eq!(negotiate_version(Some("5,6")).ok(), Some(6));
        assert_eq!(negotiate_version(Some("6,5")).ok(), Some(6));
        assert_eq!(negotiate_version(Some(" 5 , 6 ")).ok(), Some(6));
        assert_eq!(negotiate_version(Some("6")).ok(), Some(6));
        assert_eq!(negotiate_version(None).ok(), Some(6));
        assert_eq!(negotiate_version(Some("")).ok(), Some(6));
    }

    #[test]
    fn refuses_lists_without_six() {
        for offered in ["5", "4,5", "60", "x"] {
            match negotiate_version(Some(offered)) {
                Err(WireError::NoCommonProtocol { offered: o }) => assert_eq!(o, offered),
                other => panic!("{offered}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn port_range_defaults_and_validation() {
        assert_eq!(port_range(None, None).ok(), Some(10000..=25000));
        assert_eq!(
            port_range(Some("12000"), Some("12010")).ok(),
            Some(12000..=12010)
        );
        assert_eq!(
            port_range(Some("12000"), Some("12000")).ok(),
            Some(12000..=12000)
        );
        assert_eq!(
            port_range(Some(""), Some("30000")).ok(),
            Some(10000..=30000)
        );
        assert!(port_range(Some("12010"), Some("12000")).is_err());
        assert!(port_range(Some("0"), Some("10")).is_err());
        assert!(port_range(Some("abc"), None).is_err());
        assert!(port_range(None, Some("70000")).is_err());
    }

    #[test]
    fn binds_the_first_free_port_of_the_range() {
        // Find two adjacent free ports, occupy the first, expect the second.
        let probe = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let Some(next) = base.checked_add(1) else {
            return;
        };
        let Ok(occupied) = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, base))
        else {
            return; // lost a race with another process; nothing to assert
        };
        match bind_tcp_in_range(base..=next) {
            Ok(l) => assert_eq!(l.local_addr().unwrap().port(), next),
            // `next` may be taken by someone else; then the range is exhausted.
            Err(WireError::PortRange(msg)) => assert!(msg.contains("no free TCP port")),
            Err(other) => panic!("unexpected {other:?}"),
        }
        // A range consisting only of an occupied port fails.
        assert!(matches!(
            bind_tcp_in_range(base..=base),
            Err(WireError::PortRange(_))
        ));
        drop(occupied);
    }

    #[test]
    fn handshake_line_shapes() {
        assert_eq!(
            handshake_line(Network::Tcp, "127.0.0.1:10000", None),
            "1|6|tcp|127.0.0.1:10000|grpc|"
        );
        // 4 bytes -> 6 base64 chars with no '=' padding.
        assert_eq!(
            handshake_line(
                Network::Unix,
                "/tmp/p/plugin.sock",
                Some(&[0xde, 0xad, 0xbe, 0xef])
            ),
            "1|6|unix|/tmp/p/plugin.sock|grpc|3q2+7w"
        );
    }

    #[test]
    fn reattach_json_shape() {
        let json = reattach_json(
            "registry.terraform.io/example/widgets",
            42,
            Network::Unix,
            "/tmp/x",
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let entry = &v["registry.terraform.io/example/widgets"];
        assert_eq!(entry["Protocol"], "grpc");
        assert_eq!(entry["ProtocolVersion"], 6);
        assert_eq!(entry["Pid"], 42);
        assert_eq!(entry["Test"], true);
        assert_eq!(entry["Addr"]["Network"], "unix");
        assert_eq!(entry["Addr"]["String"], "/tmp/x");
        let lines = reattach_lines("a/b", 1, Network::Tcp, "127.0.0.1:1");
        assert_eq!(lines.lines().count(), 2);
        assert!(
            lines
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("TF_REATTACH_PROVIDERS='{")
        );
    }
}

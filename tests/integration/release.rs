//! Release packaging: a plain `terraform init` (no dev_overrides) installs the
//! provider from the filesystem mirror `cargo xtask release` lays out, and the
//! lock file records the zip's hash.

#[path = "../../xtask/src/package.rs"]
pub(super) mod package;

use super::support::{PROVIDER_BIN, Workdir};

#[test]
fn terraform_init_installs_from_the_filesystem_mirror() {
    let w = Workdir::new("release_mirror");
    let (os, arch) = package::platform();
    let dist = w.path().join("dist");
    let art = package::package(std::path::Path::new(PROVIDER_BIN), "0.1.0", os, arch, &dist)
        .expect("package");
    assert!(art.zip.is_file());
    let sums = std::fs::read_to_string(&art.sums).expect("sums");
    assert!(sums.contains(&format!(
        "{}  terraform-provider-rediscloud_0.1.0_{os}_{arch}.zip",
        art.zip_sha256
    )));
    let manifest = std::fs::read_to_string(&art.manifest).expect("manifest");
    assert!(manifest.contains("\"protocol_versions\": [\"6.0\"]"));

    w.write_file("cli.tfrc", &package::mirror_cli_config(&art.mirror));
    w.write_config(
        "terraform {\n  required_providers {\n    rediscloud = {\n      source  = \"redislabs/rediscloud\"\n      version = \"0.1.0\"\n    }\n  }\n}\n\nprovider \"rediscloud\" {}\n",
    );
    w.init()
        .assert_success()
        .assert_matches("Installed redislabs/rediscloud v0.1.0");
    let lock = std::fs::read_to_string(w.path().join(".terraform.lock.hcl")).expect("lock file");
    assert!(
        lock.contains("provider \"registry.terraform.io/redislabs/rediscloud\""),
        "{lock}"
    );
    assert!(lock.contains("version     = \"0.1.0\""), "{lock}");
    // A mirror install records Terraform's h1: hash of the zip's contents:
    // SHA-256 over the "sha256  name" lines of its files, base64-encoded.
    let exe = std::fs::read(PROVIDER_BIN).expect("binary");
    let summary = format!(
        "{}  terraform-provider-rediscloud_v0.1.0\n",
        hex(&sha256(&exe))
    );
    let h1 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        sha256(summary.as_bytes()),
    );
    assert!(
        lock.contains(&format!("\"h1:{h1}\"")),
        "expected h1:{h1} in\n{lock}"
    );
    // The installed binary is the real provider: Terraform can read its schema.
    let out = w.run(&["providers", "schema", "-json"]);
    out.assert_success();
    assert!(out.stdout.contains("rediscloud_cloud_account"));
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! Release packaging in the Terraform Registry's conventions: the zip, the
//! manifest declaring protocol 6.0, SHA256SUMS, and a filesystem-mirror layout
//! that `terraform init` installs from. Shared with the integration test that
//! runs a plain `terraform init` against the mirror.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The provider's registry source address parts.
pub const HOSTNAME: &str = "registry.terraform.io";
/// Registry namespace.
pub const NAMESPACE: &str = "redislabs";
/// Provider type name.
pub const TYPE: &str = "rediscloud";

/// What `package` wrote.
#[derive(Debug)]
pub struct Artifacts {
    /// `terraform-provider-rediscloud_<v>_<os>_<arch>.zip`
    pub zip: PathBuf,
    /// `terraform-provider-rediscloud_<v>_manifest.json`
    pub manifest: PathBuf,
    /// `terraform-provider-rediscloud_<v>_SHA256SUMS`
    pub sums: PathBuf,
    /// The filesystem mirror root (for `provider_installation { filesystem_mirror { path = … } }`).
    pub mirror: PathBuf,
    /// Hex SHA-256 of the zip (Terraform's `zh:` hash).
    pub zip_sha256: String,
}

/// The Go-style OS and architecture names Terraform uses for this machine.
pub fn platform() -> (&'static str, &'static str) {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    (os, arch)
}

/// A Terraform CLI configuration that installs this provider from the filesystem mirror at
/// `mirror` (as [`Artifacts::mirror`]) and every other provider directly from its registry.
pub fn mirror_cli_config(mirror: &Path) -> String {
    let source = format!("{HOSTNAME}/{NAMESPACE}/{TYPE}");
    format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = {:?}\n    include = [\"{source}\"]\n  }}\n  direct {{\n    exclude = [\"{source}\"]\n  }}\n}}\n",
        mirror.display().to_string()
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Packages the emulator's `binary` beside the provider's release: a zip of the one binary,
/// `rediscloud-emulator`, and a `.sha256` file of that zip. Returns the zip's path.
#[allow(dead_code)] // The release test includes this file for `package` alone.
pub fn package_emulator(
    binary: &Path,
    version: &str,
    os: &str,
    arch: &str,
    out: &Path,
) -> io::Result<PathBuf> {
    fs::create_dir_all(out)?;
    let zip_name = format!("rediscloud-emulator_{version}_{os}_{arch}.zip");
    let zip_path = out.join(&zip_name);
    write_zip(&zip_path, "rediscloud-emulator", &fs::read(binary)?)?;
    fs::write(
        out.join(format!("{zip_name}.sha256")),
        format!("{}  {zip_name}\n", sha256_hex(&fs::read(&zip_path)?)),
    )?;
    Ok(zip_path)
}

/// Writes a zip of one executable entry `name` holding `bytes`.
fn write_zip(zip_path: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut zip = zip::ZipWriter::new(fs::File::create(zip_path)?);
    // A fixed timestamp, the zip epoch 1980-01-01 00:00:00, keeps the zip (and so its hash)
    // reproducible; left unset, the zip crate stamps the current time when its `time`
    // feature is on, which any crate in the build could turn on.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755);
    zip.start_file(name, options).map_err(io::Error::other)?;
    zip.write_all(bytes)?;
    zip.finish().map_err(io::Error::other)?;
    Ok(())
}

/// Packages `binary` as release `version` for `os`/`arch` into `out`.
pub fn package(
    binary: &Path,
    version: &str,
    os: &str,
    arch: &str,
    out: &Path,
) -> io::Result<Artifacts> {
    fs::create_dir_all(out)?;
    let base = format!("terraform-provider-{TYPE}_{version}");
    let zip_name = format!("{base}_{os}_{arch}.zip");
    let zip_path = out.join(&zip_name);
    write_zip(
        &zip_path,
        &format!("terraform-provider-{TYPE}_v{version}"),
        &fs::read(binary)?,
    )?;
    let manifest_name = format!("{base}_manifest.json");
    let manifest = out.join(&manifest_name);
    fs::write(
        &manifest,
        "{\n  \"version\": 1,\n  \"metadata\": {\n    \"protocol_versions\": [\"6.0\"]\n  }\n}\n",
    )?;
    let zip_sha256 = sha256_hex(&fs::read(&zip_path)?);
    let sums = out.join(format!("{base}_SHA256SUMS"));
    fs::write(
        &sums,
        format!(
            "{}  {manifest_name}\n{zip_sha256}  {zip_name}\n",
            sha256_hex(&fs::read(&manifest)?)
        ),
    )?;
    // Packed filesystem-mirror layout: HOSTNAME/NAMESPACE/TYPE/<zip>.
    let mirror = out.join("mirror");
    let dir = mirror.join(HOSTNAME).join(NAMESPACE).join(TYPE);
    fs::create_dir_all(&dir)?;
    fs::copy(&zip_path, dir.join(&zip_name))?;
    Ok(Artifacts {
        zip: zip_path,
        manifest,
        sums,
        mirror,
        zip_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir (xtask has no tempfile dependency).
    fn scratch(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "xtask-package-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn packaging_twice_gives_byte_identical_zips_with_a_fixed_timestamp() {
        let dir = scratch("repro");
        let bin = dir.join("provider");
        fs::write(&bin, "#!/bin/sh\necho provider\n".repeat(100)).unwrap();
        let first = package(&bin, "1.2.3", "linux", "amd64", &dir.join("a")).unwrap();
        // Touch the input so that nothing of the build's file metadata may leak into the zip.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&bin)
            .and_then(|f| f.set_modified(later))
            .unwrap();
        let second = package(&bin, "1.2.3", "linux", "amd64", &dir.join("b")).unwrap();
        assert_eq!(
            fs::read(&first.zip).unwrap(),
            fs::read(&second.zip).unwrap()
        );
        assert_eq!(first.zip_sha256, second.zip_sha256);
        assert_eq!(
            fs::read(&first.sums).unwrap(),
            fs::read(&second.sums).unwrap()
        );

        // Independent of when it runs: the entry carries the zip epoch, 1980-01-01 00:00:00.
        let mut archive = zip::ZipArchive::new(fs::File::open(&first.zip).unwrap()).unwrap();
        let entry = archive.by_index(0).unwrap();
        assert_eq!(
            entry.name().unwrap(),
            "terraform-provider-rediscloud_v1.2.3"
        );
        let t = entry.last_modified().expect("a timestamp");
        assert_eq!((t.year(), t.month(), t.day()), (1980, 1, 1));
        assert_eq!((t.hour(), t.minute(), t.second()), (0, 0, 0));
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        drop(entry);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_emulator_ships_as_its_own_zip_with_its_hash() {
        let dir = scratch("emulator");
        let bin = dir.join("emulator");
        fs::write(&bin, "#!/bin/sh\necho emulator\n").unwrap();
        let zip = package_emulator(&bin, "1.2.3", "linux", "amd64", &dir.join("out")).unwrap();
        assert!(zip.ends_with("rediscloud-emulator_1.2.3_linux_amd64.zip"));
        let mut archive = zip::ZipArchive::new(fs::File::open(&zip).unwrap()).unwrap();
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "rediscloud-emulator");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        drop(entry);
        let sums =
            fs::read_to_string(dir.join("out/rediscloud-emulator_1.2.3_linux_amd64.zip.sha256"))
                .unwrap();
        assert_eq!(
            sums,
            format!(
                "{}  rediscloud-emulator_1.2.3_linux_amd64.zip\n",
                sha256_hex(&fs::read(&zip).unwrap())
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }
}

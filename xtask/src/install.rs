//! `cargo xtask install`: lays the release build out where any directory's `terraform init` can use it:
//! a filesystem mirror with a CLI configuration that takes `redislabs/rediscloud` from it (never from
//! the registry, which holds the official provider under the same address), a `bin/` with the
//! provider, the emulator and the Terraform the tests use, and an `env.sh` to source. Shared with the
//! README test that runs the "own configuration" snippet against this very layout.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::package;

/// What [`lay_out`] wrote, all under one directory.
#[derive(Debug)]
pub struct Layout {
    /// The CLI configuration (`TF_CLI_CONFIG_FILE`): the mirror for this provider, the registry for others.
    pub cli_config: PathBuf,
    /// `terraform-provider-rediscloud`, `rediscloud-emulator` and `terraform`.
    pub bin: PathBuf,
    /// Sets `TF_CLI_CONFIG_FILE` and puts `bin` first on `PATH` when sourced.
    pub env_file: PathBuf,
}

/// Writes the layout into `dir`, replacing an earlier one: copies of `provider` and `emulator` (so that a
/// `cargo clean` leaves them working), a link to `terraform`, and the provider packaged as `version`.
pub fn lay_out(
    dir: &Path,
    provider: &Path,
    emulator: &Path,
    terraform: &Path,
    version: &str,
) -> io::Result<Layout> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    let dir = fs::canonicalize(dir)?;
    let (os, arch) = package::platform();
    let art = package::package(provider, version, os, arch, &dir.join("dist"))?;
    let cli_config = dir.join("terraformrc");
    fs::write(&cli_config, package::mirror_cli_config(&art.mirror))?;

    let bin = dir.join("bin");
    fs::create_dir_all(&bin)?;
    for (from, name) in [
        (provider, "terraform-provider-rediscloud"),
        (emulator, "rediscloud-emulator"),
    ] {
        fs::copy(from, bin.join(name))?;
    }
    std::os::unix::fs::symlink(fs::canonicalize(terraform)?, bin.join("terraform"))?;

    let env_file = dir.join("env.sh");
    fs::write(
        &env_file,
        format!(
            "# Written by `cargo xtask install`. Source it (`. {env}`) to use this build of\n\
             # redislabs/rediscloud {version} from any directory, with the emulator and Terraform on PATH.\n\
             export TF_CLI_CONFIG_FILE={config}\n\
             export PATH={bin}:\"$PATH\"\n",
            env = dir.join("env.sh").display(),
            config = shell_quote(&cli_config),
            bin = shell_quote(&bin),
        ),
    )?;
    Ok(Layout {
        cli_config,
        bin,
        env_file,
    })
}

/// `path` in single quotes for a POSIX shell.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_has_the_mirror_the_binaries_and_an_env_file_that_points_at_them() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let scratch = std::env::temp_dir().join(format!("xtask-install-{nanos}"));
        fs::create_dir_all(&scratch).unwrap();
        let fake = |name: &str| {
            let path = scratch.join(name);
            fs::write(&path, name).unwrap();
            path
        };
        let (provider, emulator, terraform) = (fake("p"), fake("e"), fake("t"));
        let dir = scratch.join("it's here");
        // A stale file from an earlier install is gone after a new one.
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("stale"), "").unwrap();

        let layout = lay_out(&dir, &provider, &emulator, &terraform, "0.1.0").unwrap();
        assert!(!dir.join("stale").exists());
        let (os, arch) = package::platform();
        let zip = dir.join(format!(
            "dist/mirror/registry.terraform.io/redislabs/rediscloud/terraform-provider-rediscloud_0.1.0_{os}_{arch}.zip"
        ));
        assert!(zip.is_file(), "{}", zip.display());
        let config = fs::read_to_string(&layout.cli_config).unwrap();
        assert!(config.contains("filesystem_mirror"), "{config}");
        assert_eq!(
            fs::read_to_string(layout.bin.join("rediscloud-emulator")).unwrap(),
            "e"
        );
        assert_eq!(
            fs::read_link(layout.bin.join("terraform")).unwrap(),
            fs::canonicalize(&terraform).unwrap()
        );
        let env = fs::read_to_string(&layout.env_file).unwrap();
        assert!(
            env.contains(r"export TF_CLI_CONFIG_FILE='") && env.contains(r"it'\''s here"),
            "{env}"
        );
        assert!(env.contains("/bin':\"$PATH\"\n"), "{env}");
        fs::remove_dir_all(&scratch).unwrap();
    }
}

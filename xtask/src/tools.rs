//! How xtask runs the tools it drives: Cargo as Cargo ran it, Terraform's version, and the
//! small things the Terraform shim needs (a Python string literal, the executable bit).

use std::path::Path;
use std::process::Command;
use std::{env, fs};

use anyhow::{Context, Result, bail};

use crate::tf_version::version_from_json;

/// `cargo`, as Cargo ran xtask (`$CARGO`), working in the workspace root.
pub fn cargo(root: &Path) -> Command {
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(root);
    cargo
}

/// A double-quoted Python string literal for `text`.
pub fn python_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(unix)]
pub fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod +x {}", path.display()))
}

#[cfg(not(unix))]
pub fn make_executable(_path: &Path) -> Result<()> {
    Ok(())
}

/// Runs `terraform version -json` and returns the `terraform_version` string.
pub fn terraform_version(path: &Path) -> Result<String> {
    let output = Command::new(path)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .with_context(|| format!("could not run {}", path.display()))?;
    if !output.status.success() {
        bail!(
            "`{} version -json` failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    version_from_json(&stdout)
        .with_context(|| format!("no terraform_version in `version -json` output: {stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_escape_quotes_and_backslashes() {
        assert_eq!(python_string("/repo/.tools"), "\"/repo/.tools\"");
        assert_eq!(python_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}

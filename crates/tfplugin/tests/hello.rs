//! The framework's example provider (`examples/hello_provider.rs`) under real Terraform: a
//! plan, an apply, an empty plan after it, a replacement when the name changes, and a destroy.
//!
//! Terraform is `TF_ACC_TERRAFORM`, else `terraform` on PATH (`cargo xtask test` sets the
//! former); without one the test fails rather than passing unseen.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example's binary, which `cargo test` builds beside this test's directory.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests live in target/<profile>/deps");
    let bin = profile_dir
        .join("examples")
        .join(format!("hello-provider{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

fn terraform() -> PathBuf {
    let tf = std::env::var_os("TF_ACC_TERRAFORM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("terraform"), PathBuf::from);
    let version = Command::new(&tf).arg("version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "no Terraform at {}: set TF_ACC_TERRAFORM, or run `cargo xtask test`",
        tf.display()
    );
    tf
}

/// A working directory whose CLI configuration points Terraform at the example.
struct Dir {
    path: PathBuf,
    tf: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hello-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let plugins = path.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        // Terraform looks for `terraform-provider-<TYPE>` in an overridden provider's directory.
        std::fs::copy(example_binary(), plugins.join("terraform-provider-hello")).unwrap();
        let cli = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"example/hello\" = {:?}\n  }}\n  direct {{}}\n}}\n",
            plugins.display().to_string()
        );
        std::fs::write(path.join("cli.tfrc"), cli).unwrap();
        Dir {
            path,
            tf: terraform(),
        }
    }

    fn config(&self, name: &str) {
        let hcl = format!(
            "terraform {{\n  required_providers {{\n    hello = {{ source = \"example/hello\" }}\n  }}\n}}\n\nresource \"hello_greeting\" \"ferris\" {{\n  name = \"{name}\"\n}}\n\noutput \"text\" {{\n  value = hello_greeting.ferris.text\n}}\n"
        );
        std::fs::write(self.path.join("main.tf"), hcl).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.tf)
            .args(args)
            .arg("-no-color")
            .current_dir(&self.path)
            .env("TF_CLI_CONFIG_FILE", self.path.join("cli.tfrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_LOG")
            .output()
            .expect("running terraform")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_example_provider_plans_applies_replaces_and_destroys_under_terraform() {
    let dir = Dir::new();
    dir.config("Ferris");
    let plan = dir.run(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(
        text(&plan).contains("hello_greeting.ferris will be created"),
        "{}",
        text(&plan)
    );

    let apply = dir.run(&["apply", "-input=false", "-auto-approve"]);
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(
        text(&apply).contains("text = \"Hello, Ferris!\""),
        "{}",
        text(&apply)
    );

    // Nothing changes after an apply.
    let again = dir.run(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    // A new name replaces the greeting (`requires_replace`).
    dir.config("Corro");
    let replace = dir.run(&["apply", "-input=false", "-auto-approve"]);
    assert!(replace.status.success(), "{}", text(&replace));
    let out = text(&replace);
    assert!(out.contains("must be replaced"), "{out}");
    assert!(out.contains("text = \"Hello, Corro!\""), "{out}");

    let destroy = dir.run(&["destroy", "-input=false", "-auto-approve"]);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(text(&destroy).contains("1 destroyed"), "{}", text(&destroy));
    let _ = std::fs::remove_dir_all(&dir.path);
}

/// The README shows the example whole, as the file this crate builds and runs.
#[test]
fn the_readme_shows_the_example_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/hello_provider.rs")).unwrap();
    let shown = readme
        .split_once("```rust\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(code, _)| code)
        .expect("a rust block in the README");
    assert_eq!(
        shown, example,
        "README.md's example differs from examples/hello_provider.rs"
    );
    assert!(
        example.lines().count() < 100,
        "the example is no longer under 100 lines"
    );
}

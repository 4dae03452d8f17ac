//! The committed docs under `docs/` are exactly what the generator renders from
//! the schema the provider serves and the guides in `examples/guides/` (regenerate with `cargo xtask docs`).

use std::path::Path;

#[test]
fn docs_are_generated_from_the_served_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = terraform_provider_rediscloud::provider::documentation(&root.join("examples"));
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, text) in &pages {
        let path = root.join("docs").join(rel);
        if update {
            std::fs::create_dir_all(path.parent().expect("docs path has a parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write docs");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(rel.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "docs out of date: {stale:?}; run `cargo xtask docs` and commit the result"
    );
    let names: Vec<&str> = pages.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "index.md",
            "resources/cloud_account.md",
            "data-sources/cloud_account.md",
            "list-resources/cloud_account.md",
            "guides/module-tests.yml",
            "guides/test-module-in-ci.md"
        ]
    );
    let resource = &pages[1].1;
    for needle in [
        "## Example Usage",
        "## Import",
        "terraform import rediscloud_cloud_account.example",
        "- `access_secret_key_wo` (String, Sensitive, Write-only)",
        "### Nested Schema for `timeouts`",
    ] {
        assert!(resource.contains(needle), "resource page lacks {needle:?}");
    }
    let list = &pages[3].1;
    for needle in [
        "# rediscloud_cloud_account (List Resource)",
        "## Example Usage",
        "list \"rediscloud_cloud_account\" \"production\" {",
        "`config` block inside a `list \"rediscloud_cloud_account\"` block",
        "- `name_regex` (String)",
        "## Generated Configuration",
        "access_secret_key_wo         = var.secret_access_key",
        "## Bringing accounts under Terraform",
        "Terraform 1.14 or later",
    ] {
        assert!(list.contains(needle), "list resource page lacks {needle:?}");
    }
}

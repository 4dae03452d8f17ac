//! The framework serves any provider: no provider's name appears in its code, its manifest or
//! its build script (`grep -riE 'redis|redislabs'` over the crate finds only this test).

use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_provider_is_named_in_the_framework() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(&root.join("src"), &mut all);
    files(&root.join("examples"), &mut all);
    all.push(root.join("Cargo.toml"));
    all.push(root.join("build.rs"));
    all.push(root.join("README.md"));
    let named: Vec<String> = all
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|text| text.to_ascii_lowercase().contains(concat!("red", "is")))
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        named.is_empty(),
        "a provider's name in the framework: {named:?}"
    );
    assert!(
        all.len() > 30,
        "found only {} files: is the walk broken?",
        all.len()
    );
}

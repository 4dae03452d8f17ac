//! Which Terraform is new enough: the oldest version supported and how `terraform version
//! -json` is read. xtask picks or installs Terraform with it, and the integration tests, which
//! include this file (`#[path]`), refuse an older one with it.

/// Oldest Terraform the acceptance tests support (protocol 6 features and `terraform_data`
/// behaviour they rely on); `cargo xtask test` installs a newer one when needed.
pub const MIN_TERRAFORM: (u64, u64) = (1, 14);

/// The `terraform_version` field of `terraform version -json` output.
pub fn version_from_json(stdout: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(stdout).ok()?;
    Some(json.get("terraform_version")?.as_str()?.to_owned())
}

/// True when `version` ("1.15.5", "1.14.0-rc1") is at least `major.minor`.
pub fn version_at_least(version: &str, (major, minor): (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_minor() {
        assert!(version_at_least("1.15.5", (1, 14)));
        assert!(version_at_least("1.14.0-rc1", (1, 14)));
        assert!(version_at_least("v2.0.0", (1, 14)));
        assert!(!version_at_least("1.11.4", (1, 14)));
        assert!(!version_at_least("garbage", (1, 14)));
        assert!(!version_at_least("", (1, 14)));
    }

    #[test]
    fn reads_terraform_version_from_json() {
        let json = "{\n  \"terraform_version\": \"1.15.5\",\n  \"platform\": \"linux_amd64\"\n}";
        assert_eq!(version_from_json(json).as_deref(), Some("1.15.5"));
        assert_eq!(version_from_json("{\"platform\": \"linux_amd64\"}"), None);
        assert_eq!(version_from_json("Terraform v1.15.5"), None);
    }
}

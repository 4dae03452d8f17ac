//! The `rediscloud_cloud_account` data source: finds exactly one cloud account
//! by name, provider type, and whether to skip Redis's internal account.

use async_trait::async_trait;

use super::model::{INTERNAL_ACCOUNT_ID, PROVIDER_TYPES, TYPE_NAME};
use crate::client::CloudAccount;
use crate::framework::data_source::{DataSource, DataSourceReadRequest};
use crate::framework::diag::Diagnostics;
use crate::framework::schema::{Attribute, Block, Presence, Schema, Validator};
use crate::framework::value::Value;
use crate::provider::RedisCloud;
use crate::provider::diagnostics::api_error;

/// The `rediscloud_cloud_account` data source type.
#[derive(Debug, Default)]
pub struct CloudAccountDataSource;

/// The filters a configuration gives.
#[derive(Debug, Default, PartialEq)]
pub struct Filter {
    /// Exact, case-sensitive name.
    pub name: Option<String>,
    /// `AWS` or `GCP`.
    pub provider_type: Option<String>,
    /// Skip the internal account (ID 1).
    pub exclude_internal_account: bool,
}

impl Filter {
    /// True when `account` passes every filter given.
    pub fn matches(&self, account: &CloudAccount) -> bool {
        // An account being deleted is still listed for a moment; it is not a match.
        let being_deleted = matches!(account.status.as_deref(), Some("deleted" | "delete-draft"));
        let excluded = self.exclude_internal_account && account.id == INTERNAL_ACCOUNT_ID;
        !being_deleted
            && !excluded
            && self
                .name
                .as_deref()
                .is_none_or(|n| account.name.as_deref() == Some(n))
            && self
                .provider_type
                .as_deref()
                .is_none_or(|p| account.provider.as_deref() == Some(p))
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name = {n:?}"));
        }
        if let Some(p) = &self.provider_type {
            parts.push(format!("provider_type = {p:?}"));
        }
        if self.exclude_internal_account {
            parts.push("exclude_internal_account = true".to_owned());
        }
        if parts.is_empty() {
            "no filters".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Picks the single match, or explains how many matched and how to narrow.
pub fn select<'a>(
    accounts: &'a [CloudAccount],
    filter: &Filter,
    diags: &mut Diagnostics,
) -> Option<&'a CloudAccount> {
    let found: Vec<&CloudAccount> = accounts.iter().filter(|a| filter.matches(a)).collect();
    match found.as_slice() {
        [one] => Some(one),
        [] => {
            diags.error(
                "No Cloud Accounts Found",
                format!(
                    "Your query returned no results: 0 of {} cloud accounts match ({}). Names match exactly and are case-sensitive; check `name` and `provider_type`.",
                    accounts.len(),
                    filter.describe()
                ),
            );
            None
        }
        many => {
            let listed = many
                .iter()
                .take(10)
                .map(|a| format!("{} ({:?})", a.id, a.name.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ");
            diags.error(
                "Multiple Cloud Accounts Found",
                format!(
                    "{} cloud accounts match ({}): {listed}. Narrow the search with `name`, `provider_type` or `exclude_internal_account = true` so that exactly one matches.",
                    many.len(),
                    filter.describe()
                ),
            );
            None
        }
    }
}

#[async_trait]
impl DataSource for CloudAccountDataSource {
    type Data = RedisCloud;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        use Presence::*;
        Schema {
            version: 0,
            block: Block {
                description: "Looks up exactly one existing cloud account, for example one registered outside this configuration, by its name and provider type.".to_owned(),
                attributes: vec![
                    Attribute::string("name", OptionalComputed)
                        .describe("Exact, case-sensitive name of the cloud account to find.")
                        .validate(Validator::NotBlank),
                    Attribute::string("provider_type", OptionalComputed)
                        .describe("Only consider accounts of this cloud provider: `AWS` or `GCP`.")
                        .validate(Validator::OneOf(PROVIDER_TYPES.to_vec())),
                    Attribute::bool("exclude_internal_account", OptionalComputed)
                        .describe("Skip Redis Cloud's internal account (ID 1, \"Redis Internal Resources\"). Default `false`."),
                    Attribute::string("id", Computed).describe("The cloud account ID."),
                    Attribute::string("access_key_id", Computed)
                        .describe("Access key ID of the account's IAM user."),
                    Attribute::string("status", Computed).describe("Status of the cloud account."),
                    Attribute::string("aws_console_role_arn", Computed)
                        .describe("ARN of the AWS console role (AWS only)."),
                    Attribute::string("aws_user_arn", Computed)
                        .describe("ARN of the AWS IAM user (AWS only)."),
                ],
                blocks: vec![],
            },
            config_validators: vec![],
        }
    }

    async fn read(
        &self,
        data: &RedisCloud,
        req: DataSourceReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = data.client(diags)?;
        let config = req.config;
        let filter = Filter {
            name: config.attr("name").as_str().map(str::to_owned),
            provider_type: config.attr("provider_type").as_str().map(str::to_owned),
            exclude_internal_account: config
                .attr("exclude_internal_account")
                .as_bool()
                .unwrap_or(false),
        };
        let accounts = tokio::select! {
            r = client.list_cloud_accounts() => r,
            _ = req.stop.cancelled() => return None,
        };
        let accounts = match accounts {
            Ok(a) => a,
            Err(err) => {
                api_error(diags, "List Cloud Accounts", &err, "");
                return None;
            }
        };
        let account = select(&accounts, &filter, diags)?;
        let mut out = config.clone();
        let obj = out.as_object_mut()?;
        let mut set = |k: &str, v: Value| {
            obj.insert(k.to_owned(), v);
        };
        set("id", Value::string(account.id.to_string()));
        // Read back as the default it is documented to have, not null.
        set(
            "exclude_internal_account",
            Value::Bool(filter.exclude_internal_account),
        );
        set("name", Value::opt_string(account.name.clone()));
        set("provider_type", Value::opt_string(account.provider.clone()));
        set(
            "access_key_id",
            Value::opt_string(account.access_key_id.clone()),
        );
        set("status", Value::opt_string(account.status.clone()));
        set(
            "aws_console_role_arn",
            Value::opt_string(account.aws_console_role_arn.clone()),
        );
        set(
            "aws_user_arn",
            Value::opt_string(account.aws_user_arn.clone()),
        );
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, name: &str, provider: &str, status: &str) -> CloudAccount {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "provider": provider, "status": status
        }))
        .expect("account")
    }

    fn accounts() -> Vec<CloudAccount> {
        vec![
            account(1, "Redis Internal Resources", "AWS", "active"),
            account(2, "prod", "AWS", "active"),
            account(3, "prod", "GCP", "active"),
            account(4, "gone", "AWS", "deleted"),
        ]
    }

    #[test]
    fn exactly_one_match_is_selected() {
        let mut d = Diagnostics::new();
        let f = Filter {
            name: Some("prod".into()),
            provider_type: Some("GCP".into()),
            exclude_internal_account: true,
        };
        assert_eq!(select(&accounts(), &f, &mut d).map(|a| a.id), Some(3));
        assert!(d.0.is_empty());
    }

    #[test]
    fn several_matches_say_how_many_and_how_to_narrow() {
        let mut d = Diagnostics::new();
        let f = Filter {
            name: Some("prod".into()),
            ..Filter::default()
        };
        assert!(select(&accounts(), &f, &mut d).is_none());
        assert_eq!(d.0[0].summary, "Multiple Cloud Accounts Found");
        assert!(
            d.0[0].detail.starts_with("2 cloud accounts match"),
            "{}",
            d.0[0].detail
        );
        assert!(d.0[0].detail.contains("provider_type"));
    }

    #[test]
    fn accounts_being_deleted_and_the_internal_account_can_be_excluded() {
        let mut d = Diagnostics::new();
        let f = Filter {
            name: Some("gone".into()),
            ..Filter::default()
        };
        assert!(select(&accounts(), &f, &mut d).is_none());
        assert_eq!(d.0[0].summary, "No Cloud Accounts Found");
        assert!(d.0[0].detail.contains("0 of 4"));
        let f = Filter {
            provider_type: Some("AWS".into()),
            exclude_internal_account: true,
            ..Filter::default()
        };
        let mut d = Diagnostics::new();
        assert_eq!(select(&accounts(), &f, &mut d).map(|a| a.id), Some(2));
    }
}

//! The `rediscloud_cloud_account` list resource (`terraform query`): every cloud account the
//! API key can see, filtered by name, name pattern, provider type and status, as identities
//! to import and, on request, whole resource objects.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::model::{
    CloudAccountModel, DEFAULT_READ_TIMEOUT, INTERNAL_ACCOUNT_ID, PROVIDER_TYPES, TYPE_NAME,
    identity_value,
};
use crate::provider::RedisCloud;
use crate::provider::diagnostics::api_error;
use rediscloud_api::{CloudAccount, Error};
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::list_resource::{Flow, ListItem, ListRequest, ListResource, ListStream};
use tfplugin::framework::model::{self, ModelError, Val, schema_of, tf};
use tfplugin::framework::schema::{Schema, Validator};
use tfplugin::framework::value::Value;

/// The `rediscloud_cloud_account` list resource type.
#[derive(Debug, Default)]
pub struct CloudAccountListResource;

/// Statuses a listed account can have: every status but those of an account being deleted,
/// which is never listed.
pub const LISTED_STATUSES: [&str; 7] = [
    "draft",
    "pending",
    "active",
    "change-draft",
    "change-pending",
    "active-error",
    "error",
];

/// Lists the cloud accounts the provider's API key can see, for `terraform query` (Terraform 1.14 or later): to find
/// accounts registered outside Terraform, and with `-generate-config-out` to write the `import` and `resource` blocks
/// that bring them under Terraform.
///
/// Redis Cloud's internal account (ID 1) and accounts being deleted are never listed. Each result is the account's
/// identity (its ID) and a display name of its name and ID; with `include_resource = true` also every attribute the
/// API returns. The secrets are always null: the API never returns them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListConfigModel {
    /// Only the account with exactly this name (case-sensitive).
    #[schemars(transform = tf::optional().validate(Validator::NotBlank))]
    pub name: Val<String>,
    /// Only accounts whose name matches this regular expression anywhere (RE2 syntax, as Terraform's `regex`
    /// function; anchor it with `^` and `$` to match the whole name).
    #[schemars(transform = tf::optional().validate(Validator::Regex))]
    pub name_regex: Val<String>,
    /// Only accounts of this cloud provider.
    #[schemars(transform = tf::optional().validate(Validator::one_of(&PROVIDER_TYPES)))]
    pub provider_type: Val<String>,
    /// Only accounts with this status.
    #[schemars(transform = tf::optional().validate(Validator::one_of(&LISTED_STATUSES)))]
    pub status: Val<String>,
}

/// The filters of a `config` block.
#[derive(Debug, Default)]
pub struct Filter {
    /// Exact, case-sensitive name.
    pub name: Option<String>,
    /// A pattern the name must match somewhere.
    pub name_regex: Option<regex::Regex>,
    /// `AWS` or `GCP`.
    pub provider_type: Option<String>,
    /// One of [`LISTED_STATUSES`].
    pub status: Option<String>,
}

impl Filter {
    /// Reads a validated `config` block.
    pub fn from_config(config: &Value) -> Result<Filter, ModelError> {
        let m: ListConfigModel = model::read(config)?;
        // Validation rejected a pattern that does not compile.
        Ok(Filter {
            name: m.name.into_known(),
            name_regex: m
                .name_regex
                .as_deref()
                .and_then(|p| regex::Regex::new(p).ok()),
            provider_type: m.provider_type.into_known(),
            status: m.status.into_known(),
        })
    }

    /// True when `account` is listed: not Redis Cloud's internal account, not being deleted,
    /// and passing every filter given.
    pub fn matches(&self, account: &CloudAccount) -> bool {
        let name = account.name.as_deref();
        account.id != INTERNAL_ACCOUNT_ID
            && !account.is_being_deleted()
            && self.name.as_deref().is_none_or(|n| name == Some(n))
            && self
                .name_regex
                .as_ref()
                .is_none_or(|re| name.is_some_and(|n| re.is_match(n)))
            && self
                .provider_type
                .as_deref()
                .is_none_or(|p| account.provider.as_deref() == Some(p))
            && self
                .status
                .as_deref()
                .is_none_or(|s| account.status.as_deref() == Some(s))
    }
}

/// The listed accounts, in ID order.
pub fn select<'a>(accounts: &'a [CloudAccount], filter: &Filter) -> Vec<&'a CloudAccount> {
    let mut found: Vec<&CloudAccount> = accounts.iter().filter(|a| filter.matches(a)).collect();
    found.sort_by_key(|a| a.id);
    found
}

/// What `terraform query` shows next to the identity: the account's name and ID.
pub fn display_name(account: &CloudAccount) -> String {
    match account.name.as_deref() {
        Some(name) => format!("{name} ({})", account.id),
        None => format!("cloud account {}", account.id),
    }
}

/// The resource object of an account: every attribute the API returns; the secrets, which it
/// never returns, and everything else only configuration holds, null.
pub fn resource_object(account: &CloudAccount) -> Value {
    let mut model = CloudAccountModel::default();
    model.merge(account);
    model.to_value()
}

#[async_trait]
impl ListResource for CloudAccountListResource {
    type Data = RedisCloud;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema_of::<ListConfigModel>(0)
    }

    async fn list(
        &self,
        data: &RedisCloud,
        req: ListRequest<'_>,
        out: &mut ListStream,
        diags: &mut Diagnostics,
    ) {
        let Some(client) = data.client(diags) else {
            return;
        };
        let client = client.bounded(Instant::now() + DEFAULT_READ_TIMEOUT, &req.stop);
        let filter = match Filter::from_config(req.config) {
            Ok(filter) => filter,
            Err(err) => {
                diags.error("Invalid List Configuration", err.to_string());
                return;
            }
        };
        let accounts = match client.list_cloud_accounts().await {
            Ok(accounts) => accounts,
            Err(err) => return report(diags, &err, req.stop.is_cancelled()),
        };
        for account in select(&accounts, &filter) {
            let mut account = account.clone();
            if req.include_resource && account.has_masked_fields() {
                // The list masks this entry's access key: the object must carry the real one,
                // or configuration generated from it would plan a change.
                match client.get_cloud_account(account.id).await {
                    Ok(full) => account = full,
                    // Deleted since the list, or too new to be read by ID: this account alone
                    // is left out; the others are still listed.
                    Err(err) if err.is_any_not_found() => {
                        diags.warning(
                            "Cloud Account Left Out",
                            format!(
                                "Cloud account {} ({:?}) is listed, but reading it by ID failed: {err}. It is left out of these results; query again to see it if it still exists.",
                                account.id,
                                account.name.as_deref().unwrap_or(""),
                            ),
                        );
                        continue;
                    }
                    Err(err) => return report(diags, &err, req.stop.is_cancelled()),
                }
            }
            let item = ListItem {
                identity: identity_value(&account.id.to_string()),
                display_name: display_name(&account),
                resource: req.include_resource.then(|| resource_object(&account)),
            };
            if out.send(item).await == Flow::Stop {
                return;
            }
        }
    }
}

/// Reports a failed API call, unless the query was stopped (Terraform stopped reading, or Ctrl-C).
fn report(diags: &mut Diagnostics, err: &Error, stopped: bool) {
    if !stopped {
        api_error(
            diags,
            "List Cloud Accounts",
            err,
            "Nothing was changed: a query only reads.",
            "A query's reads have a fixed deadline of 5 minutes, which ran out; run it again.",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, name: &str, provider: &str, status: &str) -> CloudAccount {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "provider": provider, "status": status,
            "accessKeyId": format!("AKIA{id}"),
        }))
        .expect("account")
    }

    fn accounts() -> Vec<CloudAccount> {
        vec![
            account(7, "prod-eu", "AWS", "active"),
            account(1, "Redis Internal Resources", "AWS", "active"),
            account(3, "prod-us", "GCP", "active"),
            account(4, "staging", "AWS", "error"),
            account(5, "prod-old", "AWS", "delete-draft"),
            account(6, "prod-gone", "AWS", "deleted"),
        ]
    }

    fn ids(filter: &Filter) -> Vec<i64> {
        select(&accounts(), filter).iter().map(|a| a.id).collect()
    }

    #[test]
    fn the_internal_account_and_accounts_being_deleted_are_never_listed() {
        assert_eq!(ids(&Filter::default()), [3, 4, 7]);
        let named = Filter {
            name: Some("Redis Internal Resources".into()),
            ..Filter::default()
        };
        assert!(ids(&named).is_empty());
    }

    #[test]
    fn every_filter_given_must_match() {
        let re = |p: &str| Some(regex::Regex::new(p).expect("regex"));
        assert_eq!(
            ids(&Filter {
                name_regex: re("^prod-"),
                ..Filter::default()
            }),
            [3, 7]
        );
        assert_eq!(
            ids(&Filter {
                name_regex: re("^prod-"),
                provider_type: Some("AWS".into()),
                ..Filter::default()
            }),
            [7]
        );
        assert_eq!(
            ids(&Filter {
                status: Some("error".into()),
                ..Filter::default()
            }),
            [4]
        );
        assert_eq!(
            ids(&Filter {
                name: Some("prod-us".into()),
                ..Filter::default()
            }),
            [3]
        );
        // Exact names are case-sensitive; a pattern matches anywhere unless anchored.
        assert!(
            ids(&Filter {
                name: Some("PROD-US".into()),
                ..Filter::default()
            })
            .is_empty()
        );
        assert_eq!(
            ids(&Filter {
                name_regex: re("eu"),
                ..Filter::default()
            }),
            [7]
        );
    }

    #[test]
    fn results_carry_name_and_id_and_an_object_without_secrets() {
        let a = account(7, "prod-eu", "AWS", "active");
        assert_eq!(display_name(&a), "prod-eu (7)");
        let object = resource_object(&a);
        assert_eq!(object.attr("id"), &Value::string("7"));
        assert_eq!(object.attr("name"), &Value::string("prod-eu"));
        assert_eq!(object.attr("access_key_id"), &Value::string("AKIA7"));
        assert_eq!(object.attr("status"), &Value::string("active"));
        for secret in [
            "access_secret_key",
            "access_secret_key_wo",
            "console_password",
            "console_password_wo",
            "console_username",
        ] {
            assert_eq!(object.attr(secret), &Value::Null, "{secret}");
        }
        let Some(fields) = object.as_object() else {
            panic!("an object")
        };
        let tfplugin::framework::value::Type::Object(attrs) =
            super::super::model::resource_schema().implied_type()
        else {
            panic!("an object type")
        };
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            attrs.keys().collect::<Vec<_>>(),
            "every attribute present"
        );
    }
}

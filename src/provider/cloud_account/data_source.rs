//! The `rediscloud_cloud_account` data source: finds exactly one cloud account
//! by name, provider type, and whether to skip Redis's internal account.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::model::{DEFAULT_READ_TIMEOUT, INTERNAL_ACCOUNT_ID, PROVIDER_TYPES, TYPE_NAME};
use crate::provider::RedisCloud;
use crate::provider::diagnostics::api_error;
use rediscloud_api::CloudAccount;
use tfplugin::framework::data_source::{DataSource, DataSourceReadRequest};
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::model::{self, Val, schema_of, tf};
use tfplugin::framework::schema::{Schema, Validator};
use tfplugin::framework::value::Value;

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

/// An account being deleted is still listed for a moment; it never matches.
fn is_being_deleted(account: &CloudAccount) -> bool {
    account.is_being_deleted()
}

impl Filter {
    /// True when `account` passes every filter given.
    pub fn matches(&self, account: &CloudAccount) -> bool {
        self.matches_but_name(account)
            && self
                .name
                .as_deref()
                .is_none_or(|n| account.name.as_deref() == Some(n))
    }

    /// Every filter but `name`: what a suggested name must pass.
    fn matches_but_name(&self, account: &CloudAccount) -> bool {
        let excluded = self.exclude_internal_account && account.id == INTERNAL_ACCOUNT_ID;
        !is_being_deleted(account)
            && !excluded
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

    /// Why no account matched, and what might have been meant.
    fn explain_no_match(&self, accounts: &[CloudAccount]) -> String {
        let Some(name) = self.name.as_deref() else {
            return "Check `provider_type`.".to_owned();
        };
        // The name is right, but another filter (or a deletion) rules the account out.
        if let Some(a) = accounts.iter().find(|a| a.name.as_deref() == Some(name)) {
            let why = if is_being_deleted(a) {
                format!(
                    "it is being deleted (status {:?})",
                    a.status.as_deref().unwrap_or("")
                )
            } else if self.exclude_internal_account && a.id == INTERNAL_ACCOUNT_ID {
                "`exclude_internal_account = true` skips it, as Redis Cloud's internal account"
                    .to_owned()
            } else {
                format!(
                    "its provider_type is {:?}",
                    a.provider.as_deref().unwrap_or("")
                )
            };
            return format!("Account {} has this name, but {why}.", a.id);
        }
        let suggestions = close_names(name, accounts.iter().filter(|a| self.matches_but_name(a)));
        match suggestions.as_slice() {
            [] => "Names match exactly and are case-sensitive; check `name` and `provider_type`."
                .to_owned(),
            found => {
                let listed = found
                    .iter()
                    .map(|a| format!("{:?} (ID {})", a.name.as_deref().unwrap_or(""), a.id))
                    .collect::<Vec<_>>()
                    .join(" or ");
                format!("Did you mean {listed}? Names match exactly and are case-sensitive.")
            }
        }
    }

    /// The filters not set yet that would tell `matches` apart, as advice.
    fn narrowing(&self, matches: &[&CloudAccount]) -> String {
        let mut options = Vec::new();
        if self.name.is_none() {
            options.push("`name`");
        }
        let providers: std::collections::BTreeSet<_> =
            matches.iter().map(|a| a.provider.as_deref()).collect();
        if self.provider_type.is_none() && providers.len() > 1 {
            options.push("`provider_type`");
        }
        if !self.exclude_internal_account && matches.iter().any(|a| a.id == INTERNAL_ACCOUNT_ID) {
            options.push("`exclude_internal_account = true`");
        }
        match options.as_slice() {
            [] => "Every filter that could tell them apart is already set; give the accounts distinct names so that exactly one matches.".to_owned(),
            [one] => format!("Narrow the search with {one} so that exactly one matches."),
            [init @ .., last] => format!(
                "Narrow the search with {} or {last} so that exactly one matches.",
                init.join(", ")
            ),
        }
    }
}

/// Accounts whose names are close to `name`: equal but for case, or else within a small edit
/// distance. At most three, closest first.
fn close_names<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a CloudAccount>,
) -> Vec<&'a CloudAccount> {
    let wanted = name.to_lowercase();
    // One typo per five characters, at least one and at most three.
    let allowed = (wanted.chars().count() / 5).clamp(1, 3);
    let mut scored: Vec<(usize, &CloudAccount)> = candidates
        .filter_map(|a| {
            let have = a.name.as_deref()?.to_lowercase();
            let d = edit_distance(&wanted, &have);
            (d <= allowed).then_some((d, a))
        })
        .collect();
    scored.sort_by_key(|(d, a)| (*d, a.id));
    scored.into_iter().take(3).map(|(_, a)| a).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diag = above;
        }
    }
    row[b.len()]
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
                    "Your query returned no results: 0 of {} cloud accounts match ({}). {}",
                    accounts.len(),
                    filter.describe(),
                    filter.explain_no_match(accounts),
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
                    "{} cloud accounts match ({}): {listed}. {}",
                    many.len(),
                    filter.describe(),
                    filter.narrowing(many),
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
        schema_of::<CloudAccountDataModel>(0)
    }

    async fn read(
        &self,
        data: &RedisCloud,
        req: DataSourceReadRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = data.client(diags)?;
        let mut model: CloudAccountDataModel = match model::read(req.config) {
            Ok(m) => m,
            Err(err) => {
                diags.error("Invalid Data Source Configuration", err.to_string());
                return None;
            }
        };
        let filter = Filter {
            name: model.name.known().cloned(),
            provider_type: model.provider_type.known().cloned(),
            exclude_internal_account: model
                .exclude_internal_account
                .known()
                .copied()
                .unwrap_or(false),
        };
        // Bounded like a resource's read, so that StopProvider or a stalled API ends it with an
        // error (Terraform takes a null object without one for a provider bug).
        let client = client.bounded(Instant::now() + DEFAULT_READ_TIMEOUT, &req.stop);
        let deadline_said = format!(
            "A data source's read has a fixed deadline of {} minutes, which ran out; run the command again.",
            DEFAULT_READ_TIMEOUT.as_secs() / 60
        );
        let accounts = match client.list_cloud_accounts().await {
            Ok(a) => a,
            Err(err) => {
                api_error(diags, "List Cloud Accounts", &err, "", &deadline_said);
                return None;
            }
        };
        let listed = select(&accounts, &filter, diags)?;
        // The list may mask the access key (`A***E`): read such an account by ID for its values.
        let read_by_id;
        let account = if listed.has_masked_fields() {
            read_by_id = match client.get_cloud_account(listed.id).await {
                Ok(a) => a,
                Err(err) => {
                    api_error(
                        diags,
                        "Read Cloud Account",
                        &err,
                        &format!(
                            "The list masks cloud account {}'s access key, so it is read by ID; run the command again.",
                            listed.id
                        ),
                        &deadline_said,
                    );
                    return None;
                }
            };
            &read_by_id
        } else {
            listed
        };
        model.found(account, filter.exclude_internal_account);
        match model::write(&model) {
            Ok(value) => Some(value),
            Err(err) => {
                diags.error(
                    "Provider Internal Error",
                    format!(
                        "The cloud account could not be written out: {err}. Please report this bug."
                    ),
                );
                None
            }
        }
    }
}

/// Looks up exactly one existing cloud account, for example one registered outside this configuration, by its name
/// and provider type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CloudAccountDataModel {
    /// Exact, case-sensitive name of the cloud account to find.
    #[schemars(transform = tf::optional_computed().validate(Validator::NotBlank))]
    pub name: Val<String>,
    /// Only consider accounts of this cloud provider: `AWS` or `GCP`.
    #[schemars(transform = tf::optional_computed().validate(Validator::one_of(&PROVIDER_TYPES)))]
    pub provider_type: Val<String>,
    /// Skip Redis Cloud's internal account (ID 1, "Redis Internal Resources"). Default `false`.
    #[schemars(transform = tf::optional_computed())]
    pub exclude_internal_account: Val<bool>,
    /// The cloud account ID.
    #[schemars(transform = tf::computed())]
    pub id: Val<String>,
    /// Access key ID of the account's IAM user.
    #[schemars(transform = tf::computed())]
    pub access_key_id: Val<String>,
    /// Status of the cloud account.
    #[schemars(transform = tf::computed())]
    pub status: Val<String>,
    /// ARN of the AWS console role (AWS only).
    #[schemars(transform = tf::computed())]
    pub aws_console_role_arn: Val<String>,
    /// ARN of the AWS IAM user (AWS only).
    #[schemars(transform = tf::computed())]
    pub aws_user_arn: Val<String>,
}

impl CloudAccountDataModel {
    /// Records the account found.
    fn found(&mut self, account: &CloudAccount, exclude_internal_account: bool) {
        self.id = Val::Known(account.id.to_string());
        // Read back as the default it is documented to have, not null.
        self.exclude_internal_account = Val::Known(exclude_internal_account);
        self.name = account.name.clone().into();
        self.provider_type = account.provider.clone().into();
        self.access_key_id = account.access_key_id.clone().into();
        self.status = account.status.clone().into();
        self.aws_console_role_arn = account.aws_console_role_arn.clone().into();
        self.aws_user_arn = account.aws_user_arn.clone().into();
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

    fn detail(accounts: &[CloudAccount], f: &Filter) -> String {
        let mut d = Diagnostics::new();
        assert!(select(accounts, f, &mut d).is_none());
        d.0[0].detail.clone()
    }

    #[test]
    fn the_advice_for_several_matches_names_only_filters_not_set_yet() {
        let mut more = accounts();
        more.push(account(5, "staging", "AWS", "active"));
        // The internal account is not among the matches: excluding it would not help.
        let text = detail(
            &more,
            &Filter {
                provider_type: Some("AWS".into()),
                exclude_internal_account: true,
                ..Filter::default()
            },
        );
        assert!(text.contains("Narrow the search with `name` so"), "{text}");
        assert!(
            !text.contains("exclude_internal_account = true so"),
            "{text}"
        );
        assert!(!text.contains("`provider_type`"), "{text}");
        // Unset, and the internal account matches: both suggested.
        let text = detail(
            &more,
            &Filter {
                provider_type: Some("AWS".into()),
                ..Filter::default()
            },
        );
        assert!(
            text.contains("Narrow the search with `name` or `exclude_internal_account = true` so"),
            "{text}"
        );
        // The same name under two providers: only `provider_type` can tell them apart.
        let text = detail(
            &more,
            &Filter {
                name: Some("prod".into()),
                exclude_internal_account: true,
                ..Filter::default()
            },
        );
        assert!(
            text.contains("Narrow the search with `provider_type` so"),
            "{text}"
        );
    }

    #[test]
    fn a_name_differing_only_in_case_gets_a_did_you_mean() {
        let text = detail(
            &accounts(),
            &Filter {
                name: Some("PROD".into()),
                provider_type: Some("GCP".into()),
                ..Filter::default()
            },
        );
        assert!(text.contains(r#"Did you mean "prod" (ID 3)?"#), "{text}");
        // A suggestion honours the other filters: account 2 is AWS.
        assert!(!text.contains("ID 2"), "{text}");
    }

    #[test]
    fn a_close_name_gets_a_did_you_mean_and_a_distant_one_does_not() {
        let mut more = accounts();
        more.push(account(5, "production-byoa", "AWS", "active"));
        let text = detail(
            &more,
            &Filter {
                name: Some("producton-byoa".into()),
                ..Filter::default()
            },
        );
        assert!(
            text.contains(r#"Did you mean "production-byoa" (ID 5)?"#),
            "{text}"
        );
        let text = detail(
            &more,
            &Filter {
                name: Some("analytics".into()),
                ..Filter::default()
            },
        );
        assert!(!text.contains("Did you mean"), "{text}");
        assert!(text.contains("case-sensitive"), "{text}");
        // Never a deleted account.
        let text = detail(
            &more,
            &Filter {
                name: Some("Gone".into()),
                ..Filter::default()
            },
        );
        assert!(!text.contains("Did you mean"), "{text}");
    }

    #[test]
    fn an_exact_name_excluded_by_another_filter_says_which() {
        let text = detail(
            &accounts(),
            &Filter {
                name: Some("Redis Internal Resources".into()),
                exclude_internal_account: true,
                ..Filter::default()
            },
        );
        assert!(
            text.contains(
                "Account 1 has this name, but `exclude_internal_account = true` skips it"
            ),
            "{text}"
        );
        let mut more = accounts();
        more.push(account(5, "analytics", "GCP", "active"));
        let text = detail(
            &more,
            &Filter {
                name: Some("analytics".into()),
                provider_type: Some("AWS".into()),
                ..Filter::default()
            },
        );
        assert!(
            text.contains(r#"Account 5 has this name, but its provider_type is "GCP""#),
            "{text}"
        );
        let text = detail(
            &more,
            &Filter {
                name: Some("gone".into()),
                ..Filter::default()
            },
        );
        assert!(
            text.contains(r#"Account 4 has this name, but it is being deleted (status "deleted")"#),
            "{text}"
        );
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

//! The Redis Cloud provider: the provider block (URL and API keys, with the
//! official provider's environment variables), and the types it serves.

pub mod cloud_account;
pub mod diagnostics;

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use rediscloud_api::{Client, ClientConfig, PollPolicy, RetryPolicy, Secret};
use tfplugin::framework::data_source::DataSource;
use tfplugin::framework::diag::Diagnostics;
use tfplugin::framework::list_resource::ListResource;
use tfplugin::framework::model::{self, Val, schema_of, tf};
use tfplugin::framework::path::AttributePath;
use tfplugin::framework::provider::{ConfigureRequest, Provider};
use tfplugin::framework::resource::AnyResource;
use tfplugin::framework::schema::{Schema, Validator};

/// The provider's version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis Cloud API used when neither `url` nor `REDISCLOUD_URL` is set.
pub const DEFAULT_URL: &str = "https://api.redislabs.com/v1";
/// Environment variable for the API URL (same name as the official provider).
pub const ENV_URL: &str = "REDISCLOUD_URL";
/// Environment variable for the account API key.
pub const ENV_ACCESS_KEY: &str = "REDISCLOUD_ACCESS_KEY";
/// Environment variable for the user API secret key.
pub const ENV_SECRET_KEY: &str = "REDISCLOUD_SECRET_KEY";

/// Test-only knob: the task-visibility grace in milliseconds (default 10 s).
/// Text appended to the provider's `User-Agent`, as Terraform's own SDKs honour it: it tells
/// the API (and a shared emulator's log) which pipeline or workspace sent a request.
pub const ENV_APPEND_USER_AGENT: &str = "TF_APPEND_USER_AGENT";
pub const ENV_TEST_VISIBILITY_GRACE_MS: &str = "REDISCLOUD_TEST_VISIBILITY_GRACE_MS";
/// Test-only knob: how often a long wait logs its progress, in milliseconds (default 10 s).
pub const ENV_TEST_PROGRESS_INTERVAL_MS: &str = "REDISCLOUD_TEST_PROGRESS_INTERVAL_MS";

/// The `rediscloud` provider.
#[derive(Debug, Default)]
pub struct RedisCloudProvider {
    tuning: Option<ClientTuning>,
}

/// Client timings that in-process tests shorten (poll schedule, retries and
/// the grace for things the API has not shown yet); Terraform always gets the
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct ClientTuning {
    pub poll: PollPolicy,
    pub retry: RetryPolicy,
    /// How long one HTTP request may take; `None` keeps the client's default.
    pub http_timeout: Option<std::time::Duration>,
}

impl RedisCloudProvider {
    /// The provider with the client's default timings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider with other client timings (tests).
    pub fn tuned(tuning: ClientTuning) -> Self {
        RedisCloudProvider {
            tuning: Some(tuning),
        }
    }
}

/// The Redis Cloud provider manages Redis Cloud "Bring Your Own Account" (BYOA) cloud accounts through the Redis Cloud
/// REST API v1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderModel {
    /// Base URL of the Redis Cloud API, including `/v1`. Defaults to the `REDISCLOUD_URL` environment variable, then
    /// to `https://api.redislabs.com/v1`.
    #[schemars(transform = tf::optional().validate(Validator::HttpUrl))]
    pub url: Val<String>,
    /// Redis Cloud account API key. Defaults to the `REDISCLOUD_ACCESS_KEY` environment variable.
    #[schemars(transform = tf::optional().sensitive().validate(Validator::NotBlank).validate(Validator::HeaderValue))]
    pub api_key: Val<Secret>,
    /// Redis Cloud user API secret key. Defaults to the `REDISCLOUD_SECRET_KEY` environment variable.
    #[schemars(transform = tf::optional().sensitive().validate(Validator::NotBlank).validate(Validator::HeaderValue))]
    pub secret_key: Val<Secret>,
}

/// What every resource receives: an API client, or why there is none.
#[derive(Debug)]
pub struct RedisCloud {
    client: Result<Client, String>,
    /// The accounts the refreshes of this process read: the ones this workspace's state holds.
    in_state: std::sync::Mutex<std::collections::BTreeSet<i64>>,
}

impl RedisCloud {
    /// Records that this workspace's state holds account `id` (a refresh read it); false when
    /// a refresh of this process already read it, for another resource of the same state.
    pub fn note_in_state(&self, id: i64) -> bool {
        self.in_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    /// Whether a refresh of this process read account `id` from this workspace's state.
    pub fn is_in_state(&self, id: i64) -> bool {
        self.in_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// The API client, or an error diagnostic explaining why the provider
    /// could not build one.
    pub fn client(&self, diags: &mut Diagnostics) -> Option<&Client> {
        match &self.client {
            Ok(c) => Some(c),
            Err(why) => {
                diags.error("Redis Cloud Provider Not Configured", why.clone());
                None
            }
        }
    }
}

/// The provider's `User-Agent`, with `appended` (`TF_APPEND_USER_AGENT`) at its end. Characters
/// a header cannot carry are left out of the appended part rather than failing the provider.
fn user_agent(terraform_version: &str, appended: Option<String>) -> String {
    let mut ua = format!(
        "terraform-provider-rediscloud/{VERSION} (+https://registry.terraform.io/providers/redislabs/rediscloud) Terraform/{}",
        terraform_version
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .collect::<String>()
    );
    let extra: String = appended
        .unwrap_or_default()
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    if !extra.trim().is_empty() {
        ua.push(' ');
        ua.push_str(extra.trim());
    }
    ua
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[async_trait]
impl Provider for RedisCloudProvider {
    type Data = RedisCloud;

    fn type_name(&self) -> &'static str {
        "rediscloud"
    }

    fn schema(&self) -> Schema {
        schema_of::<ProviderModel>(0)
    }

    async fn configure(
        &self,
        req: ConfigureRequest<'_>,
        diags: &mut Diagnostics,
    ) -> Option<RedisCloud> {
        let stop = req.stop.clone();
        let (data, origins) = self.configure_with_env(req, &env_nonempty, diags)?;
        // Prove the URL and both keys now, so that a wrong one fails the plan on the provider
        // block, before anything is planned or sent; the list it reads serves the refreshes.
        if let Ok(client) = &data.client {
            let until = tokio::time::Instant::now() + VERIFY_BOUND;
            if let Err(err) = client.bounded(until, &stop).verify_access().await {
                access_error(diags, &err, &origins);
                return None;
            }
        }
        Some(data)
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource<Data = RedisCloud>>> {
        vec![Arc::new(cloud_account::resource::CloudAccountResource)]
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Data = RedisCloud>>> {
        vec![Arc::new(cloud_account::data_source::CloudAccountDataSource)]
    }

    fn list_resources(&self) -> Vec<Arc<dyn ListResource<Data = RedisCloud>>> {
        vec![Arc::new(
            cloud_account::list_resource::CloudAccountListResource,
        )]
    }
}

impl RedisCloudProvider {
    /// [`Provider::configure`] with the environment read through `env` (non-empty values only).
    fn configure_with_env(
        &self,
        req: ConfigureRequest<'_>,
        env: &dyn Fn(&str) -> Option<String>,
        diags: &mut Diagnostics,
    ) -> Option<(RedisCloud, Origins)> {
        let config = req.config;
        // A provider block that depends on other resources is unknown during
        // plan; operations that need the API will say so if that ever matters.
        if !config.is_wholly_known() {
            return Some((RedisCloud {
                in_state: Default::default(),
                client: Err("The provider configuration depends on values that are not known yet, so the Redis Cloud API cannot be called during this plan. Apply the resources it depends on first (for example with -target).".to_owned()),
            }, Origins::default()));
        }
        let model: ProviderModel = match model::read(config) {
            Ok(m) => m,
            Err(err) => {
                diags.error(
                    "Invalid Redis Cloud Provider Configuration",
                    err.to_string(),
                );
                return None;
            }
        };
        let mut origins = Origins {
            url_in_block: model.url.known().is_some(),
            api_key_in_block: model.api_key.known().is_some(),
            secret_key_in_block: model.secret_key.known().is_some(),
            url: String::new(),
        };
        let url = match model.url.into_known() {
            Some(u) => u,
            None => match env(ENV_URL) {
                // The attribute's validator never saw this value: check it as carefully here.
                Some(u) => {
                    if let Some(problem) = env_url_problem(&u) {
                        diags.error(
                            format!("Invalid {ENV_URL} Environment Variable"),
                            format!(
                                "The {ENV_URL} environment variable {problem} It is the base URL of the Redis Cloud API, including `/v1`, e.g. `{DEFAULT_URL}` (or `http://127.0.0.1:8080/v1` for a local emulator). Fix or unset it, or set `url` in the provider block, which takes precedence."
                            ),
                        );
                        return None;
                    }
                    u
                }
                None => DEFAULT_URL.to_owned(),
            },
        };
        let pick =
            |attr: Val<Secret>, var: &str| attr.into_known().or_else(|| env(var).map(Secret::new));
        let api_key = pick(model.api_key, ENV_ACCESS_KEY);
        let secret_key = pick(model.secret_key, ENV_SECRET_KEY);
        if api_key.is_none() {
            diags.attribute_error(
                AttributePath::root("api_key"),
                "Missing Redis Cloud API Key",
                format!("Set `api_key` in the provider block or the {ENV_ACCESS_KEY} environment variable to the Redis Cloud account API key."),
            );
        }
        if secret_key.is_none() {
            diags.attribute_error(
                AttributePath::root("secret_key"),
                "Missing Redis Cloud API Secret Key",
                format!("Set `secret_key` in the provider block or the {ENV_SECRET_KEY} environment variable to the Redis Cloud user API secret key."),
            );
        }
        let (Some(api_key), Some(secret_key)) = (api_key, secret_key) else {
            return None;
        };
        origins.url = url.clone();
        let mut cfg = ClientConfig::new(url, api_key, secret_key);
        cfg.user_agent = user_agent(req.terraform_version, env_nonempty(ENV_APPEND_USER_AGENT));
        // Test-only: the emulator's task-visibility window is known and short, so the test
        // suite shortens the grace that reconciliation waits before re-sending a write.
        if let Some(ms) =
            env(ENV_TEST_VISIBILITY_GRACE_MS).and_then(|v| v.trim().parse::<u64>().ok())
        {
            cfg.task_poll.not_found_grace = std::time::Duration::from_millis(ms);
        }
        if let Some(t) = &self.tuning {
            cfg.task_poll = t.poll.clone();
            cfg.retry = t.retry.clone();
            if let Some(timeout) = t.http_timeout {
                cfg.http_timeout = timeout;
            }
        }
        // Test-only: a test sees the progress line of a wait without waiting 10 s for it.
        if let Some(ms) =
            env(ENV_TEST_PROGRESS_INTERVAL_MS).and_then(|v| v.trim().parse::<u64>().ok())
        {
            cfg.task_poll.progress_interval = std::time::Duration::from_millis(ms);
        }
        let url_is_bad = rediscloud_api::base_url_problem(&cfg.base_url).is_some();
        match Client::new(cfg) {
            Ok(client) => Some((
                RedisCloud {
                    client: Ok(client),
                    in_state: Default::default(),
                },
                origins,
            )),
            Err(e) => {
                let summary = "Invalid Redis Cloud Provider Configuration";
                let detail = format!("The Redis Cloud API client could not be created: {e}");
                // Only a bad `url` attribute gets here with a URL problem (the variable was
                // checked above); anything else (a key no header can carry) is not about `url`.
                if url_is_bad {
                    diags.attribute_error(AttributePath::root("url"), summary, detail);
                } else {
                    diags.error(summary, detail);
                }
                None
            }
        }
    }
}

/// How long ConfigureProvider may spend proving the URL and the keys: one list request with its
/// retries of transient failures.
const VERIFY_BOUND: std::time::Duration = std::time::Duration::from_secs(90);

/// Where the provider block's settings came from, for messages that must name them.
#[derive(Debug, Default)]
struct Origins {
    url_in_block: bool,
    api_key_in_block: bool,
    secret_key_in_block: bool,
    /// The base URL used.
    url: String,
}

impl Origins {
    fn api_key(&self) -> String {
        if self.api_key_in_block {
            "`api_key` in the provider block".to_owned()
        } else {
            format!("the {ENV_ACCESS_KEY} environment variable")
        }
    }

    fn secret_key(&self) -> String {
        if self.secret_key_in_block {
            "`secret_key` in the provider block".to_owned()
        } else {
            format!("the {ENV_SECRET_KEY} environment variable")
        }
    }

    fn url_source(&self) -> String {
        if self.url_in_block {
            "`url` in the provider block".to_owned()
        } else if self.url == DEFAULT_URL {
            format!("the default (neither `url` nor {ENV_URL} is set)")
        } else {
            format!("the {ENV_URL} environment variable")
        }
    }
}

/// The diagnostic for a configuration whose URL or keys the API did not accept. Terraform shows
/// it on the provider block; nothing was planned or sent.
fn access_error(diags: &mut Diagnostics, err: &rediscloud_api::Error, o: &Origins) {
    use rediscloud_api::Error;
    let url = &o.url;
    let nothing = "Nothing was planned or changed.";
    let (summary, detail) = match err {
        Error::Unauthorized { .. } => (
            "Redis Cloud Rejected the API Keys",
            format!(
                "The Redis Cloud API at {url} answered HTTP 401 to the provider's first request: the API key or the secret key is wrong. The API key (the account key) comes from {}, and the secret key (a user key of the same account) from {}. Check both in the Redis Cloud console, under Access Management → API Keys, and that API access is enabled for the account. {nothing}",
                o.api_key(),
                o.secret_key()
            ),
        ),
        Error::Forbidden { .. } => (
            "Redis Cloud Denied the API Key",
            format!(
                "{err}.\n\nThe keys from {} and {} were recognised, but this key may not read cloud accounts: check its role and any source-IP allow list in the Redis Cloud console. {nothing}",
                o.api_key(),
                o.secret_key()
            ),
        ),
        Error::UnrecognisedNotFound { .. } | Error::Decode { .. } => (
            "Not the Redis Cloud API",
            format!(
                "{err}\n\nThe URL comes from {}. It must be the API's base URL including the version, e.g. `{DEFAULT_URL}` (or `http://127.0.0.1:8080/v1` for a local emulator). {nothing}",
                o.url_source()
            ),
        ),
        Error::Cancelled { .. } => (
            "Interrupted",
            format!(
                "Terraform was interrupted while the provider checked its credentials with the Redis Cloud API at {url}. {nothing}"
            ),
        ),
        _ => (
            "Cannot Reach the Redis Cloud API",
            format!(
                "The provider checks its URL and keys with one request before planning anything, and it failed: {err}.\n\nThe URL is {url}, from {}. Check the network connection and the URL, then run the same Terraform command again. {nothing}",
                o.url_source()
            ),
        ),
    };
    if o.url_in_block && summary == "Not the Redis Cloud API" {
        diags.attribute_error(AttributePath::root("url"), summary, detail);
    } else {
        diags.error(summary, detail);
    }
}

/// What is wrong with a `REDISCLOUD_URL` value, as a sentence: the `url` attribute's own
/// check, then what the client needs of a base URL (no query, no fragment).
fn env_url_problem(raw: &str) -> Option<String> {
    let value = raw.trim();
    let problem = Validator::HttpUrl.problem(value).or_else(|| {
        rediscloud_api::base_url_problem(value).map(|p| format!("{p}, got: {value:?}"))
    })?;
    Some(if problem.ends_with('.') {
        problem
    } else {
        format!("{problem}.")
    })
}

/// The documentation pages: `(path under docs/, text)`, rendered from the
/// schemas this provider serves, then the guides of `examples/guides/`.
/// `cargo xtask docs` writes them; a test checks the committed copies are current.
pub fn documentation(examples: &std::path::Path) -> Vec<(String, String)> {
    use tfplugin::framework::docs::{Page, PageKind, render};
    let provider = RedisCloudProvider::new();
    let mut pages = vec![(
        "index.md".to_owned(),
        render(
            &Page {
                kind: PageKind::Provider,
                name: "rediscloud",
                schema: &provider.schema(),
                notes: PROVIDER_NOTES,
            },
            "rediscloud",
            examples,
        ),
    )];
    for r in provider.resources() {
        let short = r.type_name().trim_start_matches("rediscloud_").to_owned();
        pages.push((
            format!("resources/{short}.md"),
            render(
                &Page {
                    kind: PageKind::Resource,
                    name: r.type_name(),
                    schema: &r.schema(),
                    notes: RESOURCE_NOTES,
                },
                "rediscloud",
                examples,
            ),
        ));
    }
    for d in provider.data_sources() {
        let short = d.type_name().trim_start_matches("rediscloud_").to_owned();
        pages.push((
            format!("data-sources/{short}.md"),
            render(
                &Page {
                    kind: PageKind::DataSource,
                    name: d.type_name(),
                    schema: &d.schema(),
                    notes: "",
                },
                "rediscloud",
                examples,
            ),
        ));
    }
    for l in provider.list_resources() {
        let short = l.type_name().trim_start_matches("rediscloud_").to_owned();
        pages.push((
            format!("list-resources/{short}.md"),
            render(
                &Page {
                    kind: PageKind::ListResource,
                    name: l.type_name(),
                    schema: &l.schema(),
                    notes: LIST_RESOURCE_NOTES,
                },
                "rediscloud",
                examples,
            ),
        ));
    }
    pages.extend(tfplugin::framework::docs::guides(examples));
    pages
}

const PROVIDER_NOTES: &str = "## Authentication\n\nCreate an API key for your Redis Cloud account (Access Management → API Keys) and pass it with the `REDISCLOUD_ACCESS_KEY` and `REDISCLOUD_SECRET_KEY` environment variables, or the `api_key` and `secret_key` arguments. Missing credentials are reported when Terraform configures the provider for plan, apply or import, never by `terraform validate`.\n\n## Logging\n\nThe provider logs to Terraform's log as structured lines. With `TF_LOG=INFO` (or `TF_LOG_PROVIDER=INFO`), every change of a task's or account's status is logged with the time left (`poll saw cloud account 7 in status pending (first look); deadline in 9m58s`), and a long wait says every 10 seconds what it waits for, the status now, the time spent and the time left (`still waiting for cloud account 7 to become active: status pending after 2m10s; deadline in 7m50s`). Set `TF_LOG=DEBUG` to see every API request (`GET https://api.redislabs.com/v1/cloud-accounts: HTTP 200 in 41 ms (attempt 1)`) except the shared polls that succeed, which, with the status every poll saw, are at `TF_LOG=TRACE`. Each message states its facts in a fixed order; Terraform prints the fields that follow it in an order that changes from line to line. Credentials and secret attributes never appear in any log.\n";

const RESOURCE_NOTES: &str = "## Secrets, drift and import\n\nRedis Cloud never returns `access_secret_key`, `console_username` or `console_password`, so changes made to them outside Terraform cannot be detected: they keep the values last applied. Redis Cloud returns `sign_in_login_url` for some accounts but not all: where it does, a change made outside Terraform shows in the next plan; where it does not, the value last applied is kept.\n\nAfter an import those attributes are unknown to Terraform, so the first plan shows an in-place update that sets them from your configuration (never one that blanks them); applying it sends the credentials to Redis Cloud again, which re-verifies them, and the plan after that is empty. With the write-only forms the same happens through the `*_wo_version` attributes.\n\n## Timeouts\n\nEach operation waits for the Redis Cloud task and then for the account to become `active` (or, on delete, to be gone), within the `timeouts` given (defaults: create, update and delete 10 minutes; read 5 minutes; each at least `1s`, since every operation makes at least one API round trip). If a wait fails or times out after the account was created, the account is still recorded in state, marked tainted, so it is never lost.\n\n## Migrating from the official provider\n\nThe resource type, attribute names and state format are the official provider's. Install this build under the same source address (`redislabs/rediscloud`); the first plan upgrades the existing state in place and shows no changes.\n";

const LIST_RESOURCE_NOTES: &str = "## Bringing accounts under Terraform\n\n`terraform query -generate-config-out=generated.tf` writes, for each account found, a `resource` block and an `import` block that imports it by identity. The provider decides what the resource block holds: every value the API returns, nothing only the provider sets, and the write-only secrets with their `*_wo_version` set to 1. The API never returns the secrets or the console user name, so three lines per account are left for you: replace `access_secret_key_wo = null # sensitive` and `console_password_wo = null # sensitive` with variables (ephemeral ones keep the secrets out of plan and state), and `console_username = null` with the user name. Redis Cloud returns `sign_in_login_url` for some accounts only; where it does not, that line is `null` too and needs the sign-in URL. Until then `terraform plan` fails, naming each missing value, and sends nothing.\n\nThe next `terraform plan` shows each account to import and one in-place update, which sends the credentials the API cannot return (the same update as after any import); after `terraform apply` the plan is empty. Queries and plans only read from Redis Cloud.\n\nGenerate from one `list` block at a time, or from blocks that cannot find the same account: each block writes its own resource for every account it finds.\n\n`terraform query` needs Terraform 1.14 or later.\n";

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin::framework::value::Value;

    #[test]
    fn tf_append_user_agent_ends_the_user_agent_and_cannot_break_the_header() {
        let plain = user_agent("1.15.5", None);
        assert!(
            plain.starts_with("terraform-provider-rediscloud/"),
            "{plain}"
        );
        assert!(plain.ends_with(" Terraform/1.15.5"), "{plain}");
        let ua = user_agent("1.15.5", Some("  ci/deploy-eu\tstage\n ".to_owned()));
        assert_eq!(ua, format!("{plain} ci/deploy-eu stage"));
        assert_eq!(user_agent("1.15.5", Some(" \r\n".to_owned())), plain);
        assert!(reqwest_header_ok(&user_agent(
            "1.15\n",
            Some("é\u{7f}x".to_owned())
        )));
    }

    fn reqwest_header_ok(s: &str) -> bool {
        s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    }

    fn provider_config(url: Option<&str>) -> Value {
        Value::Object(
            [
                ("url", url.map_or(Value::Null, Value::string)),
                ("api_key", Value::Null),
                ("secret_key", Value::Null),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        )
    }

    /// Configures with `url` in the block and only these environment variables.
    fn configure(url: Option<&str>, vars: &[(&str, &str)]) -> (bool, Diagnostics) {
        let vars: Vec<(String, String)> = [(ENV_ACCESS_KEY, "key"), (ENV_SECRET_KEY, "secret")]
            .iter()
            .chain(vars)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.trim().is_empty())
        };
        let config = provider_config(url);
        let mut diags = Diagnostics::new();
        let data = RedisCloudProvider::new().configure_with_env(
            ConfigureRequest {
                config: &config,
                terraform_version: "1.15.5",
                stop: tokio_util::sync::CancellationToken::new(),
            },
            &env,
            &mut diags,
        );
        (data.is_some(), diags)
    }

    #[test]
    fn a_bad_redis_cloud_url_variable_is_named_with_its_value() {
        for (bad, says) in [
            (
                "api.redislabs.com/v1",
                "has no scheme (write it as \"https://api.redislabs.com/v1\")",
            ),
            ("localhost:8080/v1", "got: \"localhost:8080/v1\""),
            ("ftp://api.redislabs.com/v1", "http:// or https://"),
            ("https://api.redislabs.com/v1?x=1", "query"),
        ] {
            let (ok, diags) = configure(None, &[(ENV_URL, bad)]);
            assert!(!ok, "{bad} was accepted");
            let d = diags.iter().next().expect("a diagnostic");
            assert_eq!(
                d.summary, "Invalid REDISCLOUD_URL Environment Variable",
                "{bad}"
            );
            assert!(
                d.detail
                    .contains("The REDISCLOUD_URL environment variable must"),
                "{}",
                d.detail
            );
            assert!(d.detail.contains(says), "{bad}: {}", d.detail);
            assert!(d.detail.contains(bad), "{bad}: {}", d.detail);
            assert!(d.detail.contains("/v1"), "{}", d.detail);
        }
    }

    #[test]
    fn the_url_attribute_wins_over_a_bad_variable_and_good_variables_configure() {
        let (ok, diags) = configure(
            Some("https://api.redislabs.com/v1"),
            &[(ENV_URL, "not a url")],
        );
        assert!(ok && !diags.has_error(), "{:?}", diags.0);
        let (ok, diags) = configure(None, &[(ENV_URL, " http://127.0.0.1:8080/v1 ")]);
        assert!(ok && !diags.has_error(), "{:?}", diags.0);
        let (ok, diags) = configure(None, &[]);
        assert!(ok && !diags.has_error(), "{:?}", diags.0);
    }
}

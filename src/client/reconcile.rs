//! Reconciliation of writes whose answer was lost: which account a create made, whether an
//! update or a delete happened, and when it is certain that nothing happened so the write may
//! be sent again.
//!
//! A write's answer is either definite (2xx, or a 4xx, which changed nothing) or ambiguous
//! ([`Error::Ambiguous`]: the connection was lost after sending, a 5xx, a 408, or a timeout
//! reading the answer). An ambiguous write is never repeated blindly:
//!
//! - **Create.** Before the POST, the account list is read once (the *snapshot*). A name or an
//!   access key that a live account already carries fails at once, naming that account, instead
//!   of queueing a task that is certain to fail (a masked listed key that may be the requested
//!   one is read by ID); when the API refuses a create for either, a fresh list names the
//!   account that holds it. After an ambiguous POST, an account is adopted only if it is absent
//!   from the snapshot, carries the requested name, provider and access key, is not claimed by
//!   another write of this process, and was not made by a task another write of this process
//!   owns. The POST is sent again only once no such account exists, no create task that could be
//!   ours is still queued, and at least the task-visibility grace has passed since it was sent
//!   (a brand-new task can be invisible for that long).
//! - **Update.** A PUT carries absolute values, so applying it twice has the effect of applying
//!   it once. After an ambiguous PUT the account is watched until no update is in progress and
//!   the grace has passed; the PUT is then sent again unless every field it sets that the API
//!   returns already has the requested value and it rotates no secret.
//! - **Delete.** After an ambiguous DELETE the account is read: gone (proven) or being deleted
//!   means it was applied; otherwise, once nothing is in progress and the grace has passed, the
//!   DELETE is sent again (a second DELETE of a deleted account is answered "not found").
//!
//! "Gone" is proven only by the API's own not-found error or by a successful list without the
//! account ([`Client::prove_gone`]), never by any 404.
//!
//! [`Claims`] is what makes concurrent writes of one provider process safe: every task a
//! definite answer returned and every account a write resolved to belongs to that write alone.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::http::{POST_DEADLINE_GRACE, grace_after_stop};
use super::models::{
    AccountStatusKind, CloudAccount, CloudAccountCreateRequest, CloudAccountUpdateRequest,
    TaskStateUpdate, TaskStatus,
};
use super::{Client, Error, TaskFailure};

/// Redis Cloud's own cloud account, listed for everyone; it counts towards no limit.
const INTERNAL_ACCOUNT_ID: i64 = 1;

/// How many times one operation sends the same write at most.
const MAX_SENDS: u32 = 3;

/// How old a shared list may be to serve as a create's snapshot.
const SNAPSHOT_STALENESS: Duration = Duration::from_secs(1);

/// How long after a task last changed an account it names that still cannot be read is taken
/// as never coming (a new account can take a while to be readable; not ten minutes).
const SETTLED_AFTER: Duration = Duration::from_secs(600);

/// At most this many create tasks are recorded as a pending create's candidates.
const MAX_CANDIDATES: usize = 4;

const CREATE_COMMAND: &str = "cloudAccountCreateRequest";
const UPDATE_COMMAND: &str = "cloudAccountUpdateRequest";
const DELETE_COMMAND: &str = "cloudAccountDeleteRequest";

/// Tasks and accounts owned by this process's writes, and the names being created.
#[derive(Debug, Default)]
pub struct Claims {
    state: Mutex<ClaimState>,
}

#[derive(Debug, Default)]
struct ClaimState {
    tasks: HashSet<String>,
    accounts: HashSet<i64>,
    /// Names with a create in flight, and how many.
    creating: HashMap<String, usize>,
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClaimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim_task(&self, task_id: &str) {
        self.lock().tasks.insert(task_id.to_owned());
    }

    fn task_claimed(&self, task_id: &str) -> bool {
        self.lock().tasks.contains(task_id)
    }

    /// Claims `id` for the calling write; false when another write already holds it.
    fn claim_account(&self, id: i64) -> bool {
        self.lock().accounts.insert(id)
    }

    fn account_claimed(&self, id: i64) -> bool {
        self.lock().accounts.contains(&id)
    }

    /// Gives an account back (it was deleted), so that an import may own it again.
    pub(crate) fn release_account(&self, id: i64) {
        self.lock().accounts.remove(&id);
    }

    fn begin_create(&self, name: &str) -> CreatingGuard<'_> {
        *self.lock().creating.entry(name.to_owned()).or_default() += 1;
        CreatingGuard {
            claims: self,
            name: name.to_owned(),
        }
    }

    /// Whether a write other than the caller's is creating an account with `name`.
    fn others_creating(&self, name: &str) -> bool {
        self.lock().creating.get(name).copied().unwrap_or(0) > 1
    }
}

struct CreatingGuard<'a> {
    claims: &'a Claims,
    name: String,
}

impl Drop for CreatingGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.claims.lock();
        if let Some(n) = state.creating.get_mut(&self.name) {
            *n -= 1;
            if *n == 0 {
                state.creating.remove(&self.name);
            }
        }
    }
}

/// A create that made an account: the ID is proven to be this create's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: i64,
}

/// Why a create did not end with an account ID.
#[derive(Debug)]
pub enum CreateFailure {
    /// A live account already carries the name. `refusal` is `None` when the check before the
    /// POST found it (nothing was sent), or the API's refusal (`CLOUD_ACCOUNT_NAME_EXISTS`)
    /// when the account appeared after that check; either way nothing was created.
    NameTaken {
        existing: CloudAccount,
        refusal: Option<Box<Error>>,
    },
    /// A live account already uses the access key; `refusal` as for [`CreateFailure::NameTaken`]
    /// (`CLOUD_ACCOUNT_ACCESS_KEY_EXISTS`).
    AccessKeyTaken {
        existing: CloudAccount,
        refusal: Option<Box<Error>>,
    },
    /// Redis Cloud refused the create because the Redis Cloud account holds as many cloud
    /// accounts as it may (`err` is its answer): certainly nothing was created. `live` is the
    /// live cloud accounts other than the internal one, from a list read after the refusal, if
    /// it could be read.
    LimitReached {
        err: Error,
        live: Option<Vec<CloudAccount>>,
    },
    /// Certainly nothing was created.
    NotCreated(Error),
    /// The create's task failed (`err`) but names account `id`, which was not there before the
    /// create and carries its name and access key: this create's account, to record.
    FailedWithAccount { id: i64, err: Error },
    /// Redis Cloud accepted the create as one of `task_ids` (one, unless creates of the same
    /// name raced in this process), which had not finished when the operation ended, or failed
    /// naming an account that could not be read yet: the account may still appear, and the
    /// task will name it ([`Client::resolve_pending_create`]).
    Pending { task_ids: Vec<String>, err: Error },
    /// Whether the POST was applied is still unknown at the end of the operation, and its task
    /// could not be told apart. Accounts whose IDs are above `after_id` did not exist before the
    /// POST ([`Client::resolve_unattributed_create`] looks for this create's among them).
    Unattributed { after_id: i64, err: Error },
}

/// Why an update did not complete.
#[derive(Debug)]
pub enum UpdateFailure {
    /// Certainly not applied (a 4xx, or the task failed).
    Rejected(Error),
    /// Accepted as task `task_id`, which had not finished.
    Pending { task_id: String, err: Error },
    /// Whether it was applied is unknown.
    Unknown { err: Error },
}

/// What became of a create recorded as pending.
#[derive(Debug)]
pub enum PendingCreate {
    /// It made this account.
    Created(CloudAccount),
    /// None of its candidate tasks made an account of its own.
    NothingCreated,
    /// A candidate task has not finished, or its account is not visible yet.
    Unfinished,
}

/// What the reconciliation of an ambiguous create found.
enum CreateLook {
    Ours(i64),
    /// Certainly nothing was created: the POST may be sent again.
    Nothing,
}

fn is_live(a: &CloudAccount) -> bool {
    !matches!(a.status.as_deref(), Some("deleted" | "delete-draft"))
}

/// The live account in `list` named `name`.
fn name_holder<'a>(list: &'a [CloudAccount], name: &str) -> Option<&'a CloudAccount> {
    list.iter()
        .find(|a| is_live(a) && a.name.as_deref() == Some(name))
}

fn is_masked(key: &str) -> bool {
    key.contains('*')
}

/// Whether a listed (possibly masked, e.g. `A***E`) access key can be `key`.
fn key_may_be(listed: &str, key: &str) -> bool {
    if !is_masked(listed) {
        return listed == key;
    }
    let mut parts = listed.split('*').filter(|p| !p.is_empty());
    let head = parts.next().unwrap_or("");
    let tail = parts.next_back().unwrap_or("");
    key.starts_with(head) && key.ends_with(tail)
}

/// At most this many accounts whose masked listed key may be the requested one are read by ID to
/// find the account that uses it.
const MAX_KEY_READS: usize = 3;

/// The uniqueness rule an API refusal cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unique {
    Name,
    AccessKey,
}

/// Which uniqueness rule a refused create broke, by the error type the API gave: a failed task's,
/// or one in the body of a synchronous 409 (or 400/422, which the API may use instead).
fn broken_rule(err: &Error) -> Option<Unique> {
    let text = match err {
        Error::TaskFailed(f) => f.error_type.as_deref().unwrap_or(""),
        Error::Conflict { message } | Error::Validation { message, .. } => message.as_str(),
        _ => return None,
    };
    if text.contains("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS") {
        Some(Unique::AccessKey)
    } else if text.contains("CLOUD_ACCOUNT_NAME_EXISTS") {
        Some(Unique::Name)
    } else {
        None
    }
}

/// Whether a refused create cites a limit on the number of accounts. The API documents no
/// error type or body for it, so this reads the refusal's words: a definite 4xx or failed task
/// mentioning a limit, quota or maximum number, and not a length limit.
pub fn is_limit_refusal(err: &Error) -> bool {
    let text = match err {
        Error::Validation { message, .. }
        | Error::Conflict { message }
        | Error::Forbidden { message } => message.to_lowercase(),
        Error::TaskFailed(f) => format!(
            "{} {}",
            f.error_type.as_deref().unwrap_or(""),
            f.error_description.as_deref().unwrap_or("")
        )
        .to_lowercase(),
        _ => return false,
    };
    ["limit", "quota", "maximum number"]
        .iter()
        .any(|w| text.contains(w))
        && !text.contains("length")
}

fn same_provider(account: &CloudAccount, requested: Option<&str>) -> bool {
    let requested = requested.unwrap_or("AWS");
    account
        .provider
        .as_deref()
        .is_none_or(|p| p.eq_ignore_ascii_case(requested))
}

/// The accounts that could be this create's: absent from the snapshot, live, with its name and
/// provider, and claimed by no write of this process.
fn candidates<'a>(
    accounts: &'a [CloudAccount],
    body: &'a CloudAccountCreateRequest,
    known: &'a HashSet<i64>,
    claims: &'a Claims,
) -> impl Iterator<Item = &'a CloudAccount> + 'a {
    accounts.iter().filter(move |a| {
        !known.contains(&a.id)
            && is_live(a)
            && a.name.as_deref() == Some(body.name.as_str())
            && same_provider(a, body.provider.as_deref())
            && !claims.account_claimed(a.id)
    })
}

/// The create task that made account `id`, if the list shows it.
fn creator_of(tasks: &[TaskStateUpdate], id: i64) -> Option<&TaskStateUpdate> {
    tasks
        .iter()
        .find(|t| t.command_type.as_deref() == Some(CREATE_COMMAND) && t.resource_id() == Some(id))
}

/// A create task new since the snapshot, owned by no write of this process, that names an
/// account neither in the snapshot, nor listed, nor claimed: an account that may be on its way.
fn names_unlisted_account(
    t: &TaskStateUpdate,
    earlier_tasks: &HashSet<String>,
    known: &HashSet<i64>,
    listed: &HashSet<i64>,
    claims: &Claims,
) -> bool {
    t.command_type.as_deref() == Some(CREATE_COMMAND)
        && !earlier_tasks.contains(&t.task_id)
        && !claims.task_claimed(&t.task_id)
        && t.resource_id().is_some_and(|id| {
            !known.contains(&id) && !listed.contains(&id) && !claims.account_claimed(id)
        })
}

/// Whether evidence `key`, first seen now or earlier, was first seen less than `grace` ago.
fn still_fresh(first_seen: &mut HashMap<String, Instant>, key: &str, grace: Duration) -> bool {
    let now = Instant::now();
    let seen = *first_seen.entry(key.to_owned()).or_insert(now);
    now < seen + grace
}

/// How long ago the task last changed, by its own timestamp and this machine's clock; `None`
/// when it has no readable timestamp or one in the future.
fn task_age(task: &TaskStateUpdate) -> Option<Duration> {
    let at = time::OffsetDateTime::parse(
        task.timestamp.as_deref()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    Duration::try_from(time::OffsetDateTime::now_utc() - at).ok()
}

/// Whether the task changed long enough ago that what it names would be readable by now.
fn settled(task: &TaskStateUpdate) -> bool {
    task_age(task).is_some_and(|age| age > SETTLED_AFTER)
}

fn in_progress(t: &TaskStateUpdate, command: &str) -> bool {
    t.command_type.as_deref() == Some(command) && t.task_status().is_in_progress()
}

impl Client {
    /// Whether a 404 for account `id` proves that it is gone: the API's own not-found error, or
    /// a list that succeeds without it. Any other 404 is returned as the error it is.
    pub async fn prove_gone(&self, id: i64, err: Error) -> Result<(), Error> {
        match err {
            Error::NotFound { .. } => Ok(()),
            Error::UnrecognisedNotFound { .. } => match self.accounts_since(Instant::now()).await {
                Ok(list) if !list.iter().any(|a| a.id == id) => Ok(()),
                _ => Err(err),
            },
            other => Err(other),
        }
    }

    /// Whether `account` uses access key `key`: from the list when it shows the key (or a mask
    /// that cannot be it), otherwise read by ID; `None` while it cannot be read.
    async fn carries_key(&self, account: &CloudAccount, key: &str) -> Option<bool> {
        match account.access_key_id.as_deref() {
            Some(k) if !is_masked(k) => Some(k == key),
            Some(k) if !key_may_be(k, key) => Some(false),
            _ => self
                .get_cloud_account(account.id)
                .await
                .ok()
                .map(|full| full.access_key_id.as_deref() == Some(key)),
        }
    }

    /// Creates an account so that it can be neither lost, duplicated, nor confused with one this
    /// create did not make. `self` should be [`Client::bounded`] by the operation.
    ///
    /// A name or access key already in use fails as [`CreateFailure::NameTaken`] or
    /// [`CreateFailure::AccessKeyTaken`], naming the account that holds it, whether the check
    /// before the POST found it or the API refused the create.
    pub async fn create_cloud_account_reconciled(
        &self,
        body: &CloudAccountCreateRequest,
    ) -> Result<Created, CreateFailure> {
        match self.create_checked(body).await {
            Err(CreateFailure::NotCreated(err)) if is_limit_refusal(&err) => {
                let live = self.accounts_since(Instant::now()).await.ok().map(|list| {
                    list.iter()
                        .filter(|a| is_live(a) && a.id != INTERNAL_ACCOUNT_ID)
                        .cloned()
                        .collect()
                });
                Err(CreateFailure::LimitReached { err, live })
            }
            Err(CreateFailure::NotCreated(err)) => Err(self.name_the_holder(body, err).await),
            other => other,
        }
    }

    /// A refusal for a name or access key in use becomes a failure naming the account that holds
    /// it, read from a list fetched now (the account appeared after the create's own check).
    /// Anything else, or a holder that cannot be found, stays as it was.
    async fn name_the_holder(&self, body: &CloudAccountCreateRequest, err: Error) -> CreateFailure {
        let Some(rule) = broken_rule(&err) else {
            return CreateFailure::NotCreated(err);
        };
        let Ok(list) = self.accounts_since(Instant::now()).await else {
            return CreateFailure::NotCreated(err);
        };
        let holder = match rule {
            Unique::Name => name_holder(&list, &body.name).cloned(),
            Unique::AccessKey => self.key_holder(&list, &body.access_key_id).await,
        };
        let Some(existing) = holder else {
            return CreateFailure::NotCreated(err);
        };
        let refusal = Some(Box::new(err));
        match rule {
            Unique::Name => CreateFailure::NameTaken { existing, refusal },
            Unique::AccessKey => CreateFailure::AccessKeyTaken { existing, refusal },
        }
    }

    /// The live account in `list` that uses access key `key`. A listed key that is masked
    /// (`A***E`) and may be `key` is read by ID, where it is not masked.
    async fn key_holder(&self, list: &[CloudAccount], key: &str) -> Option<CloudAccount> {
        if let Some(a) = list
            .iter()
            .find(|a| is_live(a) && a.access_key_id.as_deref() == Some(key))
        {
            return Some(a.clone());
        }
        let maybe = list.iter().filter(|a| {
            is_live(a)
                && a.access_key_id
                    .as_deref()
                    .is_some_and(|k| is_masked(k) && key_may_be(k, key))
        });
        for candidate in maybe.take(MAX_KEY_READS) {
            if let Ok(full) = self.get_cloud_account(candidate.id).await
                && is_live(&full)
                && full.access_key_id.as_deref() == Some(key)
            {
                return Some(full);
            }
        }
        None
    }

    async fn create_checked(
        &self,
        body: &CloudAccountCreateRequest,
    ) -> Result<Created, CreateFailure> {
        let claims = self.claims();
        let _creating = claims.begin_create(&body.name);
        // A list a moment old is as good a snapshot as a new one: anything created since is
        // only ever adopted if it matches this request. The two lists are asked for one after
        // the other, so a 429 on the first holds the second back for the server's retry-after.
        let fresh_after = Instant::now() - SNAPSHOT_STALENESS;
        let snapshot = self
            .accounts_since(fresh_after)
            .await
            .map_err(CreateFailure::NotCreated)?;
        let tasks = self.tasks_since(fresh_after).await;
        if let Some(existing) = name_holder(&snapshot, &body.name) {
            return Err(CreateFailure::NameTaken {
                existing: existing.clone(),
                refusal: None,
            });
        }
        if let Some(existing) = self.key_holder(&snapshot, &body.access_key_id).await {
            return Err(CreateFailure::AccessKeyTaken {
                existing,
                refusal: None,
            });
        }
        let known: HashSet<i64> = snapshot.iter().map(|a| a.id).collect();
        // The tasks that existed before the POST: a create task that appears afterwards and no
        // other write of this process owns can only be ours.
        let earlier_tasks: HashSet<String> = tasks
            .map(|tasks| tasks.iter().map(|t| t.task_id.clone()).collect())
            .map_err(CreateFailure::NotCreated)?;
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.create_cloud_account(body).await {
                Ok(task) => {
                    claims.claim_task(&task.task_id);
                    let out = self.follow_create_task(&task.task_id, body, &known).await;
                    return match out {
                        Err(CreateFailure::NotCreated(err)) if sends > 1 => {
                            self.refused_resend(body, &known, &earlier_tasks, err).await
                        }
                        other => other,
                    };
                }
                Err(err @ Error::Ambiguous { .. }) => {
                    // The grace counts from the send, not from a rate-limit wait before it.
                    let sent_at = err.sent_at().unwrap_or(asked_at);
                    tracing::warn!(
                        error = %err,
                        "the create request's outcome is unknown ({err}); reconciling against the account and task lists"
                    );
                    match self
                        .look_for_created(body, &known, &earlier_tasks, sent_at)
                        .await
                    {
                        Ok(CreateLook::Ours(id)) => {
                            tracing::info!(
                                cloud_account_id = id,
                                "the interrupted create did make the account: cloud account {id}"
                            );
                            return Ok(Created { id });
                        }
                        Ok(CreateLook::Nothing) if sends < MAX_SENDS => {
                            tracing::info!(
                                "the interrupted create certainly made nothing; sending it again"
                            );
                        }
                        Ok(CreateLook::Nothing) => return Err(CreateFailure::NotCreated(err)),
                        Err(stopped) => {
                            tracing::warn!(error = %stopped, "reconciling the create ran out of time ({stopped}); a last look for its task");
                            return Err(self
                                .attribute_task(body, &known, &earlier_tasks, err)
                                .await);
                        }
                    }
                }
                Err(err) if sends > 1 => {
                    return self.refused_resend(body, &known, &earlier_tasks, err).await;
                }
                Err(err) => return Err(CreateFailure::NotCreated(err)),
            }
        }
    }

    /// A create sent again was refused. If it was refused because the name or access key is
    /// taken, the account holding it may be the first POST's after all: one absent from the
    /// snapshot, with this create's name, provider and access key, made by no task older than
    /// the create and owned by no other write of this process, is adopted, by the same rule as
    /// the reconciliation's. While that cannot be decided (the account's key cannot be read yet,
    /// or a new create task names an account not listed yet), the create is recorded as
    /// unattributed, to be resolved by the next refresh, never reported as someone else's.
    async fn refused_resend(
        &self,
        body: &CloudAccountCreateRequest,
        known: &HashSet<i64>,
        earlier_tasks: &HashSet<String>,
        err: Error,
    ) -> Result<Created, CreateFailure> {
        if broken_rule(&err).is_none() {
            return Err(CreateFailure::NotCreated(err));
        }
        let claims = self.claims();
        let after_id = known.iter().copied().max().unwrap_or(0);
        let (Ok(accounts), Ok(tasks)) = (
            self.accounts_since(Instant::now()).await,
            self.tasks_since(Instant::now()).await,
        ) else {
            return Err(CreateFailure::Unattributed { after_id, err });
        };
        let listed: HashSet<i64> = accounts.iter().map(|a| a.id).collect();
        let mut undecided = tasks
            .iter()
            .any(|t| names_unlisted_account(t, earlier_tasks, known, &listed, claims));
        for a in candidates(&accounts, body, known, claims) {
            let creator = creator_of(&tasks, a.id);
            if creator.is_some_and(|t| {
                claims.task_claimed(&t.task_id) || earlier_tasks.contains(&t.task_id)
            }) {
                continue;
            }
            let Some(key_matches) = self.carries_key(a, &body.access_key_id).await else {
                undecided = true;
                continue;
            };
            if key_matches && !claims.others_creating(&body.name) && claims.claim_account(a.id) {
                if let Some(t) = creator {
                    claims.claim_task(&t.task_id);
                }
                tracing::info!(
                    cloud_account_id = a.id,
                    "the create sent again was refused because cloud account {} holds its name or key; that account is the first, interrupted create's",
                    a.id
                );
                return Ok(Created { id: a.id });
            }
        }
        if undecided {
            return Err(CreateFailure::Unattributed { after_id, err });
        }
        Err(CreateFailure::NotCreated(err))
    }

    /// At the end of an operation whose POST's answer was lost: the create task that can only be
    /// this POST's (new since the POST, owned by no other write of this process, while no other
    /// create of the same name runs here), so that it is recorded instead of orphaned.
    async fn attribute_task(
        &self,
        body: &CloudAccountCreateRequest,
        known: &HashSet<i64>,
        earlier_tasks: &HashSet<String>,
        err: Error,
    ) -> CreateFailure {
        let claims = self.claims();
        let after_id = known.iter().copied().max().unwrap_or(0);
        let Some(Ok(tasks)) = self
            .last_look(self.unbounded().tasks_since(Instant::now()))
            .await
        else {
            return CreateFailure::Unattributed { after_id, err };
        };
        let new: Vec<&TaskStateUpdate> = tasks
            .iter()
            .filter(|t| {
                t.command_type.as_deref() == Some(CREATE_COMMAND)
                    && !earlier_tasks.contains(&t.task_id)
                    && !claims.task_claimed(&t.task_id)
                    && t.resource_id()
                        .is_none_or(|id| !known.contains(&id) && !claims.account_claimed(id))
            })
            .collect();
        // A failed task that names an account may have made it: a candidate like a live one.
        let (failed, live): (Vec<&TaskStateUpdate>, Vec<&TaskStateUpdate>) = new
            .into_iter()
            .partition(|t| t.failure().is_some() && t.resource_id().is_none());
        let alone = !claims.others_creating(&body.name);
        match (live.len(), failed.first()) {
            (0, Some(task)) if alone && failed.len() == 1 => {
                claims.claim_task(&task.task_id);
                CreateFailure::NotCreated(Error::TaskFailed(Box::new(
                    task.failure().unwrap_or_default(),
                )))
            }
            (0, _) => CreateFailure::Unattributed { after_id, err },
            (1, _) if alone => {
                claims.claim_task(&live[0].task_id);
                CreateFailure::Pending {
                    task_ids: vec![live[0].task_id.clone()],
                    err,
                }
            }
            // Creates of the same name raced here: each records every candidate, and the
            // account's access key (unique in Redis Cloud) tells later which one is whose.
            (n, _) if n <= MAX_CANDIDATES => CreateFailure::Pending {
                task_ids: live.iter().map(|t| t.task_id.clone()).collect(),
                err,
            },
            _ => CreateFailure::Unattributed { after_id, err },
        }
    }

    /// What became of a create whose POST's answer was lost and whose task could not be told
    /// apart: an account created after account `after_id` (IDs grow) with this name, provider
    /// and access key is its own (keys are unique in Redis Cloud); none, with no create still
    /// queued, means it made nothing.
    pub async fn resolve_unattributed_create(
        &self,
        after_id: i64,
        name: &str,
        provider: Option<&str>,
        access_key_id: &str,
    ) -> Result<PendingCreate, Error> {
        let accounts = self.accounts_since(Instant::now()).await?;
        for a in accounts.iter().filter(|a| {
            a.id > after_id
                && is_live(a)
                && a.name.as_deref() == Some(name)
                && same_provider(a, provider)
                && a.access_key_id
                    .as_deref()
                    .is_none_or(|k| key_may_be(k, access_key_id))
        }) {
            let full = if a.has_masked_fields() || a.access_key_id.is_none() {
                self.get_cloud_account(a.id).await?
            } else {
                a.clone()
            };
            if full.access_key_id.as_deref() == Some(access_key_id) {
                return Ok(PendingCreate::Created(full));
            }
        }
        let tasks = self.tasks_since(Instant::now()).await?;
        let listed: HashSet<i64> = accounts.iter().map(|a| a.id).collect();
        let undecided = tasks.iter().any(|t| {
            in_progress(t, CREATE_COMMAND)
                || (t.command_type.as_deref() == Some(CREATE_COMMAND)
                    && t.resource_id()
                        .is_some_and(|id| id > after_id && !listed.contains(&id))
                    && !settled(t))
        });
        Ok(if undecided {
            PendingCreate::Unfinished
        } else {
            PendingCreate::NothingCreated
        })
    }

    /// What became of a pending create: the account one of `task_ids` made with
    /// `access_key_id` (keys are unique in Redis Cloud, so it is this create's), certainty that
    /// none did, or not yet.
    pub async fn resolve_pending_create(
        &self,
        task_ids: &[String],
        name: &str,
        access_key_id: &str,
    ) -> Result<PendingCreate, Error> {
        let mut unfinished = false;
        for task_id in task_ids {
            let task = match self.get_task(task_id).await {
                Ok(t) => t,
                // Too new to be listed yet, or gone from the ten-day window: not decided.
                Err(e) if e.is_any_not_found() => {
                    unfinished = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A failed task made nothing, unless it still names an account it made first; one
            // refused because the name or key is taken names, if anything, the holder.
            let failure = task.failure();
            if let Some(f) = &failure
                && broken_rule(&Error::TaskFailed(Box::new(f.clone()))).is_some()
            {
                continue;
            }
            let failed = failure.is_some();
            let Some(id) = task
                .resource_id()
                .filter(|_| failed || task.task_status() == TaskStatus::ProcessingCompleted)
            else {
                unfinished |= !failed;
                continue;
            };
            match self.get_cloud_account(id).await {
                // Keys are unique in Redis Cloud; a failed task's account must also carry the
                // name, as the create's own check asked.
                Ok(a)
                    if a.access_key_id.as_deref() == Some(access_key_id)
                        && (!failed || a.name.as_deref() == Some(name)) =>
                {
                    return Ok(PendingCreate::Created(a));
                }
                Ok(_) => {}
                // A failed task's account that cannot be read long after the task ended, and
                // that the API proves gone, was never made (or was taken back).
                Err(e) if e.is_any_not_found() && failed && settled(&task) => {
                    if self.prove_gone(id, e).await.is_err() {
                        unfinished = true;
                    }
                }
                // Just created and not visible yet: look again later.
                Err(e) if e.is_any_not_found() => unfinished = true,
                Err(e) => return Err(e),
            }
        }
        Ok(if unfinished {
            PendingCreate::Unfinished
        } else {
            PendingCreate::NothingCreated
        })
    }

    /// Runs a last look after the operation's deadline, within [`POST_DEADLINE_GRACE`] of it,
    /// and within that grace of StopProvider.
    async fn last_look<T>(&self, f: impl std::future::Future<Output = T>) -> Option<T> {
        let now = Instant::now();
        let (end, stop) = match &self.bounds {
            Some(b) => (
                b.deadline.max(now).min(b.deadline + POST_DEADLINE_GRACE),
                Some(b.stop.clone()),
            ),
            None => (now + POST_DEADLINE_GRACE, None),
        };
        let end = if end <= now {
            now + Duration::from_millis(200)
        } else {
            end
        };
        tokio::select! {
            looked = tokio::time::timeout_at(end, f) => looked.ok(),
            () = grace_after_stop(stop.as_ref()) => None,
        }
    }

    /// Follows the task of a create whose POST was answered.
    async fn follow_create_task(
        &self,
        task_id: &str,
        body: &CloudAccountCreateRequest,
        known: &HashSet<i64>,
    ) -> Result<Created, CreateFailure> {
        let (deadline, stop) = self.bounds_or_default();
        let outcome = match self.wait_for_task(task_id, deadline, &stop).await {
            Ok(done) => Ok(done),
            Err(Error::TaskFailed(failure)) => {
                return Err(self.failed_create(task_id, *failure, body, known).await);
            }
            Err(err) => {
                // Out of time, stopped, or the task could not be read: one last look, so that
                // an account made at the last moment is still recorded.
                let task = self.last_look_at_task(task_id).await;
                let failure = task.as_ref().and_then(TaskStateUpdate::failure);
                match (task, failure) {
                    (_, Some(failure)) => {
                        return Err(self.failed_create(task_id, failure, body, known).await);
                    }
                    (Some(task), None) if task.task_status() == TaskStatus::ProcessingCompleted => {
                        Ok(task)
                    }
                    _ => {
                        return Err(CreateFailure::Pending {
                            task_ids: vec![task_id.to_owned()],
                            err,
                        });
                    }
                }
            }
        };
        let done = outcome.map_err(|err| CreateFailure::Pending {
            task_ids: vec![task_id.to_owned()],
            err,
        })?;
        match done.resource_id() {
            Some(id) => {
                self.claims().claim_account(id);
                Ok(Created { id })
            }
            None => Err(CreateFailure::Pending {
                task_ids: vec![task_id.to_owned()],
                err: Error::Decode {
                    message: format!("task {task_id} completed without a resourceId"),
                },
            }),
        }
    }

    /// A create task failed. One that still names an account may have made it before failing:
    /// an account absent from the snapshot, owned by no other write here, that carries this
    /// create's name and access key is this create's, to be recorded. One that cannot be read
    /// yet is left to the next refresh, which reads the task again.
    async fn failed_create(
        &self,
        task_id: &str,
        failure: TaskFailure,
        body: &CloudAccountCreateRequest,
        known: &HashSet<i64>,
    ) -> CreateFailure {
        let claims = self.claims();
        let id = failure
            .resource_id
            .filter(|id| !known.contains(id) && !claims.account_claimed(*id));
        let err = Error::TaskFailed(Box::new(failure));
        // Refused because the name or key is taken: what it names, if anything, is the holder.
        let Some(id) = id.filter(|_| broken_rule(&err).is_none()) else {
            return CreateFailure::NotCreated(err);
        };
        match self.last_look(self.unbounded().get_cloud_account(id)).await {
            Some(Ok(a))
                if a.name.as_deref() == Some(body.name.as_str())
                    && a.access_key_id.as_deref() == Some(body.access_key_id.as_str())
                    && claims.claim_account(id) =>
            {
                CreateFailure::FailedWithAccount { id, err }
            }
            // Another account: this create made nothing.
            Some(Ok(_)) => CreateFailure::NotCreated(err),
            _ => CreateFailure::Pending {
                task_ids: vec![task_id.to_owned()],
                err,
            },
        }
    }

    /// One `GET /tasks/{id}` outside the operation's bounds, within [`POST_DEADLINE_GRACE`] of its deadline.
    pub async fn last_look_at_task(&self, task_id: &str) -> Option<TaskStateUpdate> {
        self.last_look(self.unbounded().get_task(task_id))
            .await?
            .ok()
    }

    /// One `GET /cloud-accounts/{id}` outside the operation's bounds, within [`POST_DEADLINE_GRACE`]:
    /// what a failed wait records of the account's real status.
    pub async fn last_look_at_account(&self, id: i64) -> Option<CloudAccount> {
        self.last_look(self.unbounded().get_cloud_account(id))
            .await?
            .ok()
    }

    fn bounds_or_default(&self) -> (Instant, tokio_util::sync::CancellationToken) {
        match &self.bounds {
            Some(b) => (b.deadline, b.stop.clone()),
            None => (
                Instant::now() + Duration::from_secs(3600),
                tokio_util::sync::CancellationToken::new(),
            ),
        }
    }

    /// Sleeps `delay` within the operation's bounds.
    async fn reconcile_pause(&self, delay: Duration, what: &str) -> Result<(), Error> {
        let (deadline, stop) = self.bounds_or_default();
        tokio::select! {
            biased;
            () = stop.cancelled() => Err(Error::Cancelled { waiting_for: what.to_owned() }),
            () = tokio::time::sleep_until(deadline) => Err(Error::Timeout { waiting_for: what.to_owned(), last_status: None }),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// After an ambiguous POST: the account it made, or certainty that it made none.
    async fn look_for_created(
        &self,
        body: &CloudAccountCreateRequest,
        known: &HashSet<i64>,
        earlier_tasks: &HashSet<String>,
        sent_at: Instant,
    ) -> Result<CreateLook, Error> {
        let claims = self.claims();
        let grace = self.inner.poll.not_found_grace;
        let what = format!(
            "the outcome of the interrupted create of cloud account {:?}",
            body.name
        );
        let mut delay = self.inner.poll.initial_delay.max(Duration::from_millis(10));
        let mut fresh_after = sent_at;
        // When each piece of evidence that an account may be on its way was first seen: it
        // holds the create back for the grace from then, not for ever (the account of another
        // client's create, deleted since, would otherwise hold it until the deadline).
        let mut first_seen: HashMap<String, Instant> = HashMap::new();
        loop {
            // What this look sees was fetched after `seen_from`: only data fetched at least the
            // grace after the POST can show that nothing is pending.
            let seen_from = fresh_after;
            let past_grace = seen_from >= sent_at + grace;
            let look = async {
                let accounts = self.accounts_since(fresh_after).await?;
                let tasks = self.tasks_since(fresh_after).await?;
                Ok::<_, Error>((accounts, tasks))
            }
            .await;
            fresh_after = Instant::now();
            match look {
                Ok((accounts, tasks)) => {
                    // A create task still queued, or a new one naming an account the list does
                    // not show yet (a new account can take a while to be listed), may be this
                    // POST's: nothing may be sent again until it is decided.
                    let listed: HashSet<i64> = accounts.iter().map(|a| a.id).collect();
                    let mut busy = tasks.iter().any(|t| {
                        (in_progress(t, CREATE_COMMAND) && !claims.task_claimed(&t.task_id))
                            || (names_unlisted_account(t, earlier_tasks, known, &listed, claims)
                                && still_fresh(&mut first_seen, &t.task_id, grace))
                    });
                    if let Some(candidate) = candidates(&accounts, body, known, claims).next() {
                        let creator = creator_of(&tasks, candidate.id);
                        let owned_elsewhere =
                            creator.is_some_and(|t| claims.task_claimed(&t.task_id));
                        // One that cannot be read yet is undecided, never taken as someone else's.
                        let key_matches = self.carries_key(candidate, &body.access_key_id).await;
                        if key_matches.is_none()
                            && !owned_elsewhere
                            && still_fresh(
                                &mut first_seen,
                                &format!("account {}", candidate.id),
                                grace,
                            )
                        {
                            busy = true;
                        }
                        if key_matches == Some(true) && !owned_elsewhere {
                            if claims.others_creating(&body.name)
                                || (creator.is_none() && !past_grace)
                            {
                                // Another create of this process may own it, or its task is
                                // not listed yet: look again.
                                busy = true;
                            } else if claims.claim_account(candidate.id) {
                                if let Some(t) = creator {
                                    claims.claim_task(&t.task_id);
                                }
                                return Ok(CreateLook::Ours(candidate.id));
                            }
                        }
                    }
                    if !busy && past_grace {
                        return Ok(CreateLook::Nothing);
                    }
                }
                Err(e @ (Error::Timeout { .. } | Error::Cancelled { .. })) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "reconciling the create: a look failed ({e}); looking again")
                }
            }
            self.reconcile_pause(delay, &what).await?;
            delay = (delay.mul_f64(1.5)).min(self.inner.poll.max_delay);
        }
    }

    /// Updates account `id` and waits for its task; an ambiguous PUT is reconciled, never
    /// assumed. `rotates_secrets` says whether the PUT changes a secret the API never returns.
    pub async fn update_cloud_account_reconciled(
        &self,
        id: i64,
        body: &CloudAccountUpdateRequest,
        rotates_secrets: bool,
    ) -> Result<(), UpdateFailure> {
        let claims = self.claims();
        let (deadline, stop) = self.bounds_or_default();
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.update_cloud_account(id, body).await {
                Ok(task) => {
                    claims.claim_task(&task.task_id);
                    return match self.wait_for_task(&task.task_id, deadline, &stop).await {
                        Ok(_) => Ok(()),
                        Err(err @ Error::TaskFailed(_)) => Err(UpdateFailure::Rejected(err)),
                        Err(err) => match self.last_look_at_task(&task.task_id).await {
                            Some(t) if t.task_status() == TaskStatus::ProcessingCompleted => Ok(()),
                            Some(t) if t.failure().is_some() => Err(UpdateFailure::Rejected(
                                Error::TaskFailed(Box::new(t.failure().unwrap_or_default())),
                            )),
                            _ => Err(UpdateFailure::Pending {
                                task_id: task.task_id,
                                err,
                            }),
                        },
                    };
                }
                Err(err @ Error::Ambiguous { .. }) => {
                    let sent_at = err.sent_at().unwrap_or(asked_at);
                    tracing::warn!(cloud_account_id = id, error = %err, "the update of cloud account {id} has an unknown outcome ({err}); reconciling");
                    match self.settle(id, UPDATE_COMMAND, sent_at).await {
                        Ok(account) if !rotates_secrets && shows_update(&account, body) => {
                            return Ok(());
                        }
                        Ok(_) if sends < MAX_SENDS => {
                            tracing::info!(
                                cloud_account_id = id,
                                "nothing is in progress for cloud account {id} and the update is not visible; sending it again (a PUT sets absolute values)"
                            );
                        }
                        Ok(_) => return Err(UpdateFailure::Unknown { err }),
                        Err(e @ (Error::Timeout { .. } | Error::Cancelled { .. })) => {
                            tracing::warn!(error = %e, "gave up reconciling the update: {e}");
                            return Err(UpdateFailure::Unknown { err });
                        }
                        // The account could not be read: the PUT may still have been applied.
                        Err(e) => return Err(UpdateFailure::Unknown { err: e }),
                    }
                }
                Err(err) => return Err(UpdateFailure::Rejected(err)),
            }
        }
    }

    /// Waits until account `id` has no `command` task of unknown owner in progress and is in no
    /// transitional status, for at least the grace since `sent_at`; returns the account then.
    async fn settle(
        &self,
        id: i64,
        command: &str,
        sent_at: Instant,
    ) -> Result<CloudAccount, Error> {
        let claims = self.claims();
        let grace = self.inner.poll.not_found_grace;
        let what = format!("cloud account {id} to settle after an interrupted request");
        let mut delay = self.inner.poll.initial_delay.max(Duration::from_millis(10));
        let mut fresh_after = sent_at;
        loop {
            let past_grace = fresh_after >= sent_at + grace;
            let look = async {
                let account = self.get_cloud_account(id).await?;
                let tasks = self.tasks_since(fresh_after).await?;
                Ok::<_, Error>((account, tasks))
            }
            .await;
            fresh_after = Instant::now();
            match look {
                Ok((account, tasks)) => {
                    let busy = account.status_kind() == AccountStatusKind::Pending
                        || tasks
                            .iter()
                            .any(|t| in_progress(t, command) && !claims.task_claimed(&t.task_id));
                    if !busy && past_grace {
                        return Ok(account);
                    }
                }
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
            self.reconcile_pause(delay, &what).await?;
            delay = (delay.mul_f64(1.5)).min(self.inner.poll.max_delay);
        }
    }

    /// Deletes account `id` and waits until it is proven gone; an ambiguous DELETE is
    /// reconciled. An account that is already gone counts as deleted.
    pub async fn delete_cloud_account_reconciled(&self, id: i64) -> Result<(), Error> {
        let claims = self.claims();
        let (deadline, stop) = self.bounds_or_default();
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.delete_cloud_account(id).await {
                Ok(task) => {
                    claims.claim_task(&task.task_id);
                    match self.wait_for_task(&task.task_id, deadline, &stop).await {
                        Ok(_) => {}
                        Err(Error::TaskFailed(f))
                            if f.error_type.as_deref() == Some("CLOUD_ACCOUNT_NOT_FOUND") =>
                        {
                            // The task says so; the account itself must agree.
                            let err = Error::TaskFailed(f);
                            return match self.get_cloud_account(id).await {
                                Err(e) if e.is_any_not_found() => self.prove_gone(id, e).await,
                                Ok(a) if a.status.as_deref() == Some("deleted") => Ok(()),
                                _ => Err(err),
                            };
                        }
                        Err(err) => return Err(err),
                    }
                    self.wait_for_cloud_account_gone(id, deadline, &stop)
                        .await?;
                    claims.release_account(id);
                    return Ok(());
                }
                Err(err) if err.is_any_not_found() => {
                    self.prove_gone(id, err).await?;
                    claims.release_account(id);
                    return Ok(());
                }
                Err(err @ Error::Ambiguous { .. }) => {
                    let sent_at = err.sent_at().unwrap_or(asked_at);
                    tracing::warn!(cloud_account_id = id, error = %err, "the delete of cloud account {id} has an unknown outcome ({err}); reconciling");
                    let account = match self.get_cloud_account(id).await {
                        Ok(a) => Some(a),
                        Err(e) if e.is_any_not_found() => {
                            self.prove_gone(id, e).await?;
                            claims.release_account(id);
                            return Ok(());
                        }
                        Err(_) => None,
                    };
                    if account.is_some_and(|a| {
                        matches!(a.status.as_deref(), Some("delete-draft" | "deleted"))
                    }) {
                        self.wait_for_cloud_account_gone(id, deadline, &stop)
                            .await?;
                        claims.release_account(id);
                        return Ok(());
                    }
                    match self.settle_delete(id, sent_at).await? {
                        true => {
                            claims.release_account(id);
                            return Ok(());
                        }
                        false if sends < MAX_SENDS => {}
                        false => return Err(err),
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// After an ambiguous DELETE: true once the account is proven gone, false once nothing
    /// is in progress for the grace (the DELETE may be sent again).
    async fn settle_delete(&self, id: i64, sent_at: Instant) -> Result<bool, Error> {
        let (deadline, stop) = self.bounds_or_default();
        match self.settle(id, DELETE_COMMAND, sent_at).await {
            Ok(a) if matches!(a.status.as_deref(), Some("delete-draft" | "deleted")) => {
                self.wait_for_cloud_account_gone(id, deadline, &stop)
                    .await?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.is_any_not_found() => self.prove_gone(id, e).await.map(|()| true),
            Err(e) => Err(e),
        }
    }
}

/// Whether every field the PUT sets, other than secrets, is seen with the requested value.
fn shows_update(account: &CloudAccount, body: &CloudAccountUpdateRequest) -> bool {
    let name_ok = body
        .name
        .as_deref()
        .is_none_or(|n| account.name.as_deref() == Some(n));
    let key_ok = account
        .access_key_id
        .as_deref()
        .is_some_and(|k| k == body.access_key_id);
    // An account that does not report its sign-in URL cannot show that it changed.
    let url_ok = body
        .sign_in_login_url
        .as_deref()
        .is_none_or(|u| account.sign_in_login_url.as_deref() == Some(u));
    name_ok && key_ok && url_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_keys_match_only_their_ends() {
        assert!(key_may_be("A***E", "AKIAEXAMPLE"));
        assert!(!key_may_be("A***4", "AKIAEXAMPLE"));
        assert!(key_may_be("AKIAEXAMPLE", "AKIAEXAMPLE"));
        assert!(!key_may_be("AKIAEXAMPLF", "AKIAEXAMPLE"));
    }

    #[test]
    fn a_refusal_cites_a_uniqueness_rule_by_its_error_type_whatever_its_shape() {
        let task = |ty: &str| {
            Error::TaskFailed(Box::new(TaskFailure {
                error_type: Some(ty.to_owned()),
                ..TaskFailure::default()
            }))
        };
        assert_eq!(
            broken_rule(&task("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS")),
            Some(Unique::AccessKey)
        );
        assert_eq!(
            broken_rule(&task("CLOUD_ACCOUNT_NAME_EXISTS")),
            Some(Unique::Name)
        );
        assert_eq!(broken_rule(&task("CLOUD_ACCOUNT_INVALID_CREDS")), None);
        let conflict = Error::Conflict {
            message:
                r#"POST /cloud-accounts: {"error":{"type":"CLOUD_ACCOUNT_ACCESS_KEY_EXISTS"}}"#
                    .to_owned(),
        };
        assert_eq!(broken_rule(&conflict), Some(Unique::AccessKey));
        let bad_request = Error::Validation {
            status: 400,
            message: r#"POST /cloud-accounts: {"error":{"type":"CLOUD_ACCOUNT_NAME_EXISTS"}}"#
                .to_owned(),
        };
        assert_eq!(broken_rule(&bad_request), Some(Unique::Name));
        assert_eq!(
            broken_rule(&Error::Transport {
                message: "CLOUD_ACCOUNT_NAME_EXISTS".to_owned()
            }),
            None
        );
    }

    #[test]
    fn a_limit_refusal_is_told_by_its_words_not_a_length_limit() {
        let bad_request = |description: &str| Error::Validation {
            status: 400,
            message: format!("POST /cloud-accounts: 400 BAD_REQUEST - BAD_REQUEST - {description}"),
        };
        for limit in [
            "Cloud account limit reached: at most 2 cloud accounts allowed",
            "CLOUD_ACCOUNT_LIMIT_EXCEEDED",
            "Quota exceeded for cloud accounts",
            "The maximum number of cloud accounts was reached",
        ] {
            assert!(is_limit_refusal(&bad_request(limit)), "{limit}");
        }
        let task = Error::TaskFailed(Box::new(TaskFailure {
            error_type: Some("CLOUD_ACCOUNTS_OVER_LIMIT".to_owned()),
            ..TaskFailure::default()
        }));
        assert!(is_limit_refusal(&task));
        for other in [
            "name exceeds the length limit",
            "Cloud account name already exists",
            "invalid provider",
        ] {
            assert!(!is_limit_refusal(&bad_request(other)), "{other}");
        }
        // A 429 is a rate limit, retried elsewhere; never the account limit.
        assert!(!is_limit_refusal(&Error::RateLimited {
            retry_after: None,
            message: "rate limit".to_owned()
        }));
    }

    #[test]
    fn a_name_is_claimed_by_others_only_when_two_creates_run() {
        let claims = Claims::default();
        let first = claims.begin_create("a");
        assert!(!claims.others_creating("a"));
        let second = claims.begin_create("a");
        assert!(claims.others_creating("a"));
        drop(second);
        assert!(!claims.others_creating("a"));
        drop(first);
        assert!(claims.lock().creating.is_empty());
    }

    #[test]
    fn an_account_is_claimed_once() {
        let claims = Claims::default();
        assert!(claims.claim_account(7));
        assert!(!claims.claim_account(7));
        claims.release_account(7);
        assert!(claims.claim_account(7));
    }
}

//! The one rule for "is this account ours?" and "is this account gone?", and the one look that
//! applies it to the API's lists. Every path that decides either (a create, the reconciliation of
//! an ambiguous write, a pending create's resolution, a refresh, a delete) comes here.
//!
//! **Ours** only with positive evidence ([`judge`]): the account
//! - is absent from what existed before our POST ([`Before`]);
//! - is live and carries the name, provider and access key we sent (a masked key is read by ID);
//! - was made by a create task that is visible, new since our POST (not among the tasks that
//!   existed before it) and claimed by no other write of this process; or by a task our POST's
//!   own answer named;
//! - is claimed by no other write of this process.
//!
//! Anything that fails a check is not ours. Where evidence is missing (the creating task is not
//! visible, a masked key cannot be read) the answer is [`Verdict::Unknown`], never a guess.
//!
//! **Gone** only when proven and old enough ([`Client::gone`]): the API's own not-found error (or
//! a fresh list without the account), for an account older than the visibility window. A young
//! account's 404 is the API's lag, not evidence, and so is its absence from a list, unless a list
//! has shown it to this process before ([`Client::absence_proves_gone`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::models::{CloudAccount, CloudAccountCreateRequest, TaskStateUpdate, TaskStatus};
use crate::{Client, Error};

pub(crate) const CREATE_COMMAND: &str = "cloudAccountCreateRequest";
pub(crate) const DELETE_COMMAND: &str = "cloudAccountDeleteRequest";

/// At most this many accounts whose masked listed key may be ours are read by ID per look.
const MAX_KEY_READS: usize = 3;

/// Unix milliseconds now, by this machine's clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Which write of this process holds a claim.
pub type Owner = u64;

/// Tasks and accounts claimed by this process's writes, each by one owner.
#[derive(Debug, Default)]
pub struct Claims {
    state: Mutex<ClaimState>,
}

#[derive(Debug, Default)]
struct ClaimState {
    next_owner: Owner,
    tasks: HashMap<String, Owner>,
    accounts: HashMap<i64, Owner>,
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClaimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new owner, for one write.
    pub(crate) fn owner(&self) -> Owner {
        let mut s = self.lock();
        s.next_owner += 1;
        s.next_owner
    }

    /// Claims `task_id` for `owner`; false when another owner holds it.
    pub(crate) fn claim_task(&self, owner: Owner, task_id: &str) -> bool {
        *self.lock().tasks.entry(task_id.to_owned()).or_insert(owner) == owner
    }

    /// Claims account `id` for `owner`; false when another owner holds it.
    pub(crate) fn claim_account(&self, owner: Owner, id: i64) -> bool {
        *self.lock().accounts.entry(id).or_insert(owner) == owner
    }

    pub(crate) fn task_held_by_other(&self, owner: Owner, task_id: &str) -> bool {
        self.lock().tasks.get(task_id).is_some_and(|o| *o != owner)
    }

    pub(crate) fn account_held_by_other(&self, owner: Owner, id: i64) -> bool {
        self.lock().accounts.get(&id).is_some_and(|o| *o != owner)
    }

    /// Gives an account back (it was deleted), so that an import may own it again.
    pub(crate) fn release_account(&self, id: i64) {
        self.lock().accounts.remove(&id);
    }
}

/// What a create asked for: what an account must carry to be its.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub name: String,
    /// `AWS` unless said otherwise.
    pub provider: Option<String>,
    pub access_key_id: String,
}

impl From<&CloudAccountCreateRequest> for Intent {
    fn from(body: &CloudAccountCreateRequest) -> Self {
        Intent {
            name: body.name.clone(),
            provider: body.provider.clone(),
            access_key_id: body.access_key_id.clone(),
        }
    }
}

/// What existed before a create's POST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Before {
    /// The account list and the create tasks read just before the POST.
    Snapshot {
        accounts: BTreeSet<i64>,
        create_tasks: BTreeSet<String>,
    },
    /// A state written before this record existed (`pending-create:after-<id>`): accounts up to
    /// this ID existed; which tasks existed is not known.
    AccountsUpTo { id: i64 },
    /// A state written before this record existed (`pending-task:<ids>`): only an account the
    /// recorded tasks made can be this create's.
    Unrecorded,
}

impl Before {
    fn had_account(&self, id: i64) -> bool {
        match self {
            Before::Snapshot { accounts, .. } => accounts.contains(&id),
            Before::AccountsUpTo { id: up_to } => id <= *up_to,
            Before::Unrecorded => false,
        }
    }

    /// Whether the task existed before the POST; `None` when that is not recorded.
    fn had_task(&self, task_id: &str) -> Option<bool> {
        match self {
            Before::Snapshot { create_tasks, .. } => Some(create_tasks.contains(task_id)),
            _ => None,
        }
    }
}

/// A create whose outcome is not settled yet: everything a later operation needs to apply the
/// rule. Kept in the resource's private state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCreate {
    pub intent: Intent,
    /// When the latest POST was sent, unix ms: the account it made is no older, and a task it
    /// started may be invisible for the task-visibility grace after it.
    pub sent_at_ms: u64,
    pub before: Before,
    /// Tasks that answers to this create's POSTs named: certainly its own.
    #[serde(default)]
    pub tasks: Vec<String>,
}

impl PendingCreate {
    /// The owner a record's resolutions claim as: the same for every operation of this process
    /// that resolves this record, so that a claim one of them made (a delete that failed after
    /// resolving it, say) never makes its account "held by another" for the next. Creates' own
    /// owners count up from 1; these have the top bit set.
    pub(crate) fn owner(&self) -> Owner {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(self).unwrap_or_default().hash(&mut h);
        h.finish() | (1 << 63)
    }
}

/// What a look found of an account's access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyEvidence {
    Matches,
    Differs,
    /// Masked in the list and not read by ID (yet).
    Unreadable,
}

/// The rule's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ours,
    NotOurs(&'static str),
    /// Evidence is missing: why.
    Unknown(&'static str),
}

pub(crate) fn is_live(a: &CloudAccount) -> bool {
    !a.is_being_deleted()
}

pub(crate) fn is_masked(key: &str) -> bool {
    key.contains('*')
}

/// Whether a listed (possibly masked, e.g. `A***E`) access key can be `key`.
pub(crate) fn key_may_be(listed: &str, key: &str) -> bool {
    if !is_masked(listed) {
        return listed == key;
    }
    let mut parts = listed.split('*').filter(|p| !p.is_empty());
    let head = parts.next().unwrap_or("");
    let tail = parts.next_back().unwrap_or("");
    key.starts_with(head) && key.ends_with(tail)
}

/// What the account's own answer shows of `key`.
pub(crate) fn key_evidence(account: &CloudAccount, key: &str) -> KeyEvidence {
    match account.access_key_id.as_deref() {
        Some(k) if !is_masked(k) => {
            if k == key {
                KeyEvidence::Matches
            } else {
                KeyEvidence::Differs
            }
        }
        Some(k) if !key_may_be(k, key) => KeyEvidence::Differs,
        _ => KeyEvidence::Unreadable,
    }
}

fn same_provider(account: &CloudAccount, requested: Option<&str>) -> bool {
    let requested = requested.unwrap_or("AWS");
    account
        .provider
        .as_deref()
        .is_none_or(|p| p.eq_ignore_ascii_case(requested))
}

/// Whether a create task was refused because the name or access key is in use: what it names,
/// if anything, is the account holding them, not one it made.
pub(crate) fn refused_as_taken(t: &TaskStateUpdate) -> bool {
    t.failure().is_some_and(|f| {
        matches!(
            f.error_type.as_deref(),
            Some("CLOUD_ACCOUNT_NAME_EXISTS" | "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS")
        )
    })
}

/// The create task that made account `id`, if the list shows it.
pub(crate) fn creator_of(tasks: &[TaskStateUpdate], id: i64) -> Option<&TaskStateUpdate> {
    tasks.iter().find(|t| {
        t.command_type.as_deref() == Some(CREATE_COMMAND)
            && t.resource_id() == Some(id)
            && !refused_as_taken(t)
    })
}

/// The rule: whether `account`, whose access key showed `key` and whose creating task is
/// `creator` (when the task list shows it), is the account `pending`'s create made, for the
/// write `owner` of this process.
pub(crate) fn judge(
    account: &CloudAccount,
    key: KeyEvidence,
    creator: Option<&TaskStateUpdate>,
    pending: &PendingCreate,
    claims: &Claims,
    owner: Owner,
) -> Verdict {
    let intent = &pending.intent;
    if pending.before.had_account(account.id) {
        return Verdict::NotOurs("it existed before the create was sent");
    }
    if !is_live(account) {
        return Verdict::NotOurs("it is deleted");
    }
    if claims.account_held_by_other(owner, account.id) {
        return Verdict::NotOurs("another resource of this run holds it");
    }
    // Made by a task our POST's own answer named, which completed: ours whatever it is called
    // or keyed by now (a rename since shows as drift; dropping it would orphan it).
    if creator.is_some_and(|t| made_by_own_task(t, pending)) {
        return Verdict::Ours;
    }
    if account.name.as_deref() != Some(intent.name.as_str()) {
        return Verdict::NotOurs("it has another name");
    }
    if !same_provider(account, intent.provider.as_deref()) {
        return Verdict::NotOurs("it is on another cloud provider");
    }
    match key {
        KeyEvidence::Differs => return Verdict::NotOurs("it uses another access key"),
        KeyEvidence::Unreadable => {
            return Verdict::Unknown("its access key is masked and could not be read");
        }
        KeyEvidence::Matches => {}
    }
    let Some(task) = creator else {
        return Verdict::Unknown("the task that created it is not visible");
    };
    if pending.tasks.contains(&task.task_id) {
        return Verdict::Ours;
    }
    if claims.task_held_by_other(owner, &task.task_id) {
        return Verdict::NotOurs("another resource of this run sent the task that created it");
    }
    match pending.before.had_task(&task.task_id) {
        Some(true) => {
            Verdict::NotOurs("the task that created it existed before the create was sent")
        }
        Some(false) => Verdict::Ours,
        None => {
            Verdict::Unknown("this state does not record which tasks existed before the create")
        }
    }
}

/// Whether `task` is one our POSTs' own answers named and it completed: what it names is the
/// account it made.
fn made_by_own_task(task: &TaskStateUpdate, pending: &PendingCreate) -> bool {
    // An older provider's `pending-task:` record named candidate tasks (any new create task no
    // other resource claimed), not certainly its own: those must still carry the name and key.
    !matches!(pending.before, Before::Unrecorded)
        && pending.tasks.contains(&task.task_id)
        && task.task_status() == TaskStatus::ProcessingCompleted
}

/// What one look at the lists found.
#[derive(Debug)]
pub enum Look {
    /// This account is the create's (claimed for the caller).
    Ours(CloudAccount),
    /// Certainly nothing of the create's exists or is on its way: it may be sent again.
    Nothing,
    /// Not decided yet: why, and the accounts that may be the create's.
    Undecided { why: String, candidates: Vec<i64> },
    /// Never to be decided by a look: evidence the rule needs is gone for good (a task older
    /// than the API keeps tasks) or was never given (the create's own task completed without
    /// naming its account). Why, and the accounts that may be the create's.
    Undecidable { why: String, candidates: Vec<i64> },
}

/// What the gone rule says of a not-found answer.
#[derive(Debug)]
pub enum Gone {
    /// Proven gone: the API's own not-found error, or a fresh list without it, for an account
    /// old enough that its absence is not the API's lag.
    Proven,
    /// Not found, but created less than the visibility window ago: no evidence.
    TooYoung { age: Duration },
}

impl Client {
    /// The gone rule: whether `err`, a not-found answer for account `id` created at
    /// `created_at_ms` (unix ms; `None` when unknown, which counts as old), proves it gone.
    /// Any other answer is returned as the error it is.
    pub async fn gone(
        &self,
        id: i64,
        err: Error,
        created_at_ms: Option<u64>,
    ) -> Result<Gone, Error> {
        if let Some(age) = self.young(created_at_ms) {
            // A completed delete of it is evidence whatever its age; its absence alone is not.
            if err.is_any_not_found() && !self.deleted_by_a_task(id).await {
                return Ok(Gone::TooYoung { age });
            }
        }
        match err {
            Error::NotFound { .. } => Ok(Gone::Proven),
            Error::UnrecognisedNotFound { .. } => match self.accounts_since(Instant::now()).await {
                Ok(list) if !list.iter().any(|a| a.id == id) => Ok(Gone::Proven),
                _ => Err(err),
            },
            other => Err(other),
        }
    }

    /// The age of an account created at `created_at_ms` (unix ms) while it is younger than the
    /// visibility window: while the API's not-found answers and lists may lag behind it. `None`
    /// for an older account, or one whose creation time is unknown (which counts as old).
    pub(crate) fn young(&self, created_at_ms: Option<u64>) -> Option<Duration> {
        let age = Duration::from_millis(now_ms().saturating_sub(created_at_ms?));
        (age < self.inner.poll.visibility_window).then_some(age)
    }

    /// Whether account `id`'s absence from a list fetched after a look began proves it gone:
    /// it is old enough, or a list has shown it to this process before (the list has caught
    /// up with it, so its absence now is no lag).
    pub(crate) fn absence_proves_gone(&self, id: i64, created_at_ms: Option<u64>) -> bool {
        self.young(created_at_ms).is_none()
            || self
                .inner
                .ever_listed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id)
    }

    /// Whether the task list shows a completed delete of account `id` (by anyone).
    pub(crate) async fn deleted_by_a_task(&self, id: i64) -> bool {
        self.tasks_since(Instant::now()).await.is_ok_and(|tasks| {
            tasks.iter().any(|t| {
                t.command_type.as_deref() == Some(DELETE_COMMAND)
                    && t.resource_id() == Some(id)
                    && t.task_status() == TaskStatus::ProcessingCompleted
            })
        })
    }

    /// One look for the account `pending`'s create made, applying [`judge`] to every account
    /// that could be it, from lists fetched at or after `fresh_after`. A verdict of ours claims
    /// the account (and its creating task) for `owner`.
    pub(crate) async fn look(
        &self,
        pending: &PendingCreate,
        owner: Owner,
        fresh_after: Instant,
    ) -> Result<Look, Error> {
        let claims = self.claims();
        // Only lists fetched at least the task-visibility grace after the POST can show that
        // nothing else is on its way (a new task can be invisible for that long). The lists
        // below are fetched at or after `fresh_after`: count from then.
        let started_ms = now_ms().saturating_sub(
            u64::try_from(
                Instant::now()
                    .saturating_duration_since(fresh_after)
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
        );
        let accounts = self.accounts_since(fresh_after).await?;
        let listed_tasks = self.tasks_since(fresh_after).await?;
        let grace = self.inner.poll.not_found_grace;
        let window = self.inner.poll.visibility_window;
        let api_clock = self
            .inner
            .api_clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let past_grace = started_ms
            >= pending
                .sent_at_ms
                .saturating_add(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
        // The list covers the last ten days and may drop a task before its own address does: a
        // task our answers named that the list does not show is asked for by its ID. (Before the
        // grace it may only be too new, and every verdict below waits for the grace anyway.)
        let mut by_id = Vec::new();
        let mut unseen_own: Vec<&str> = Vec::new();
        if past_grace {
            for task_id in pending
                .tasks
                .iter()
                .filter(|id| !listed_tasks.iter().any(|t| &t.task_id == *id))
            {
                match self.get_task(task_id).await {
                    Ok(task) => by_id.push(task),
                    Err(e) if e.is_any_not_found() => unseen_own.push(task_id),
                    Err(e) => return Err(e),
                }
            }
        }
        let tasks: std::borrow::Cow<'_, [TaskStateUpdate]> = if by_id.is_empty() {
            std::borrow::Cow::Borrowed(listed_tasks.as_slice())
        } else {
            std::borrow::Cow::Owned(listed_tasks.iter().cloned().chain(by_id).collect())
        };
        // An account a task our answers named made, which the list does not show (it may lag,
        // or be partial): asked for by its ID, since only that answer says it is not there.
        let mut unlisted = Vec::new();
        for id in tasks
            .iter()
            .filter(|t| {
                pending.tasks.contains(&t.task_id)
                    && t.command_type.as_deref() == Some(CREATE_COMMAND)
                    && !refused_as_taken(t)
            })
            .filter_map(TaskStateUpdate::resource_id)
        {
            if accounts.iter().any(|a| a.id == id) || pending.before.had_account(id) {
                continue;
            }
            match self.get_cloud_account(id).await {
                Ok(account) => unlisted.push(account),
                Err(e) if e.is_any_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let accounts: std::borrow::Cow<'_, [CloudAccount]> = if unlisted.is_empty() {
            std::borrow::Cow::Borrowed(accounts.as_slice())
        } else {
            std::borrow::Cow::Owned(accounts.iter().cloned().chain(unlisted).collect())
        };
        let mut unknown: Vec<(i64, &'static str)> = Vec::new();
        let mut key_reads = 0;
        // The create's own task made an account without naming it: an account another task made
        // is not proven this create's, whatever its name and key.
        let own_made_unnamed = !matches!(pending.before, Before::Unrecorded)
            && tasks.iter().any(|t| {
                pending.tasks.contains(&t.task_id)
                    && t.command_type.as_deref() == Some(CREATE_COMMAND)
                    && t.task_status() == TaskStatus::ProcessingCompleted
                    && t.resource_id().is_none()
            });
        for account in accounts.iter().filter(|a| {
            (a.name.as_deref() == Some(pending.intent.name.as_str())
                || creator_of(&tasks, a.id).is_some_and(|t| made_by_own_task(t, pending)))
                && is_live(a)
                && !pending.before.had_account(a.id)
        }) {
            let creator = creator_of(&tasks, account.id);
            let mut shown = account.clone();
            let mut key = key_evidence(&shown, &pending.intent.access_key_id);
            if key == KeyEvidence::Unreadable && key_reads < MAX_KEY_READS {
                key_reads += 1;
                if let Ok(full) = self.get_cloud_account(account.id).await {
                    key = key_evidence(&full, &pending.intent.access_key_id);
                    shown = full;
                }
            }
            let verdict = match judge(&shown, key, creator, pending, claims, owner) {
                Verdict::Ours
                    if own_made_unnamed
                        && creator.is_some_and(|c| !pending.tasks.contains(&c.task_id)) =>
                {
                    Verdict::Unknown(
                        "the create's own task made an account without naming it, and another task made this one",
                    )
                }
                // A task new since the POST, made by no write of this process, that may be this
                // create's as well (still running, failed, or naming an account not visible):
                // then the one that made this account may be another client's create of the
                // same name and key, sent at the same moment. That is no positive evidence.
                Verdict::Ours
                    if creator.is_some_and(|c| {
                        !pending.tasks.contains(&c.task_id)
                            && rival_task(&tasks, c, pending, claims, owner, &accounts).is_some()
                    }) =>
                {
                    Verdict::Unknown(
                        "another create task new since the create was sent may be this create's instead",
                    )
                }
                // Such a rival can be invisible for the task-visibility grace after the POST
                // (our own refused task, say): until then no look can rule one out.
                Verdict::Ours
                    if !past_grace
                        && creator.is_some_and(|c| !pending.tasks.contains(&c.task_id)) =>
                {
                    Verdict::Unknown(
                        "the create was sent too recently for every task new since it to be visible",
                    )
                }
                // A task our answers named can no longer be seen: it may have made another
                // account, and this one may be another client's.
                Verdict::Ours
                    if !unseen_own.is_empty()
                        && creator.is_some_and(|c| !pending.tasks.contains(&c.task_id)) =>
                {
                    Verdict::Unknown(
                        "a create task its answer named is no longer visible and may have made another account",
                    )
                }
                verdict => verdict,
            };
            match verdict {
                // Claiming is the one atomic step: of two writes of this process that judge the
                // same account theirs, one claims it and the other finds it held.
                Verdict::Ours => {
                    if claims.claim_account(owner, shown.id) {
                        // A task the record names is this create's whoever claimed it here.
                        if creator.is_none_or(|t| {
                            pending.tasks.contains(&t.task_id)
                                || claims.claim_task(owner, &t.task_id)
                        }) {
                            return Ok(Look::Ours(shown));
                        }
                        claims.release_account(shown.id);
                    }
                    tracing::debug!(
                        cloud_account_id = shown.id,
                        "cloud account {} is held by another resource of this run",
                        shown.id
                    );
                }
                Verdict::Unknown(why) => unknown.push((shown.id, why)),
                Verdict::NotOurs(why) => {
                    tracing::debug!(
                        cloud_account_id = shown.id,
                        "cloud account {} is not this create's: {why}",
                        shown.id
                    );
                }
            }
        }
        // The create's own task completed without naming the account it made: no later look
        // will name it either, so the accounts it may have made are for the user to choose
        // from. Not while another task of the record may still run and name one, nor while the
        // account may only be too new to be listed. (An older provider's record names candidate
        // tasks, not certainly its own: those the rule below weighs as it always has.)
        let own = |t: &&TaskStateUpdate| {
            pending.tasks.contains(&t.task_id) && t.command_type.as_deref() == Some(CREATE_COMMAND)
        };
        if !matches!(pending.before, Before::Unrecorded)
            && !tasks
                .iter()
                .filter(own)
                .any(|t| t.task_status().may_still_run())
            && let Some(t) = tasks.iter().filter(own).find(|t| {
                t.task_status() == TaskStatus::ProcessingCompleted && t.resource_id().is_none()
            })
        {
            let why = format!(
                "create task {}, which the create's answer named, completed without naming the account it made",
                t.task_id
            );
            let candidates = new_accounts_with_its_key(&accounts, pending, claims, owner);
            // While the task is young the account it made may not be listed yet: the accounts
            // listed now are not all it may be. A task whose age cannot be told (no timestamp,
            // or one ahead of the API's clock as this client knows it) counts as young, as for
            // a task on its way below: the pending create's own age bounds that wait.
            if task_age(t, api_clock).is_none_or(|age| age < window) {
                return Ok(Look::Undecided {
                    why: format!(
                        "{why}, and until {} after it completed the account may not be listed yet",
                        crate::poll::human_duration(window)
                    ),
                    candidates,
                });
            }
            return Ok(Look::Undecidable { why, candidates });
        }
        if let Some((id, why)) = unknown.first() {
            let why = format!("cloud account {id} may be this create's, but {why}");
            let candidates = unknown.iter().map(|(id, _)| *id).collect();
            // Without the create's own task no later look can tell either.
            return Ok(if unseen_own.is_empty() {
                Look::Undecided { why, candidates }
            } else {
                Look::Undecidable { why, candidates }
            });
        }
        // An ended create task that is this create's (its answers named it; for an older
        // record, may be) or, new since its POST, made an account with its access key, whose
        // account no verdict above took: that may be this create's account, renamed or
        // re-keyed since. Neither ours nor nothing: the user decides.
        for t in tasks.iter().filter(|t| {
            t.command_type.as_deref() == Some(CREATE_COMMAND)
                && !refused_as_taken(t)
                && !t.task_status().may_still_run()
        }) {
            let recorded = pending.tasks.contains(&t.task_id);
            if !recorded
                && (pending.before.had_task(&t.task_id) != Some(false)
                    || claims.task_held_by_other(owner, &t.task_id))
            {
                continue;
            }
            let Some(id) = t.resource_id() else {
                // An older provider's candidate task (the block above weighs only this
                // provider's own): what it made without naming it is not proven either way.
                if recorded && t.task_status() == TaskStatus::ProcessingCompleted {
                    return Ok(Look::Undecided {
                        why: format!(
                            "create task {}, which the create's record names, completed without naming the account it made",
                            t.task_id
                        ),
                        candidates: Vec::new(),
                    });
                }
                continue;
            };
            let Some(account) = accounts.iter().find(|a| a.id == id && is_live(a)) else {
                continue;
            };
            if pending.before.had_account(id) || claims.account_held_by_other(owner, id) {
                continue;
            }
            let mut key = key_evidence(account, &pending.intent.access_key_id);
            if !recorded && key == KeyEvidence::Unreadable && key_reads < MAX_KEY_READS {
                key_reads += 1;
                if let Ok(full) = self.get_cloud_account(id).await {
                    key = key_evidence(&full, &pending.intent.access_key_id);
                }
            }
            if recorded || key == KeyEvidence::Matches {
                return Ok(Look::Undecided {
                    why: format!(
                        "create task {} made cloud account {id}, which no longer carries this create's name and access key: it may be this create's, changed since, or another client's",
                        t.task_id
                    ),
                    candidates: vec![id],
                });
            }
        }
        // A create task that may be ours and has not shown its account yet.
        let listed: BTreeSet<i64> = accounts.iter().map(|a| a.id).collect();
        let on_its_way = tasks.iter().find(|t| {
            let may_be_ours = match pending.before.had_task(&t.task_id) {
                _ if pending.tasks.contains(&t.task_id) => true,
                Some(existed) => !existed && !claims.task_held_by_other(owner, &t.task_id),
                None => false,
            };
            t.command_type.as_deref() == Some(CREATE_COMMAND)
                && may_be_ours
                && (t.task_status().may_still_run()
                    || !refused_as_taken(t)
                        && t.resource_id().is_some_and(|id| {
                            !listed.contains(&id)
                                && !pending.before.had_account(id)
                                && !claims.account_held_by_other(owner, id)
                                && task_age(t, api_clock).is_none_or(|age| age < window)
                        }))
        });
        if let Some(t) = on_its_way {
            return Ok(Look::Undecided {
                why: format!(
                    "create task {} may be this create's and has not shown its account yet",
                    t.task_id
                ),
                candidates: Vec::new(),
            });
        }
        // A task our answers named that neither the list nor its own address shows any more
        // (older than the API keeps tasks): what it made cannot be told, so nothing is proven.
        if let Some(task_id) = unseen_own.first() {
            return Ok(Look::Undecidable {
                why: format!(
                    "create task {task_id}, which the create's answer named, is no longer visible in the task list or by its ID, so what it made cannot be told"
                ),
                candidates: new_accounts_with_its_key(&accounts, pending, claims, owner),
            });
        }
        // A recorded task that the list does not show yet (too new) holds it back for the grace.
        if !past_grace {
            return Ok(Look::Undecided {
                why: "the create was sent too recently for its task to be visible".to_owned(),
                candidates: Vec::new(),
            });
        }
        Ok(Look::Nothing)
    }
}

/// The accounts `pending`'s create may have made when no task names one: live, new since its
/// POST, held by no other resource of this run, and not shown with another access key, whatever
/// their names now.
fn new_accounts_with_its_key(
    accounts: &[CloudAccount],
    pending: &PendingCreate,
    claims: &Claims,
    owner: Owner,
) -> Vec<i64> {
    accounts
        .iter()
        .filter(|a| {
            is_live(a)
                && !pending.before.had_account(a.id)
                && !claims.account_held_by_other(owner, a.id)
                && key_evidence(a, &pending.intent.access_key_id) != KeyEvidence::Differs
        })
        .map(|a| a.id)
        .collect()
}

/// A create task other than `creator` that may be `pending`'s create as well: new since its
/// POST, sent by no other write of this process, not named by its answers, and unresolved
/// (still running, failed, or naming an account the list does not show).
fn rival_task<'a>(
    tasks: &'a [TaskStateUpdate],
    creator: &TaskStateUpdate,
    pending: &PendingCreate,
    claims: &Claims,
    owner: Owner,
    accounts: &[CloudAccount],
) -> Option<&'a TaskStateUpdate> {
    tasks.iter().find(|t| {
        t.command_type.as_deref() == Some(CREATE_COMMAND)
            && t.task_id != creator.task_id
            && pending.before.had_task(&t.task_id) == Some(false)
            && !pending.tasks.contains(&t.task_id)
            && !claims.task_held_by_other(owner, &t.task_id)
            && (t.task_status().may_still_run()
                || t.failure().is_some()
                || t.resource_id()
                    .is_some_and(|id| !accounts.iter().any(|a| a.id == id)))
    })
}

/// How long ago the task last changed, by its own timestamp and the API's clock (this
/// machine's, moved by `api_clock_offset_ms`); `None` when it has no readable timestamp or one
/// in the future.
pub(crate) fn task_age(task: &TaskStateUpdate, api_clock_offset_ms: i64) -> Option<Duration> {
    let at = time::OffsetDateTime::parse(
        task.timestamp.as_deref()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let api_now =
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(api_clock_offset_ms);
    Duration::try_from(api_now - at).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, name: &str, key: &str) -> CloudAccount {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "provider": "AWS", "status": "active", "accessKeyId": key
        }))
        .expect("account")
    }

    fn task(id: &str, resource: i64) -> TaskStateUpdate {
        serde_json::from_value(serde_json::json!({
            "taskId": id, "commandType": CREATE_COMMAND, "status": "processing-completed",
            "response": {"resourceId": resource}
        }))
        .expect("task")
    }

    fn pending(before_accounts: &[i64], before_tasks: &[&str]) -> PendingCreate {
        PendingCreate {
            intent: Intent {
                name: "ours".to_owned(),
                provider: Some("AWS".to_owned()),
                access_key_id: "AKIAOURS".to_owned(),
            },
            sent_at_ms: 0,
            before: Before::Snapshot {
                accounts: before_accounts.iter().copied().collect(),
                create_tasks: before_tasks.iter().map(|t| (*t).to_owned()).collect(),
            },
            tasks: Vec::new(),
        }
    }

    /// A verdict's kind, for tables of cases.
    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Ours => "ours",
            Verdict::NotOurs(_) => "not ours",
            Verdict::Unknown(_) => "unknown",
        }
    }

    #[test]
    fn ours_only_with_every_piece_of_positive_evidence() {
        let claims = Claims::default();
        let me = claims.owner();
        let p = pending(&[2], &["old"]);
        let a = account(7, "ours", "AKIAOURS");
        let new = task("new", 7);
        // (why, account, key evidence, creating task, verdict)
        let cases = [
            (
                "every piece of evidence",
                a.clone(),
                KeyEvidence::Matches,
                Some(new.clone()),
                "ours",
            ),
            (
                "existed before the POST",
                account(2, "ours", "AKIAOURS"),
                KeyEvidence::Matches,
                Some(task("new", 2)),
                "not ours",
            ),
            (
                "made by a task queued before the POST: another client's",
                a.clone(),
                KeyEvidence::Matches,
                Some(task("old", 7)),
                "not ours",
            ),
            (
                "another name",
                account(7, "theirs", "AKIAOURS"),
                KeyEvidence::Matches,
                Some(new.clone()),
                "not ours",
            ),
            (
                "another key",
                a.clone(),
                KeyEvidence::Differs,
                Some(new.clone()),
                "not ours",
            ),
            (
                "a key that cannot be read: unknown, never ours",
                a.clone(),
                KeyEvidence::Unreadable,
                Some(new.clone()),
                "unknown",
            ),
            (
                "no creating task to be seen: unknown, never ours",
                a.clone(),
                KeyEvidence::Matches,
                None,
                "unknown",
            ),
        ];
        for (why, account, key, task, expected) in cases {
            let verdict = judge(&account, key, task.as_ref(), &p, &claims, me);
            assert_eq!(kind(&verdict), expected, "{why}: {verdict:?}");
        }
        // Claimed by another write of this process.
        let other = claims.owner();
        assert!(claims.claim_task(other, "new"));
        let verdict = judge(&a, KeyEvidence::Matches, Some(&new), &p, &claims, me);
        assert_eq!(kind(&verdict), "not ours", "{verdict:?}");
        // A task our own POST's answer named is ours whoever looks.
        let mut answered = pending(&[2], &[]);
        answered.tasks.push("mine".to_owned());
        let mine = task("mine", 7);
        assert_eq!(
            judge(
                &a,
                KeyEvidence::Matches,
                Some(&mine),
                &answered,
                &claims,
                me
            ),
            Verdict::Ours
        );
    }

    #[test]
    fn legacy_records_never_guess() {
        let claims = Claims::default();
        let me = claims.owner();
        let mut p = pending(&[], &[]);
        p.before = Before::AccountsUpTo { id: 5 };
        let a = account(7, "ours", "AKIAOURS");
        assert!(matches!(
            judge(
                &a,
                KeyEvidence::Matches,
                Some(&task("t", 7)),
                &p,
                &claims,
                me
            ),
            Verdict::Unknown(_)
        ));
        assert!(matches!(
            judge(
                &account(5, "ours", "AKIAOURS"),
                KeyEvidence::Matches,
                Some(&task("t", 5)),
                &p,
                &claims,
                me
            ),
            Verdict::NotOurs(_)
        ));
        p.before = Before::Unrecorded;
        p.tasks = vec!["t".to_owned()];
        assert_eq!(
            judge(
                &a,
                KeyEvidence::Matches,
                Some(&task("t", 7)),
                &p,
                &claims,
                me
            ),
            Verdict::Ours
        );
        assert!(matches!(
            judge(
                &a,
                KeyEvidence::Matches,
                Some(&task("u", 7)),
                &p,
                &claims,
                me
            ),
            Verdict::Unknown(_)
        ));
    }

    #[test]
    fn masked_keys_match_only_their_ends() {
        assert!(key_may_be("A***E", "AKIAEXAMPLE"));
        assert!(!key_may_be("A***4", "AKIAEXAMPLE"));
        assert!(key_may_be("AKIAEXAMPLE", "AKIAEXAMPLE"));
        assert!(!key_may_be("AKIAEXAMPLF", "AKIAEXAMPLE"));
    }

    #[test]
    fn claims_belong_to_one_owner() {
        let claims = Claims::default();
        let (a, b) = (claims.owner(), claims.owner());
        assert!(claims.claim_account(a, 7));
        assert!(claims.claim_account(a, 7));
        assert!(!claims.claim_account(b, 7));
        assert!(claims.account_held_by_other(b, 7));
        assert!(!claims.account_held_by_other(a, 7));
        claims.release_account(7);
        assert!(claims.claim_account(b, 7));
    }
}

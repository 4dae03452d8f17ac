//! Create: a POST that can be neither lost, duplicated, nor confused with another client's.

use std::collections::BTreeSet;

use tokio::time::Instant;

use super::ownership::{
    Before, CREATE_COMMAND, Intent, Look, Owner, PendingCreate, Verdict, is_live, is_masked, judge,
    key_evidence, key_may_be, now_ms,
};
use super::{MAX_SENDS, wall_ms};
use crate::models::{CloudAccount, CloudAccountCreateRequest, TaskStateUpdate, TaskStatus};
use crate::{Client, Error, TaskFailure};

/// Redis Cloud's own cloud account, listed for everyone; it counts towards no limit.
pub const INTERNAL_ACCOUNT_ID: i64 = 1;

/// How old a shared list may be to serve as a create's snapshot.
const SNAPSHOT_STALENESS: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this many accounts whose masked listed key may be the requested one are read by ID to
/// find the account that uses it.
const MAX_KEY_READS: usize = 3;

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
    /// The create's task failed (`err`) but names account `id`, which the rule finds to be this
    /// create's: to record.
    FailedWithAccount { id: i64, err: Error },
    /// Whether the create made an account is not settled at the end of the operation: `why`,
    /// and the accounts that may be its (`candidates`). `record` is what the next operation
    /// resolves it with ([`Client::resolve_pending_create`]).
    Pending {
        record: PendingCreate,
        err: Error,
        why: String,
        candidates: Vec<i64>,
    },
    /// The create made an account, but the evidence will never tell which (its own task
    /// completed without naming it): `why`, and the accounts that may be its. `record` keeps it
    /// in state, for the user to settle.
    Undecidable {
        record: PendingCreate,
        why: String,
        candidates: Vec<i64>,
    },
}

/// The live account in `list` named `name`.
fn name_holder<'a>(list: &'a [CloudAccount], name: &str) -> Option<&'a CloudAccount> {
    list.iter()
        .find(|a| is_live(a) && a.name.as_deref() == Some(name))
}

/// The uniqueness rule an API refusal cites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unique {
    Name,
    AccessKey,
}

/// The API's error type in a refusal: a failed task's, or the `error.type` of a synchronous 4xx
/// (whose message carries the body summarised as `status - type - description`, or as JSON).
fn error_type(err: &Error) -> Option<&str> {
    let is_type = |s: &str| {
        !s.is_empty()
            && s.contains('_')
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    match err {
        Error::TaskFailed(f) => f.error_type.as_deref(),
        Error::Conflict { message }
        | Error::Validation { message, .. }
        | Error::Forbidden { message } => {
            const KEY: &str = r#""type":""#;
            if let Some(at) = message.find(KEY) {
                let rest = &message[at + KEY.len()..];
                return rest.get(..rest.find('"')?);
            }
            let body = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, b)| b);
            body.split(" - ").map(str::trim).find(|s| is_type(s))
        }
        _ => None,
    }
}

/// Which uniqueness rule a refused create broke, by the error type the API gave.
fn broken_rule(err: &Error) -> Option<Unique> {
    match error_type(err)? {
        "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS" => Some(Unique::AccessKey),
        "CLOUD_ACCOUNT_NAME_EXISTS" => Some(Unique::Name),
        _ => None,
    }
}

/// Whether a refused create cites a limit on the number of accounts. The API documents no
/// error type for it: this reads the error type when it names a rule (a limit, quota or
/// maximum, not a length), and the words of the answer only when its type is none or just an
/// HTTP status's name.
pub fn is_limit_refusal(err: &Error) -> bool {
    let cites_limit = |text: &str| {
        let text = text.to_lowercase();
        ["limit", "quota", "maximum number", "max_"]
            .iter()
            .any(|w| text.contains(w))
            && !text.contains("length")
    };
    if !err.is_definite() {
        return false;
    }
    // An HTTP status's own name says nothing of which rule was broken: its words do.
    const GENERIC: [&str; 5] = [
        "BAD_REQUEST",
        "CONFLICT",
        "FORBIDDEN",
        "UNPROCESSABLE_ENTITY",
        "GENERAL_ERROR",
    ];
    match error_type(err) {
        Some(ty) if !GENERIC.contains(&ty) => cites_limit(ty),
        _ => match err {
            Error::Validation { message, .. }
            | Error::Conflict { message }
            | Error::Forbidden { message } => cites_limit(message),
            Error::TaskFailed(f) => cites_limit(f.error_description.as_deref().unwrap_or("")),
            _ => false,
        },
    }
}

impl Client {
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

    /// The live account that holds `name` now, if any: a create of that name would be refused.
    /// From the shared list, fetched at most [`SNAPSHOT_STALENESS`] ago, so that the plans of a
    /// wave share it instead of each waiting for a fetch of its own; the newest fetch is always
    /// the one served, so in the plan made during apply an account this process just deleted
    /// (its gone-proof was fetched after the delete) does not hold the name. The apply checks
    /// again before its POST.
    pub async fn holder_of_name(&self, name: &str) -> Result<Option<CloudAccount>, Error> {
        let now = Instant::now();
        let list = self
            .accounts_since(now.checked_sub(SNAPSHOT_STALENESS).unwrap_or(now))
            .await?;
        Ok(name_holder(&list, name).cloned())
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
        let owner = claims.owner();
        // A list a moment old is as good a snapshot: what was created since is judged by the
        // rule like anything else, and only another client's create of this very name and key,
        // queued in that moment, could pass for ours (the API has no idempotency key). Waiting
        // for fresh lists instead cost 22% of a 100-account apply (1.24x the floor, not 1.02x).
        let fresh_after = Instant::now()
            .checked_sub(SNAPSHOT_STALENESS)
            .unwrap_or_else(Instant::now);
        // Both lists at once: against the real API each is a round trip of its own.
        let (snapshot, tasks) = tokio::try_join!(
            self.accounts_for_write(fresh_after),
            self.tasks_for_write(fresh_after),
        )
        .map_err(CreateFailure::NotCreated)?;
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
        let mut record = PendingCreate {
            intent: Intent::from(body),
            sent_at_ms: now_ms(),
            before: Before::Snapshot {
                accounts: snapshot.iter().map(|a| a.id).collect(),
                create_tasks: tasks
                    .iter()
                    .filter(|t| t.command_type.as_deref() == Some(CREATE_COMMAND))
                    .map(|t| t.task_id.clone())
                    .collect::<BTreeSet<String>>(),
            },
            tasks: Vec::new(),
        };
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.create_cloud_account(body).await {
                Ok(task) => {
                    claims.claim_task(owner, &task.task_id);
                    record.tasks.push(task.task_id.clone());
                    // Its task may be invisible for the grace after this send, not the first.
                    record.sent_at_ms = now_ms();
                    let out = self.follow_create_task(&task.task_id, &record, owner).await;
                    return match out {
                        Err(CreateFailure::NotCreated(err)) if sends > 1 => {
                            self.refused_resend(record, owner, err).await
                        }
                        other => other,
                    };
                }
                Err(err @ Error::Ambiguous { .. }) => {
                    // The grace counts from the send, not from a rate-limit wait before it.
                    record.sent_at_ms = wall_ms(err.sent_at().unwrap_or(asked_at));
                    tracing::warn!(
                        error = %err,
                        "the create request's outcome is unknown ({err}); reconciling against the account and task lists"
                    );
                    let (decided, last_undecided) = self.look_until_decided(&record, owner).await;
                    match decided {
                        Ok(Look::Ours(account)) => {
                            tracing::info!(
                                cloud_account_id = account.id,
                                "the interrupted create did make the account: cloud account {}",
                                account.id
                            );
                            return Ok(Created { id: account.id });
                        }
                        Ok(Look::Nothing) if sends < MAX_SENDS => {
                            tracing::info!(
                                "the interrupted create certainly made nothing; sending it again"
                            );
                        }
                        Ok(Look::Nothing) => return Err(CreateFailure::NotCreated(err)),
                        Ok(
                            Look::Undecided { why, candidates }
                            | Look::Undecidable { why, candidates },
                        ) => {
                            return Err(CreateFailure::Pending {
                                record,
                                err,
                                why,
                                candidates,
                            });
                        }
                        Err(stopped) => {
                            tracing::warn!(error = %stopped, "reconciling the create ran out of time ({stopped})");
                            return Err(self
                                .last_look_for_created(record, owner, err, last_undecided)
                                .await);
                        }
                    }
                }
                Err(err) if sends > 1 => return self.refused_resend(record, owner, err).await,
                Err(err) => return Err(CreateFailure::NotCreated(err)),
            }
        }
    }

    /// After an ambiguous POST: looks until the rule finds the create's account or it is certain
    /// that nothing of it exists or is on its way; a look that fails is tried again. Ends with
    /// the operation's bounds (`Err`).
    /// Also answers the last undecided look, for when the bounds end first.
    async fn look_until_decided(
        &self,
        record: &PendingCreate,
        owner: Owner,
    ) -> (Result<Look, Error>, Option<Look>) {
        let what = format!(
            "the outcome of the interrupted create of cloud account {:?}",
            record.intent.name
        );
        let mut schedule = self.schedule();
        let mut fresh_after = Instant::now();
        let mut last = None;
        loop {
            let looked = self.look(record, owner, fresh_after).await;
            fresh_after = Instant::now();
            match looked {
                Ok(found @ (Look::Ours(_) | Look::Nothing | Look::Undecidable { .. })) => {
                    return (Ok(found), last);
                }
                Ok(undecided @ Look::Undecided { .. }) => {
                    if let Look::Undecided { why, .. } = &undecided {
                        tracing::debug!("the interrupted create is not decided yet: {why}");
                    }
                    last = Some(undecided);
                }
                Err(e @ (Error::Timeout { .. } | Error::Cancelled { .. })) => {
                    return (Err(e), last);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconciling the create: a look failed ({e}); looking again")
                }
            }
            if let Err(e) = self.reconcile_pause(schedule.next_delay(), &what).await {
                return (Err(e), last);
            }
        }
    }

    /// At the end of an operation whose POST's outcome is still unknown: one last look, within
    /// the grace after the deadline, then the record of a pending create.
    async fn last_look_for_created(
        &self,
        record: PendingCreate,
        owner: Owner,
        err: Error,
        earlier: Option<Look>,
    ) -> CreateFailure {
        let (earlier_why, earlier_candidates) = match earlier {
            Some(Look::Undecided { why, candidates } | Look::Undecidable { why, candidates }) => {
                (Some(why), candidates)
            }
            _ => (None, Vec::new()),
        };
        let fresh = Instant::now();
        match self
            .last_look(self.unbounded().look(&record, owner, fresh))
            .await
        {
            Some(Ok(Look::Ours(account))) => CreateFailure::FailedWithAccount {
                id: account.id,
                // What ran out is the reconciliation: the wait for `active` never began.
                err: Error::Timeout {
                    waiting_for: format!(
                        "the outcome of the interrupted create, found at the end to be cloud account {}",
                        account.id
                    ),
                    last_status: account.status,
                },
            },
            Some(Ok(
                Look::Undecided { why, candidates } | Look::Undecidable { why, candidates },
            )) => CreateFailure::Pending {
                record,
                err,
                why,
                candidates,
            },
            Some(Ok(Look::Nothing)) => CreateFailure::Pending {
                record,
                err,
                why: "nothing of it was visible when the operation ended".to_owned(),
                candidates: Vec::new(),
            },
            Some(Err(e)) => CreateFailure::Pending {
                record,
                err,
                why: earlier_why.unwrap_or_else(|| format!("the lists could not be read ({e})")),
                candidates: earlier_candidates,
            },
            None => CreateFailure::Pending {
                record,
                err,
                why: earlier_why.unwrap_or_else(|| {
                    "the operation ended before the lists could be read".to_owned()
                }),
                candidates: earlier_candidates,
            },
        }
    }

    /// A create sent again was refused or failed. The first, interrupted POST may have made an
    /// account after all, or may still make one: the rule decides, by one look. While it cannot
    /// (the account's creating task is not visible yet, its key cannot be read, the holder of
    /// the name or key is not visible, or the failure says nothing about the first POST), the
    /// create is recorded as pending, never reported as someone else's or as nothing made.
    async fn refused_resend(
        &self,
        record: PendingCreate,
        owner: Owner,
        err: Error,
    ) -> Result<Created, CreateFailure> {
        match self.look(&record, owner, Instant::now()).await {
            Ok(Look::Ours(a)) => {
                tracing::info!(
                    cloud_account_id = a.id,
                    "the create sent again was refused because cloud account {} holds its name or key; that account is the first, interrupted create's",
                    a.id
                );
                Ok(Created { id: a.id })
            }
            // Refused for a name or key that an account holds: that account must be visible
            // (and the rule then found it not ours). One nobody can see yet may be the first,
            // interrupted POST's account, still invisible: unknown, never "nothing created".
            // Failed for another reason: the first, interrupted POST may still land (a write
            // answered 5xx can be applied later). Recorded as pending, the next plan looks again
            // and plans the create only once nothing of it has appeared.
            Ok(Look::Nothing) if broken_rule(&err).is_none() => Err(CreateFailure::Pending {
                record,
                err,
                why: "the create sent again failed, and the first, interrupted request may still be applied".to_owned(),
                candidates: Vec::new(),
            }),
            Ok(Look::Nothing) => {
                let holder_seen = match self.accounts_since(Instant::now()).await {
                    Ok(list) => match broken_rule(&err) {
                        Some(Unique::Name) => name_holder(&list, &record.intent.name).is_some(),
                        _ => self
                            .key_holder(&list, &record.intent.access_key_id)
                            .await
                            .is_some(),
                    },
                    Err(_) => false,
                };
                if holder_seen {
                    return Err(CreateFailure::NotCreated(err));
                }
                Err(CreateFailure::Pending {
                    record,
                    err,
                    why: "the create sent again was refused because its name or access key is taken, and the account holding it is not visible yet: it may be the first, interrupted create's".to_owned(),
                    candidates: Vec::new(),
                })
            }
            Ok(Look::Undecided { why, candidates } | Look::Undecidable { why, candidates }) => {
                Err(CreateFailure::Pending {
                    record,
                    err,
                    why,
                    candidates,
                })
            }
            Err(e) => Err(CreateFailure::Pending {
                record,
                err,
                why: format!("the lists could not be read ({e})"),
                candidates: Vec::new(),
            }),
        }
    }

    /// Follows the task of a create whose POST was answered (so the task is certainly its own).
    async fn follow_create_task(
        &self,
        task_id: &str,
        record: &PendingCreate,
        owner: Owner,
    ) -> Result<Created, CreateFailure> {
        let (deadline, stop) = self.bounds_or_default();
        let pending = |err: Error, why: String| CreateFailure::Pending {
            record: record.clone(),
            err,
            why,
            candidates: Vec::new(),
        };
        let done = match self.wait_for_task(task_id, deadline, &stop).await {
            Ok(done) => done,
            Err(Error::TaskFailed(failure)) => {
                return Err(self.failed_create(task_id, *failure, record, owner).await);
            }
            Err(err) => {
                // Out of time, stopped, or the task could not be read: one last look, so that
                // an account made at the last moment is still recorded.
                let task = self.last_look_at_task(task_id).await;
                match task {
                    Some(t) if t.failure().is_some() => {
                        let failure = t.failure().unwrap_or_default();
                        return Err(self.failed_create(task_id, failure, record, owner).await);
                    }
                    Some(t) if t.task_status() == TaskStatus::ProcessingCompleted => t,
                    Some(t) => {
                        return Err(pending(
                            err,
                            format!("its task {task_id} was still {}", t.status),
                        ));
                    }
                    None => {
                        return Err(pending(
                            err,
                            format!("its task {task_id} could not be read"),
                        ));
                    }
                }
            }
        };
        match done.resource_id() {
            Some(id) => {
                self.claims().claim_account(owner, id);
                Ok(Created { id })
            }
            // It made an account without naming it: which one, only the rule can say, by a look.
            None => {
                let err = Error::Decode {
                    message: format!("task {task_id} completed without a resourceId"),
                };
                match self.look(record, owner, Instant::now()).await {
                    Ok(Look::Ours(account)) => Ok(Created { id: account.id }),
                    Ok(Look::Undecidable { why, candidates }) => Err(CreateFailure::Undecidable {
                        record: record.clone(),
                        why,
                        candidates,
                    }),
                    Ok(Look::Undecided { why, candidates }) => Err(CreateFailure::Pending {
                        record: record.clone(),
                        err,
                        why,
                        candidates,
                    }),
                    Ok(Look::Nothing) | Err(_) => Err(pending(
                        err,
                        format!("its task {task_id} completed without naming the account it made"),
                    )),
                }
            }
        }
    }

    /// A create task failed. One that still names an account may have made it before failing:
    /// the rule decides whether that account is this create's, to be recorded. One that cannot
    /// be read yet is left to the next operation.
    async fn failed_create(
        &self,
        task_id: &str,
        failure: TaskFailure,
        record: &PendingCreate,
        owner: Owner,
    ) -> CreateFailure {
        let id = failure.resource_id;
        let err = Error::TaskFailed(Box::new(failure));
        // Refused because the name or key is taken: what it names, if anything, is the holder.
        let Some(id) = id.filter(|_| broken_rule(&err).is_none()) else {
            return CreateFailure::NotCreated(err);
        };
        let creator: Option<TaskStateUpdate> = Some(TaskStateUpdate {
            task_id: task_id.to_owned(),
            command_type: Some(CREATE_COMMAND.to_owned()),
            status: TaskStatus::ProcessingError.as_str().to_owned(),
            description: None,
            timestamp: None,
            response: Some(crate::models::ProcessorResponse {
                resource_id: Some(id),
                ..Default::default()
            }),
        });
        match self.last_look(self.unbounded().get_cloud_account(id)).await {
            Some(Ok(a)) => {
                let key = key_evidence(&a, &record.intent.access_key_id);
                match judge(&a, key, creator.as_ref(), record, self.claims(), owner) {
                    Verdict::Ours if self.claims().claim_account(owner, id) => {
                        CreateFailure::FailedWithAccount { id, err }
                    }
                    Verdict::NotOurs(_) => CreateFailure::NotCreated(err),
                    Verdict::Ours | Verdict::Unknown(_) => CreateFailure::Pending {
                        record: record.clone(),
                        err,
                        why: format!(
                            "its failed task names cloud account {id}, which could not be told apart yet"
                        ),
                        candidates: vec![id],
                    },
                }
            }
            _ => CreateFailure::Pending {
                record: record.clone(),
                err,
                why: format!(
                    "its failed task names cloud account {id}, which could not be read yet"
                ),
                candidates: vec![id],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let summarised = Error::Conflict {
            message: "POST http://x/v1/cloud-accounts: 409 CONFLICT - CLOUD_ACCOUNT_NAME_EXISTS - name exists".to_owned(),
        };
        assert_eq!(broken_rule(&summarised), Some(Unique::Name));
        // Words in a description are not an error type.
        let described = Error::Validation {
            status: 400,
            message: r#"POST /cloud-accounts: {"error":{"type":"BAD_REQUEST","description":"not CLOUD_ACCOUNT_NAME_EXISTS"}}"#
                .to_owned(),
        };
        assert_eq!(broken_rule(&described), None);
        assert_eq!(
            broken_rule(&Error::Transport {
                message: "CLOUD_ACCOUNT_NAME_EXISTS".to_owned()
            }),
            None
        );
    }

    #[test]
    fn a_limit_refusal_is_told_by_its_error_type_and_by_words_only_without_one() {
        let bad_request = |ty: &str, description: &str| Error::Validation {
            status: 400,
            message: format!(
                r#"POST /cloud-accounts: {{"error":{{"type":"{ty}","description":"{description}"}}}}"#
            ),
        };
        for ty in [
            "CLOUD_ACCOUNT_LIMIT_EXCEEDED",
            "QUOTA_EXCEEDED",
            "MAX_CLOUD_ACCOUNTS",
        ] {
            assert!(is_limit_refusal(&bad_request(ty, "")), "{ty}");
        }
        // A type that names something else wins over the words of its description.
        assert!(!is_limit_refusal(&bad_request(
            "CLOUD_ACCOUNT_NAME_EXISTS",
            "limit reached"
        )));
        assert!(!is_limit_refusal(&bad_request("NAME_LENGTH_LIMIT", "")));
        assert!(is_limit_refusal(&bad_request(
            "BAD_REQUEST",
            "Cloud account limit reached"
        )));
        // Without an error type, the words decide (the emulator's and a gateway's plain bodies).
        let plain = Error::Validation {
            status: 400,
            message: "POST /cloud-accounts: Cloud account limit reached: at most 2 cloud accounts allowed".to_owned(),
        };
        assert!(is_limit_refusal(&plain));
        let task = Error::TaskFailed(Box::new(TaskFailure {
            error_type: Some("CLOUD_ACCOUNTS_OVER_LIMIT".to_owned()),
            ..TaskFailure::default()
        }));
        assert!(is_limit_refusal(&task));
        // A 429 is a rate limit, retried elsewhere; never the account limit.
        assert!(!is_limit_refusal(&Error::RateLimited {
            retry_after: None,
            message: "rate limit".to_owned()
        }));
    }
}

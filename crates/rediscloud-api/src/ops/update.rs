//! Update: a PUT of absolute values, reconciled when its answer is lost.

use tokio::time::Instant;

use super::MAX_SENDS;
use super::ownership::{Owner, task_age};
use crate::models::{AccountStatusKind, CloudAccount, CloudAccountUpdateRequest, TaskStatus};
use crate::{Client, Error};

const UPDATE_COMMAND: &str = "cloudAccountUpdateRequest";

/// Why an update did not complete.
#[derive(Debug)]
pub enum UpdateFailure {
    /// Certainly not applied (a 4xx, or the task failed).
    Rejected(Error),
    /// Accepted as task `task_id`, which had not finished.
    Pending { task_id: String, err: Error },
    /// Whether it was applied is unknown.
    Unknown { err: Error },
    /// Whether it was applied is unknown, and an update of the account completed since it was
    /// sent (another client's, perhaps) that the account now shows instead: sending it again
    /// could undo that change, so it was not.
    Overtaken { err: Error },
}

impl Client {
    /// Updates account `id` and waits for its task; an ambiguous PUT is reconciled, never
    /// assumed. `rotates_secrets` says whether the PUT changes a secret the API never returns.
    pub async fn update_cloud_account_reconciled(
        &self,
        id: i64,
        body: &CloudAccountUpdateRequest,
        rotates_secrets: bool,
    ) -> Result<(), UpdateFailure> {
        let claims = self.claims();
        let owner = claims.owner();
        let (deadline, stop) = self.bounds_or_default();
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.update_cloud_account(id, body).await {
                Ok(task) => {
                    claims.claim_task(owner, &task.task_id);
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
                    let what = format!("the updates of cloud account {id} to settle");
                    let mut schedule = self.schedule();
                    loop {
                        let settled = match self.settle(id, UPDATE_COMMAND, sent_at, owner).await {
                            // The list may lag behind the PUT: the answer by ID is the fresher read.
                            Ok(listed) if !shows_update(&listed, body) => {
                                Ok(self.get_cloud_account(id).await.unwrap_or(listed))
                            }
                            other => other,
                        };
                        match settled {
                            Ok(account) if !rotates_secrets && shows_update(&account, body) => {
                                return Ok(());
                            }
                            // An update of the account completed since this PUT was sent (this one,
                            // or another client's after it) and the account does not show ours:
                            // sending it again could undo another client's change.
                            Ok(account) if !shows_visible_update(&account, body) => {
                                match self.updates_since(id, sent_at, owner).await {
                                    Since::None => {}
                                    Since::Completed => {
                                        tracing::warn!(
                                            cloud_account_id = id,
                                            "an update of cloud account {id} completed since the interrupted PUT was sent, and the account does not show this one's values: not sending it again"
                                        );
                                        return Err(UpdateFailure::Overtaken { err });
                                    }
                                    // Something may be running (or the tasks could not be read):
                                    // settle again, within the operation's bounds.
                                    Since::Maybe => {
                                        if self
                                            .reconcile_pause(schedule.next_delay(), &what)
                                            .await
                                            .is_err()
                                        {
                                            return Err(UpdateFailure::Unknown { err });
                                        }
                                        continue;
                                    }
                                }
                                if sends >= MAX_SENDS {
                                    return Err(UpdateFailure::Unknown { err });
                                }
                                tracing::info!(
                                    cloud_account_id = id,
                                    "nothing ran for cloud account {id} since the interrupted PUT and the update is not visible; sending it again (a PUT sets absolute values)"
                                );
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
                        break;
                    }
                }
                Err(err) => return Err(UpdateFailure::Rejected(err)),
            }
        }
    }

    /// What update tasks of account `id`, sent by no other write of this process, did since
    /// `sent_at` (by their timestamps, on the API's clock): whether the interrupted PUT may have
    /// been applied. A failed update changed nothing.
    async fn updates_since(&self, id: i64, sent_at: Instant, owner: Owner) -> Since {
        let claims = self.claims();
        let Ok(tasks) = self.tasks_since(Instant::now()).await else {
            return Since::Maybe;
        };
        let api_clock = self
            .inner
            .api_clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        // Timestamps, and the `Date` header that sets the API's clock, may be whole seconds:
        // a second more is the cautious side.
        let since = sent_at.elapsed() + std::time::Duration::from_secs(1);
        let mut out = Since::None;
        for t in tasks.iter().filter(|t| {
            t.command_type.as_deref() == Some(UPDATE_COMMAND)
                && t.failure().is_none()
                && !claims.task_held_by_other(owner, &t.task_id)
        }) {
            let age = task_age(t, api_clock);
            if age.is_some_and(|age| age > since) {
                continue;
            }
            // (An age of none: a timestamp ahead of the API's clock as this client knows it to
            // the second, so just now; or none that can be read.)
            match (t.task_status(), t.resource_id()) {
                (TaskStatus::ProcessingCompleted, Some(r)) if r == id && t.timestamp.is_some() => {
                    return Since::Completed;
                }
                (_, Some(r)) if r != id => {}
                // Still running, naming no account yet, or without a timestamp.
                _ => out = Since::Maybe,
            }
        }
        out
    }

    /// Waits until account `id` has no `command` task of another owner in progress and is in no
    /// transitional status, for at least the grace since `sent_at`; returns the account then.
    pub(super) async fn settle(
        &self,
        id: i64,
        command: &str,
        sent_at: Instant,
        owner: Owner,
    ) -> Result<CloudAccount, Error> {
        let claims = self.claims();
        let grace = self.inner.poll.not_found_grace;
        let what = format!("cloud account {id} to settle after an interrupted request");
        let mut schedule = self.schedule();
        let mut fresh_after = sent_at;
        loop {
            let past_grace = fresh_after >= sent_at + grace;
            let look = async {
                // From the shared list (by ID only where the list masks a field).
                let account = self.read_cloud_account(id).await?;
                let tasks = self.tasks_since(fresh_after).await?;
                Ok::<_, Error>((account, tasks))
            }
            .await;
            fresh_after = Instant::now();
            match look {
                Ok((account, tasks)) => {
                    // A task of this command that names another account is not this one's.
                    let busy = account.status_kind() == AccountStatusKind::Pending
                        || tasks.iter().any(|t| {
                            t.command_type.as_deref() == Some(command)
                                && t.task_status().may_still_run()
                                && t.resource_id().is_none_or(|r| r == id)
                                && !claims.task_held_by_other(owner, &t.task_id)
                        });
                    if !busy && past_grace {
                        return Ok(account);
                    }
                }
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
            self.reconcile_pause(schedule.next_delay(), &what).await?;
        }
    }
}

/// What update tasks did since an interrupted PUT was sent.
enum Since {
    /// None ran (none of this account's, none that may be).
    None,
    /// One of this account's completed.
    Completed,
    /// One may have: still running, naming no account, or the task list could not be read.
    Maybe,
}

/// Whether every field the PUT sets that the account shows (its name and key; its sign-in URL
/// when reported) has the requested value: what another client's change would differ in.
fn shows_visible_update(account: &CloudAccount, body: &CloudAccountUpdateRequest) -> bool {
    let url_ok = match (&body.sign_in_login_url, &account.sign_in_login_url) {
        (Some(wanted), Some(shown)) => wanted == shown,
        _ => true,
    };
    shows_name_and_key(account, body) && url_ok
}

fn shows_name_and_key(account: &CloudAccount, body: &CloudAccountUpdateRequest) -> bool {
    body.name
        .as_deref()
        .is_none_or(|n| account.name.as_deref() == Some(n))
        && account
            .access_key_id
            .as_deref()
            .is_some_and(|k| k == body.access_key_id)
}

/// Whether every field the PUT sets, other than secrets, is seen with the requested value.
fn shows_update(account: &CloudAccount, body: &CloudAccountUpdateRequest) -> bool {
    // An account that does not report its sign-in URL cannot show that it changed.
    let url_ok = body
        .sign_in_login_url
        .as_deref()
        .is_none_or(|u| account.sign_in_login_url.as_deref() == Some(u));
    shows_name_and_key(account, body) && url_ok
}

//! Delete: a DELETE that ends only when the account is proven gone.

use tokio::time::Instant;

use super::MAX_SENDS;
use super::ownership::{DELETE_COMMAND, Gone, Owner, now_ms};
use crate::{Client, Error};

impl Client {
    /// Whether a not-found answer for account `id` ends a delete: the gone rule proves it gone
    /// (true), or the account is too young for its absence to mean anything (false: look again
    /// within the operation's bounds).
    async fn gone_for_delete(
        &self,
        id: i64,
        err: Error,
        created_at_ms: Option<u64>,
    ) -> Result<bool, Error> {
        match self.gone(id, err, created_at_ms).await? {
            Gone::Proven => Ok(true),
            Gone::TooYoung { age } => {
                tracing::info!(
                    cloud_account_id = id,
                    "cloud account {id} was created {}s ago and the API does not show it yet; waiting for it before deleting it",
                    age.as_secs()
                );
                Ok(false)
            }
        }
    }

    /// Pauses `delay` before looking again for account `id`, too young for the API to show it
    /// yet. Should the operation's deadline come first, that is what the error says: the
    /// account is not visible yet, so nothing was deleted.
    async fn wait_until_visible(
        &self,
        id: i64,
        created_at_ms: Option<u64>,
        delay: std::time::Duration,
        what: &str,
    ) -> Result<(), Error> {
        self.reconcile_pause(delay, what)
            .await
            .map_err(|e| match e {
                Error::Timeout { .. } => Error::NotVisibleYet {
                    id,
                    age_s: created_at_ms.map_or(0, |born| now_ms().saturating_sub(born) / 1000),
                },
                other => other,
            })
    }

    /// Deletes account `id` (created at `created_at_ms`, unix ms, when known) and waits until it
    /// is proven gone; an ambiguous DELETE is reconciled. An account that is already gone counts
    /// as deleted; one too young for the API to show it yet is waited for.
    pub async fn delete_cloud_account_reconciled(
        &self,
        id: i64,
        created_at_ms: Option<u64>,
    ) -> Result<(), Error> {
        let claims = self.claims();
        let owner = claims.owner();
        let (deadline, stop) = self.bounds_or_default();
        let what = format!(
            "cloud account {id}, created moments ago, to be visible to the Redis Cloud API"
        );
        let mut young = self.schedule();
        let mut sends = 0;
        loop {
            sends += 1;
            let asked_at = Instant::now();
            match self.delete_cloud_account(id).await {
                Ok(task) => {
                    claims.claim_task(owner, &task.task_id);
                    match self.wait_for_task(&task.task_id, deadline, &stop).await {
                        Ok(_) => {}
                        Err(Error::TaskFailed(f))
                            if f.error_type.as_deref() == Some("CLOUD_ACCOUNT_NOT_FOUND") =>
                        {
                            // The task says so; the account itself must agree.
                            let err = Error::TaskFailed(f);
                            match self.get_cloud_account(id).await {
                                Err(e) if e.is_any_not_found() => {
                                    if self.gone_for_delete(id, e, created_at_ms).await? {
                                        claims.release_account(id);
                                        return Ok(());
                                    }
                                    self.wait_until_visible(
                                        id,
                                        created_at_ms,
                                        young.next_delay(),
                                        &what,
                                    )
                                    .await?;
                                    sends -= 1;
                                    continue;
                                }
                                // Deleted by another client's delete: gone once it is gone.
                                Ok(a) if a.status.as_deref() == Some("deleted") => {
                                    self.wait_for_cloud_account_gone(
                                        id,
                                        created_at_ms,
                                        deadline,
                                        &stop,
                                    )
                                    .await?;
                                    claims.release_account(id);
                                    return Ok(());
                                }
                                _ => return Err(err),
                            }
                        }
                        Err(err) => return Err(err),
                    }
                    self.wait_for_cloud_account_gone(id, created_at_ms, deadline, &stop)
                        .await?;
                    claims.release_account(id);
                    return Ok(());
                }
                Err(err) if err.is_any_not_found() => {
                    if self.gone_for_delete(id, err, created_at_ms).await? {
                        claims.release_account(id);
                        return Ok(());
                    }
                    // A definite answer: nothing was deleted, so the DELETE may be sent again.
                    self.wait_until_visible(id, created_at_ms, young.next_delay(), &what)
                        .await?;
                    sends -= 1;
                }
                Err(err @ Error::Ambiguous { .. }) => {
                    let sent_at = err.sent_at().unwrap_or(asked_at);
                    tracing::warn!(cloud_account_id = id, error = %err, "the delete of cloud account {id} has an unknown outcome ({err}); reconciling");
                    let account = match self.get_cloud_account(id).await {
                        Ok(a) => Some(a),
                        Err(e) if e.is_any_not_found() => {
                            if self.gone_for_delete(id, e, created_at_ms).await? {
                                claims.release_account(id);
                                return Ok(());
                            }
                            None
                        }
                        Err(_) => None,
                    };
                    if account.is_some_and(|a| a.is_being_deleted()) {
                        self.wait_for_cloud_account_gone(id, created_at_ms, deadline, &stop)
                            .await?;
                        claims.release_account(id);
                        return Ok(());
                    }
                    match self
                        .settle_delete(id, sent_at, owner, created_at_ms)
                        .await?
                    {
                        true => {
                            claims.release_account(id);
                            return Ok(());
                        }
                        false if sends < MAX_SENDS => {}
                        false => return Err(err),
                    }
                }
                // Held back (the rate window, a refusal retried) until the bounds ended: no
                // DELETE of ours was applied.
                Err(err @ (Error::Timeout { .. } | Error::Cancelled { .. })) => {
                    return Err(Error::NotSent(Box::new(err)));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// After an ambiguous DELETE: true once the account is proven gone, false once nothing
    /// is in progress for the grace (the DELETE may be sent again).
    async fn settle_delete(
        &self,
        id: i64,
        sent_at: Instant,
        owner: Owner,
        created_at_ms: Option<u64>,
    ) -> Result<bool, Error> {
        let (deadline, stop) = self.bounds_or_default();
        match self.settle(id, DELETE_COMMAND, sent_at, owner).await {
            Ok(a) if a.is_being_deleted() => {
                self.wait_for_cloud_account_gone(id, created_at_ms, deadline, &stop)
                    .await?;
                Ok(true)
            }
            // A completed delete of it is evidence the DELETE happened, whatever a list that
            // lags behind it still shows: it is not sent again.
            Ok(_) if self.deleted_by_a_task(id).await => {
                self.wait_for_cloud_account_gone(id, created_at_ms, deadline, &stop)
                    .await?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.is_any_not_found() => self.gone_for_delete(id, e, created_at_ms).await,
            Err(e) => Err(e),
        }
    }
}

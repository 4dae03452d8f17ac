//! The write journeys, one file each, and what they share: reconciliation of writes whose
//! answer was lost. Whether an account is a create's, and whether it is gone, is decided by
//! [`ownership`] alone.
//!
//! A write's answer is either definite (2xx, or a 4xx, which changed nothing) or ambiguous
//! ([`Error::Ambiguous`]: the connection was lost after sending, a 5xx, a 408, or a timeout
//! reading the answer). An ambiguous write is never repeated blindly:
//!
//! - [`create`]: before the POST, the account list and the task list are read (the snapshot,
//!   [`ownership::Before`]). A name or an access key that a live account already carries fails
//!   at once, naming that account. After an ambiguous POST the lists are looked at
//!   ([`Client::look`]) until the rule finds the create's account, or it is certain that nothing
//!   of it exists or is on its way (the POST is then sent again), or the operation ends: then
//!   the create is recorded as pending ([`ownership::PendingCreate`]).
//! - [`pending`]: a later operation resolves a pending create by the same look.
//! - [`update`]: a PUT carries absolute values, so applying it twice has the effect of applying
//!   it once. After an ambiguous PUT the account is watched until no update is in progress and
//!   the grace has passed; the PUT is then sent again unless every field it sets that the API
//!   returns already has the requested value and it rotates no secret.
//! - [`delete`]: after an ambiguous DELETE the account is read: gone (proven, [`Client::gone`])
//!   or being deleted means it was applied; otherwise, once nothing is in progress and the grace
//!   has passed, the DELETE is sent again (a second DELETE of a deleted account is answered "not
//!   found").

pub mod create;
pub mod delete;
pub mod ownership;
pub mod pending;
pub mod update;

use std::time::Duration;

use tokio::time::Instant;

use super::models::{CloudAccount, TaskStateUpdate};
use super::poll::{POST_DEADLINE_GRACE, grace_after_stop};
use super::{Client, Error};
use ownership::now_ms;

pub use create::{CreateFailure, Created, is_limit_refusal};
pub use pending::Resolution;
pub use update::UpdateFailure;

/// How many times one operation sends the same write at most.
const MAX_SENDS: u32 = 3;

/// Unix ms at which `at` happened, by this machine's clock.
pub(crate) fn wall_ms(at: Instant) -> u64 {
    let ago = Instant::now().saturating_duration_since(at);
    now_ms().saturating_sub(u64::try_from(ago.as_millis()).unwrap_or(u64::MAX))
}

impl Client {
    /// Runs a last look after the operation's deadline, within [`POST_DEADLINE_GRACE`] of it,
    /// and within that grace of StopProvider.
    pub(crate) async fn last_look<T>(&self, f: impl std::future::Future<Output = T>) -> Option<T> {
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

    pub(crate) fn bounds_or_default(&self) -> (Instant, tokio_util::sync::CancellationToken) {
        match &self.bounds {
            Some(b) => (b.deadline, b.stop.clone()),
            None => (
                Instant::now() + Duration::from_secs(3600),
                tokio_util::sync::CancellationToken::new(),
            ),
        }
    }

    /// Sleeps `delay` within the operation's bounds.
    pub(crate) async fn reconcile_pause(&self, delay: Duration, what: &str) -> Result<(), Error> {
        let (deadline, stop) = self.bounds_or_default();
        tokio::select! {
            biased;
            () = stop.cancelled() => Err(Error::Cancelled { waiting_for: what.to_owned() }),
            () = tokio::time::sleep_until(deadline) => Err(Error::Timeout { waiting_for: what.to_owned(), last_status: None }),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }
}

//! Pending: what became of a create recorded as pending, by the one look.

use tokio::time::Instant;

use super::ownership::{Look, PendingCreate};
use crate::models::CloudAccount;
use crate::{Client, Error};

/// What became of a create recorded as pending.
#[derive(Debug)]
pub enum Resolution {
    /// It made this account.
    Created(CloudAccount),
    /// Nothing of it exists or is on its way.
    NothingCreated,
    /// Not decided: why, and the accounts that may be its.
    Undecided { why: String, candidates: Vec<i64> },
    /// Never to be decided by a look: evidence is gone for good or was never given. Why, and
    /// the accounts that may be its.
    Undecidable { why: String, candidates: Vec<i64> },
}

impl Client {
    /// What became of a create recorded as pending, by one look with the rule. `self` should be
    /// bounded by the operation.
    pub async fn resolve_pending_create(
        &self,
        record: &PendingCreate,
    ) -> Result<Resolution, Error> {
        let owner = record.owner();
        Ok(match self.look(record, owner, Instant::now()).await? {
            Look::Ours(account) => Resolution::Created(account),
            Look::Nothing => Resolution::NothingCreated,
            Look::Undecided { why, candidates } => Resolution::Undecided { why, candidates },
            Look::Undecidable { why, candidates } => Resolution::Undecidable { why, candidates },
        })
    }

    /// Resolves a pending create, looking again on the one schedule while it is undecided, until
    /// it is decided or the operation's bounds end (then the last undecided answer).
    pub async fn settle_pending_create(&self, record: &PendingCreate) -> Result<Resolution, Error> {
        let what = format!(
            "the pending create of {:?} to be decided",
            record.intent.name
        );
        let mut schedule = self.schedule();
        loop {
            match self.resolve_pending_create(record).await {
                Ok(Resolution::Undecided { why, candidates }) => {
                    if self
                        .reconcile_pause(schedule.next_delay(), &what)
                        .await
                        .is_err()
                    {
                        return Ok(Resolution::Undecided { why, candidates });
                    }
                }
                Err(e) if e.is_transient() => {
                    if self
                        .reconcile_pause(schedule.next_delay(), &what)
                        .await
                        .is_err()
                    {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }
}

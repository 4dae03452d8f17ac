//! Cloud-account endpoints and the waits for an account to become active or to disappear.

use reqwest::Method;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::Call;
use super::models::{
    AccountStatusKind, COLLECTION, CloudAccount, CloudAccountCreateRequest, CloudAccountList,
    CloudAccountUpdateRequest, TaskStateUpdate, is_deleting_status,
};
use super::ownership::Gone;
use super::poll::{Look, Poller};
use super::{Client, Error};

/// How old a list may be and still serve a read of an account it shows: a refresh wave follows
/// ConfigureProvider within milliseconds, and an account changed in this window would be just as
/// stale had the read been a moment earlier.
const RECENT_LIST: std::time::Duration = std::time::Duration::from_secs(2);

fn encode(body: &impl Serialize) -> Result<Vec<u8>, Error> {
    // The message never includes the body: it carries credentials.
    serde_json::to_vec(body).map_err(|_| Error::Config {
        message: "could not encode the request body".to_owned(),
    })
}

impl Client {
    /// Proves the base URL, the API key and the secret key with one request, the account list,
    /// which the refreshes right after it read instead of asking again
    /// ([`Client::refresh_cloud_account`]), until this process sends a write. It is not a
    /// snapshot for anything else: what a write decides from must be fetched for it.
    pub async fn verify_access(&self) -> Result<(), Error> {
        let sent = Instant::now();
        let list = self.list_cloud_accounts().await?;
        *self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((sent, std::sync::Arc::new(list)));
        Ok(())
    }

    /// The list that proved the configuration, if it is at most [`RECENT_LIST`] old.
    fn verified_list(&self) -> Option<std::sync::Arc<Vec<CloudAccount>>> {
        let verified = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (sent, list) = verified.as_ref()?;
        (sent.elapsed() <= RECENT_LIST).then(|| std::sync::Arc::clone(list))
    }

    /// Account `id` as the list that proved the configuration shows it, if that list is recent
    /// and shows it unmasked.
    fn verified_account(&self, id: i64) -> Option<CloudAccount> {
        self.verified_list()?
            .iter()
            .find(|a| a.id == id && !a.has_masked_fields())
            .cloned()
    }

    pub async fn list_cloud_accounts(&self) -> Result<Vec<CloudAccount>, Error> {
        self.fetch_cloud_accounts(false, false).await
    }

    /// `GET /cloud-accounts`; `poll` marks a shared watcher's poll for the rate gate.
    async fn fetch_cloud_accounts(
        &self,
        poll: bool,
        shared: bool,
    ) -> Result<Vec<CloudAccount>, Error> {
        let list: CloudAccountList = self
            .execute(Call {
                method: Method::GET,
                segments: vec![COLLECTION.to_owned()],
                body: None,
                redact: Vec::new(),
                resource: "the cloud account list".to_owned(),
                // A shared fetch serves every waiting operation: all its tries together take at
                // most one HTTP timeout, so a stuck list request holds no wait for longer.
                deadline: shared.then(|| Instant::now() + self.inner.http_timeout()),
                poll,
            })
            .await?;
        self.inner
            .ever_listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(list.cloud_accounts.iter().map(|a| a.id));
        Ok(list.cloud_accounts)
    }

    /// The account list from the shared watcher, fetched at or after `fresh_after`.
    pub async fn accounts_since(
        &self,
        fresh_after: Instant,
    ) -> Result<std::sync::Arc<Vec<CloudAccount>>, Error> {
        self.accounts_list(fresh_after, false).await
    }

    /// The account list a write's snapshot is taken from: like [`Client::accounts_since`],
    /// but with a write's priority, never held back by the polls' pace.
    pub(crate) async fn accounts_for_write(
        &self,
        fresh_after: Instant,
    ) -> Result<std::sync::Arc<Vec<CloudAccount>>, Error> {
        self.accounts_list(fresh_after, true).await
    }

    async fn accounts_list(
        &self,
        fresh_after: Instant,
        for_write: bool,
    ) -> Result<std::sync::Arc<Vec<CloudAccount>>, Error> {
        let fetcher = self.unbounded();
        let gate = &self.inner.gate;
        // A wait's last look, made outside its bounds, is one fetch that must not queue for
        // the pace: it is what ends the wait. Neither may a write's snapshot.
        let paced = self.bounds.is_some() && !for_write;
        let shared = self.inner.accounts.get(
            fresh_after,
            || if paced { gate.list_pace() } else { None },
            move || async move { fetcher.fetch_cloud_accounts(!for_write, true).await },
        );
        self.within_bounds("the cloud account list", shared).await
    }

    /// Reads account `id` for a refresh. Refreshes issued together share one list request; an
    /// account the list masks (an `accessKeyId` like `A***E`) is read by ID, so a masked value
    /// is never taken for drift. So is one the list does not show: a list may be stale or
    /// partial, and only the API's answer for the account itself says it is not found.
    pub async fn read_cloud_account(&self, id: i64) -> Result<CloudAccount, Error> {
        // Reads that arrive together share one list fetched after this read began.
        let list = self.accounts_since(Instant::now()).await?;
        match list.iter().find(|a| a.id == id) {
            Some(a) if !a.has_masked_fields() => Ok(a.clone()),
            Some(_) => self.get_cloud_account(id).await,
            None => {
                tracing::debug!(
                    cloud_account_id = id,
                    "cloud account {id} is not in the list; asking for it by ID"
                );
                self.get_cloud_account(id).await
            }
        }
    }

    /// Reads account `id`, created at `created_at_ms` (unix ms; `None` when not recorded), for
    /// the state: `None` once the gone rule proves it gone ([`Client::gone`]). A young account the
    /// API does not show yet is waited for within this client's bounds, then reported as
    /// [`Error::NotVisibleYet`], never as gone.
    pub async fn refresh_cloud_account(
        &self,
        id: i64,
        created_at_ms: Option<u64>,
        updated_at_ms: Option<u64>,
    ) -> Result<Option<CloudAccount>, Error> {
        // A list may lag behind an update this recent and show the old values as drift: the
        // answer by ID is the fresher read.
        let by_id = self.young(updated_at_ms).is_some();
        // A plan's refresh wave follows ConfigureProvider at once: the list that proved the
        // configuration serves an account it shows. Only a newer list can prove one gone.
        if !by_id
            && let Some(a) = self.verified_account(id)
            && a.status.as_deref() != Some("deleted")
        {
            return Ok(Some(a));
        }
        let mut schedule = self.schedule();
        // Set once the account was found too young to be missed: the bounds ending after that
        // end the wait for it, not the refresh's evidence.
        let mut unseen: Option<Error> = None;
        loop {
            let read = if by_id {
                self.get_cloud_account(id).await
            } else {
                self.read_cloud_account(id).await
            };
            let err = match read {
                Ok(a) if a.status.as_deref() == Some("deleted") => return Ok(None),
                Ok(a) => return Ok(Some(a)),
                Err(e) if e.is_any_not_found() => e,
                Err(e @ (Error::Timeout { .. } | Error::Cancelled { .. })) => {
                    return Err(unseen.unwrap_or(e));
                }
                Err(e) => return Err(e),
            };
            match self.gone(id, err, created_at_ms).await? {
                Gone::Proven => return Ok(None),
                Gone::TooYoung { age } => {
                    let what = format!("cloud account {id} to be visible");
                    let not_yet = Error::NotVisibleYet {
                        id,
                        age_s: age.as_secs(),
                    };
                    if self
                        .reconcile_pause(schedule.next_delay(), &what)
                        .await
                        .is_err()
                    {
                        return Err(not_yet);
                    }
                    unseen = Some(not_yet);
                }
            }
        }
    }

    pub async fn get_cloud_account(&self, id: i64) -> Result<CloudAccount, Error> {
        self.get_cloud_account_until(id, None).await
    }

    async fn get_cloud_account_until(
        &self,
        id: i64,
        deadline: Option<Instant>,
    ) -> Result<CloudAccount, Error> {
        self.execute(Call {
            method: Method::GET,
            segments: vec![COLLECTION.to_owned(), id.to_string()],
            body: None,
            redact: Vec::new(),
            resource: format!("cloud account {id}"),
            deadline,
            poll: false,
        })
        .await
    }

    /// Starts creating an account; the returned task carries the new id once it completes.
    pub async fn create_cloud_account(
        &self,
        req: &CloudAccountCreateRequest,
    ) -> Result<TaskStateUpdate, Error> {
        self.execute(Call {
            method: Method::POST,
            segments: vec![COLLECTION.to_owned()],
            body: Some(encode(req)?),
            redact: vec![
                req.access_secret_key.expose(),
                req.console_password.expose(),
            ],
            resource: "the cloud account collection".to_owned(),
            deadline: None,
            poll: false,
        })
        .await
    }

    pub async fn update_cloud_account(
        &self,
        id: i64,
        req: &CloudAccountUpdateRequest,
    ) -> Result<TaskStateUpdate, Error> {
        self.execute(Call {
            method: Method::PUT,
            segments: vec![COLLECTION.to_owned(), id.to_string()],
            body: Some(encode(req)?),
            redact: vec![
                req.access_secret_key.expose(),
                req.console_password.expose(),
            ],
            resource: format!("cloud account {id}"),
            deadline: None,
            poll: false,
        })
        .await
    }

    pub async fn delete_cloud_account(&self, id: i64) -> Result<TaskStateUpdate, Error> {
        self.execute(Call {
            method: Method::DELETE,
            segments: vec![COLLECTION.to_owned(), id.to_string()],
            body: None,
            redact: Vec::new(),
            resource: format!("cloud account {id}"),
            deadline: None,
            poll: false,
        })
        .await
    }

    /// Waits until the account is `active`, from the shared account list.
    ///
    /// `draft`, `pending`, `change-draft` and `change-pending` keep the wait going;
    /// `active-error`, `error`, `deleted` and `delete-draft` end it with
    /// [`Error::AccountStatus`]. An account missing from the list right after its task completed
    /// is tolerated for the policy's grace (the API is eventually consistent), then read by ID.
    pub async fn wait_for_cloud_account_active(
        &self,
        id: i64,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<CloudAccount, Error> {
        self.wait_active(id, Instant::now(), false, deadline, cancel)
            .await
    }

    /// [`Client::wait_for_cloud_account_active`] after an update of account `id` completed. A
    /// list may lag behind the update and still show the account as it was, `active` or failed
    /// with its old values, and nothing in the entry tells (a rotated secret never shows): a
    /// status that would end the wait is confirmed by ID, the fresher answer, which decides.
    pub async fn wait_for_updated_cloud_account_active(
        &self,
        id: i64,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<CloudAccount, Error> {
        self.wait_active(id, Instant::now(), true, deadline, cancel)
            .await
    }

    /// [`Client::wait_for_cloud_account_active`] for an account the create that began at
    /// `create_began` made. A list fetched since then already counts: the account did not exist
    /// before, so whatever status a list shows for it is one it has had since it was made, and
    /// a list the create's neighbours fetched a moment ago that shows it active ends the wait
    /// without a fetch of its own. (After an update the wait needs a list fetched after it
    /// began: an older one shows the account as it was.)
    pub async fn wait_for_new_cloud_account_active(
        &self,
        id: i64,
        create_began: Instant,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<CloudAccount, Error> {
        self.wait_active(id, create_began, false, deadline, cancel)
            .await
    }

    /// Waits until account `id` is `active`; its first look may use a list fetched at or after
    /// `seen_since`. `after_update`: a list's status that would end the wait is confirmed by ID.
    async fn wait_active(
        &self,
        id: i64,
        seen_since: Instant,
        after_update: bool,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<CloudAccount, Error> {
        let what = format!("cloud account {id} to become active");
        let mut poller = Poller::new(&self.inner.poll, deadline, cancel, what);
        let mut fresh_after = seen_since;
        // The account was created or changed just now: while it is young, its absence is the
        // API's lag (see `Client::gone`), so the wait goes on.
        let young_until = Instant::now() + self.inner.poll.visibility_window;
        let mut warned: Option<String> = None;
        loop {
            poller.pause().await?;
            let by_id_look = |look: Look| {
                let client = self.for_look(look);
                async move { client.get_cloud_account_until(id, Some(look.until)).await }
            };
            let polled = poller
                .run(|look: Look| {
                    let client = self.for_look(look);
                    async move { client.accounts_since(fresh_after).await }
                })
                .await?;
            let found = match polled {
                Ok(list) => {
                    fresh_after = Instant::now();
                    list.iter().find(|a| a.id == id).cloned()
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!("polling cloud account {id} failed, will retry: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let from_list = found.is_some();
            let account = match found {
                Some(a) => a,
                None if poller.tolerate_not_found() => {
                    tracing::debug!("cloud account {id} not listed yet; it may be too new");
                    continue;
                }
                // Missing for the whole grace: ask for it by ID.
                None => match poller.run(by_id_look).await? {
                    Ok(a) => a,
                    Err(e) if e.is_transient() => continue,
                    Err(e) if e.is_any_not_found() && Instant::now() < young_until => {
                        tracing::debug!(
                            "cloud account {id} is not visible yet; the API lags behind its tasks"
                        );
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let status = account.status.clone().unwrap_or_default();
            poller.observe_status(&format!("cloud account {id}"), &status);
            match account.status_kind() {
                AccountStatusKind::Active | AccountStatusKind::Failed
                    if from_list && after_update =>
                {
                    // The list may lag behind the update: its answer by ID settles it.
                    match poller.run(by_id_look).await? {
                        Ok(a) => {
                            let status = a.status.clone().unwrap_or_default();
                            poller.observe_status(&format!("cloud account {id}"), &status);
                            match a.status_kind() {
                                AccountStatusKind::Active => return Ok(a),
                                AccountStatusKind::Failed => {
                                    return Err(Error::AccountStatus { id, status });
                                }
                                AccountStatusKind::Pending | AccountStatusKind::Unknown => {}
                            }
                        }
                        Err(e) if e.is_transient() => {}
                        Err(e) => return Err(e),
                    }
                }
                AccountStatusKind::Active if account.has_masked_fields() => {
                    // Read by ID for the values the list masks.
                    return poller.run(by_id_look).await?;
                }
                AccountStatusKind::Active => return Ok(account),
                AccountStatusKind::Pending => {}
                AccountStatusKind::Failed => {
                    return Err(Error::AccountStatus { id, status });
                }
                // Once per status, not on every poll of a long wait.
                AccountStatusKind::Unknown if warned.as_deref() != Some(status.as_str()) => {
                    tracing::warn!(
                        "cloud account {id} has a status this client does not know: {status:?}; waiting on it as still in progress"
                    );
                    warned = Some(status);
                }
                AccountStatusKind::Unknown => {}
            }
        }
    }

    /// Waits until account `id` (created at `created_at_ms`, unix ms, when known) is proven
    /// gone: a successful account list without it, or for an account young enough that the
    /// list may not show it yet, the gone rule's verdict on its answer by ID. Any status means
    /// "not yet".
    pub async fn wait_for_cloud_account_gone(
        &self,
        id: i64,
        created_at_ms: Option<u64>,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let what = format!("cloud account {id} to be deleted");
        let mut poller = Poller::new(&self.inner.poll, deadline, cancel, what);
        let mut fresh_after = Instant::now();
        // Once the account has been seen being deleted, a settled status after that says the
        // delete failed (de-provisioning can fail after the task completed).
        let mut seen_deleting = false;
        loop {
            poller.pause().await?;
            let list_look = |look: Look| {
                let client = self.for_look(look);
                async move { client.accounts_since(fresh_after).await }
            };
            match poller.run(list_look).await? {
                Ok(list) => {
                    fresh_after = Instant::now();
                    let listed = list.iter().find(|a| a.id == id).cloned();
                    let account = match listed {
                        Some(a) => a,
                        None if self.absence_proves_gone(id, created_at_ms) => return Ok(()),
                        // The list may lag behind a young account: ask for it by ID.
                        None => {
                            let by_id_look = |look: Look| {
                                let client = self.for_look(look);
                                async move { client.get_cloud_account(id).await }
                            };
                            match poller.run(by_id_look).await? {
                                Ok(a) => a,
                                Err(e) if e.is_any_not_found() => {
                                    match self.gone(id, e, created_at_ms).await? {
                                        Gone::Proven => return Ok(()),
                                        Gone::TooYoung { .. } => continue,
                                    }
                                }
                                Err(e) if e.is_transient() => continue,
                                Err(e) => return Err(e),
                            }
                        }
                    };
                    let status = account.status.clone().unwrap_or_default();
                    poller.observe_status(&format!("cloud account {id}"), &status);
                    if is_deleting_status(&status) {
                        seen_deleting = true;
                    } else if seen_deleting && is_settled(&status) {
                        // A list may show the account as it was before the delete: its answer by
                        // ID settles it.
                        let by_id_look = |look: Look| {
                            let client = self.for_look(look);
                            async move { client.get_cloud_account(id).await }
                        };
                        if let Ok(Ok(a)) = poller.run(by_id_look).await
                            && let Some(status) = a.status.filter(|s| is_settled(s))
                        {
                            return Err(Error::NotDeleted { id, status });
                        }
                    }
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!("polling cloud account {id} failed, will retry: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A status an account rests in (`active`, `active-error`, `error`): no write is under way.
fn is_settled(status: &str) -> bool {
    !is_deleting_status(status)
        && matches!(
            AccountStatusKind::classify(status),
            AccountStatusKind::Active | AccountStatusKind::Failed
        )
}

//! Cloud-account endpoints and the waits for an account to become active or to disappear.

use reqwest::Method;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::Call;
use super::models::{
    AccountStatusKind, CloudAccount, CloudAccountCreateRequest, CloudAccountList,
    CloudAccountUpdateRequest, TaskStateUpdate,
};
use super::poll::Poller;
use super::{Client, Error};

const COLLECTION: &str = "cloud-accounts";

fn encode(body: &impl Serialize) -> Result<Vec<u8>, Error> {
    // The message never includes the body: it carries credentials.
    serde_json::to_vec(body).map_err(|_| Error::Config {
        message: "could not encode the request body".to_owned(),
    })
}

impl Client {
    pub async fn list_cloud_accounts(&self) -> Result<Vec<CloudAccount>, Error> {
        let list: CloudAccountList = self
            .execute(Call {
                method: Method::GET,
                segments: vec![COLLECTION.to_owned()],
                body: None,
                redact: Vec::new(),
                resource: "the cloud account list".to_owned(),
                deadline: None,
            })
            .await?;
        Ok(list.cloud_accounts)
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
        })
        .await
    }

    /// Polls the account until it is `active`.
    ///
    /// `draft`, `pending`, `change-draft` and `change-pending` keep the wait going;
    /// `active-error`, `error`, `deleted` and `delete-draft` end it with
    /// [`Error::AccountStatus`]. A 404 right after the task completed is tolerated for the
    /// policy's grace window (the API is eventually consistent), then reported as NotFound.
    pub async fn wait_for_cloud_account_active(
        &self,
        id: i64,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<CloudAccount, Error> {
        let mut poller = Poller::new(
            &self.inner.poll,
            deadline,
            cancel,
            format!("cloud account {id} to become active"),
        );
        loop {
            poller.pause().await?;
            let polled = poller
                .run(self.get_cloud_account_until(id, Some(poller.deadline())))
                .await?;
            match polled {
                Ok(account) => {
                    let status = account.status.clone().unwrap_or_default();
                    if poller.observe_status(&status) {
                        tracing::info!("waiting for cloud account {id} to become active: {status}");
                    }
                    match account.status_kind() {
                        AccountStatusKind::Active => return Ok(account),
                        AccountStatusKind::Pending => {}
                        AccountStatusKind::Failed => {
                            return Err(Error::AccountStatus { id, status });
                        }
                        AccountStatusKind::Unknown => tracing::warn!(
                            "cloud account {id} has a status this client does not know: {status:?}"
                        ),
                    }
                }
                Err(e) if e.is_any_not_found() && poller.tolerate_not_found() => {
                    tracing::debug!("cloud account {id} not found yet; it may be too new");
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!("polling cloud account {id} failed, will retry: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Polls until account `id` is proven gone (see [`Client::prove_gone`]). Any status means
    /// "not yet".
    pub async fn wait_for_cloud_account_gone(
        &self,
        id: i64,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let mut poller = Poller::new(
            &self.inner.poll,
            deadline,
            cancel,
            format!("cloud account {id} to be deleted"),
        );
        loop {
            poller.pause().await?;
            let polled = poller
                .run(self.get_cloud_account_until(id, Some(poller.deadline())))
                .await?;
            match polled {
                Ok(account) => {
                    let status = account.status.unwrap_or_default();
                    if poller.observe_status(&status) {
                        tracing::info!("waiting for cloud account {id} to be deleted: {status}");
                    }
                }
                Err(e) if e.is_any_not_found() => return self.prove_gone(id, e).await,
                Err(e) if e.is_transient() => {
                    tracing::warn!("polling cloud account {id} failed, will retry: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

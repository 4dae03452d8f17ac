//! Tasks: `GET /tasks/{id}` and the waiter that follows a task to its end.

use reqwest::Method;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::Call;
use super::models::{TaskStateUpdate, TaskStatus};
use super::poll::{Look, Poller};
use super::{Client, Error};

/// `GET /tasks`: the wrapper object around recent tasks.
#[derive(serde::Deserialize)]
struct TaskList {
    #[serde(default)]
    tasks: Vec<TaskStateUpdate>,
}

impl Client {
    /// Recent tasks (the last 10 days), most recently updated first. Used to
    /// tell whether a create whose outcome is unknown is still queued.
    pub async fn list_tasks(&self) -> Result<Vec<TaskStateUpdate>, Error> {
        self.fetch_tasks(false, false).await
    }

    /// `GET /tasks`; `poll` marks a shared watcher's poll for the rate gate.
    async fn fetch_tasks(&self, poll: bool, shared: bool) -> Result<Vec<TaskStateUpdate>, Error> {
        let list: TaskList = self
            .execute(Call {
                method: Method::GET,
                segments: vec!["tasks".to_owned()],
                body: None,
                redact: Vec::new(),
                resource: "tasks".to_owned(),
                // A shared fetch serves every waiting operation: all its tries together take at
                // most one HTTP timeout, so a stuck list request holds no wait for longer.
                deadline: shared.then(|| Instant::now() + self.inner.http_timeout()),
                poll,
            })
            .await?;
        Ok(list.tasks)
    }

    /// The task list from the shared watcher, fetched at or after `fresh_after`.
    pub async fn tasks_since(
        &self,
        fresh_after: Instant,
    ) -> Result<std::sync::Arc<Vec<TaskStateUpdate>>, Error> {
        self.task_list(fresh_after, false).await
    }

    /// The task list a write's snapshot is taken from: like [`Client::tasks_since`], but with
    /// a write's priority, never held back by the polls' pace.
    pub(crate) async fn tasks_for_write(
        &self,
        fresh_after: Instant,
    ) -> Result<std::sync::Arc<Vec<TaskStateUpdate>>, Error> {
        self.task_list(fresh_after, true).await
    }

    async fn task_list(
        &self,
        fresh_after: Instant,
        for_write: bool,
    ) -> Result<std::sync::Arc<Vec<TaskStateUpdate>>, Error> {
        let fetcher = self.unbounded();
        let gate = &self.inner.gate;
        // A wait's last look, made outside its bounds, is one fetch that must not queue for
        // the pace: it is what ends the wait. Neither may a write's snapshot.
        let paced = self.bounds.is_some() && !for_write;
        let shared = self.inner.tasks.get(
            fresh_after,
            || if paced { gate.list_pace() } else { None },
            move || async move { fetcher.fetch_tasks(!for_write, true).await },
        );
        self.within_bounds("the task list", shared).await
    }

    pub async fn get_task(&self, task_id: &str) -> Result<TaskStateUpdate, Error> {
        self.get_task_until(task_id, None).await
    }

    async fn get_task_until(
        &self,
        task_id: &str,
        deadline: Option<Instant>,
    ) -> Result<TaskStateUpdate, Error> {
        self.execute(Call {
            method: Method::GET,
            segments: vec!["tasks".to_owned(), task_id.to_owned()],
            body: None,
            redact: Vec::new(),
            resource: format!("task {task_id}"),
            deadline,
            poll: false,
        })
        .await
    }

    /// Polls the task until `processing-completed` and returns that final state.
    ///
    /// A brand-new task may answer 404 briefly; that is tolerated per [`super::PollPolicy`].
    /// Failures come back as [`Error::TaskFailed`] naming the task ID; transient API errors
    /// are polled through until the deadline.
    pub async fn wait_for_task(
        &self,
        task_id: &str,
        deadline: Instant,
        cancel: &CancellationToken,
    ) -> Result<TaskStateUpdate, Error> {
        let mut poller = Poller::new(
            &self.inner.poll,
            deadline,
            cancel,
            format!("task {task_id} to finish"),
        );
        let mut fresh_after = Instant::now();
        // Once the task has been missing from the list for the whole grace (the list covers
        // ten days, and a new task may be missing briefly), it is asked for by ID.
        let mut by_id = false;
        let mut warned: Option<String> = None;
        loop {
            poller.pause().await?;
            let by_id_look = |look: Look| {
                let client = self.for_look(look);
                async move { client.get_task_until(task_id, Some(look.until)).await }
            };
            let polled = if by_id {
                poller.run(by_id_look).await?
            } else {
                let list_look = |look: Look| {
                    let client = self.for_look(look);
                    async move { client.tasks_since(fresh_after).await }
                };
                match poller.run(list_look).await? {
                    Ok(list) => {
                        fresh_after = Instant::now();
                        match list.iter().find(|t| t.task_id == task_id) {
                            Some(t) => Ok(t.clone()),
                            None if poller.tolerate_not_found() => {
                                tracing::debug!("task {task_id} not listed yet; it may be too new");
                                continue;
                            }
                            None => {
                                by_id = true;
                                poller.run(by_id_look).await?
                            }
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            match polled {
                Ok(task) => {
                    poller.observe_status(
                        &format!(
                            "task {task_id} ({})",
                            task.command_type.as_deref().unwrap_or("unknown command")
                        ),
                        &task.status,
                    );
                    if let Some(failure) = task.failure() {
                        return Err(Error::TaskFailed(Box::new(failure)));
                    }
                    match task.task_status() {
                        TaskStatus::ProcessingCompleted => return Ok(task),
                        s if s.is_in_progress() => {}
                        // Not in the spec; keep polling (bounded by the deadline) rather than
                        // abandon a task that may still complete. Said once per status.
                        other if warned.as_deref() != Some(other.as_str()) => {
                            tracing::warn!(
                                "task {task_id} has a status this client does not know: {other}; waiting on it as still in progress"
                            );
                            warned = Some(other.as_str().to_owned());
                        }
                        _ => {}
                    }
                }
                Err(e) if e.is_any_not_found() && poller.tolerate_not_found() => {
                    tracing::debug!("task {task_id} not found yet; it may be too new");
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!("polling task {task_id} failed, will retry: {e}");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

//! The list-resource contract (`terraform query`, Terraform 1.14+): what a list
//! resource implements, and the stream it sends its results into.
//!
//! A list resource shares its type name with a managed resource that has an
//! identity schema: each result is that resource's identity, a display name, and
//! (when Terraform asks for it) the resource's whole state object. Its schema
//! describes only the `config` block of a `list` block; Terraform adds `limit`
//! and `include_resource` itself.

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::diag::Diagnostics;
use super::schema::Schema;
use super::value::{Value, Withheld};

/// A listing.
pub struct ListRequest<'a> {
    /// The wholly known contents of the `config` block (every attribute null when the
    /// block is absent).
    pub config: &'a Value,
    /// Whether Terraform wants each result's resource object (`include_resource = true`,
    /// and always with `-generate-config-out`). Without it the framework drops the
    /// objects, so a listing may skip work that only they need.
    pub include_resource: bool,
    /// At most this many results are wanted (at least 1). [`ListStream::send`] says
    /// [`Flow::Stop`] once they have been sent.
    pub limit: u64,
    /// Cancelled on StopProvider, and when Terraform stops reading the stream.
    pub stop: CancellationToken,
}

impl std::fmt::Debug for ListRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListRequest")
            .field("config", &Withheld(self.config))
            .field("include_resource", &self.include_resource)
            .field("limit", &self.limit)
            .field("stop", &self.stop)
            .finish()
    }
}

impl std::fmt::Debug for ListItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListItem")
            .field("identity", &self.identity)
            .field("display_name", &self.display_name)
            .field("resource", &self.resource.as_ref().map(Withheld))
            .finish()
    }
}

/// One result.
#[derive(Clone, PartialEq)]
pub struct ListItem {
    /// The identity object of the managed resource (its identity schema's type).
    pub identity: Value,
    /// A name for humans, shown by `terraform query`.
    pub display_name: String,
    /// The complete state object of the managed resource; sent only when the request
    /// includes resources.
    pub resource: Option<Value>,
}

/// Whether a listing should go on after a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Terraform wants more.
    Continue,
    /// The limit is reached, or Terraform stopped reading: return now.
    Stop,
}

/// What the framework turns into one `ListResource.Event`.
#[derive(Debug)]
pub(crate) enum ListEvent {
    /// A result, with warnings about it.
    Item(Box<ListItem>, Diagnostics),
    /// Diagnostics on their own.
    Diagnostics(Diagnostics),
}

/// The stream of results to Terraform. Sending waits while Terraform has not taken the
/// previous result (back-pressure: a listing never runs ahead of its reader), and says
/// [`Flow::Stop`] at the limit or once Terraform has stopped reading.
#[derive(Debug)]
pub struct ListStream {
    tx: Option<mpsc::Sender<ListEvent>>,
    remaining: u64,
    sent: u64,
}

impl ListStream {
    /// A stream that forwards at most `limit` results into `tx`.
    pub(crate) fn new(tx: mpsc::Sender<ListEvent>, limit: u64) -> Self {
        ListStream {
            tx: (limit > 0).then_some(tx),
            remaining: limit,
            sent: 0,
        }
    }

    /// Sends one result, waiting until Terraform can take it.
    pub async fn send(&mut self, item: ListItem) -> Flow {
        self.send_with(item, Diagnostics::new()).await
    }

    /// Sends one result with warnings about it.
    pub async fn send_with(&mut self, item: ListItem, warnings: Diagnostics) -> Flow {
        if self.remaining == 0 {
            return Flow::Stop;
        }
        if !self
            .forward(ListEvent::Item(Box::new(item), warnings))
            .await
        {
            return Flow::Stop;
        }
        self.remaining -= 1;
        self.sent += 1;
        if self.remaining == 0 {
            // Nothing more is wanted: let Terraform see the end of the stream.
            self.tx = None;
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// How many results were sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// False once nobody reads the stream any more.
    async fn forward(&mut self, event: ListEvent) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if tx.send(event).await.is_err() {
            self.tx = None;
            return false;
        }
        true
    }
}

/// A Terraform list resource type.
#[async_trait]
pub trait ListResource: Send + Sync + 'static {
    /// What the provider's ConfigureProvider produced.
    type Data: Send + Sync + 'static;

    /// Full type name: the managed resource type it lists, e.g. `example_widget`.
    fn type_name(&self) -> &'static str;

    /// The schema of the `config` block.
    fn schema(&self) -> Schema;

    /// Extra validation beyond the schema's validators. Paths are relative to the
    /// `config` block; the framework places them inside it.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Lists, sending each result into `out` in turn and returning once `out` says
    /// [`Flow::Stop`] or nothing is left. Diagnostics added to `diags` reach Terraform
    /// as an event after the results sent; an error stops the query.
    async fn list(
        &self,
        data: &Self::Data,
        req: ListRequest<'_>,
        out: &mut ListStream,
        diags: &mut Diagnostics,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u64) -> ListItem {
        ListItem {
            identity: Value::string(n.to_string()),
            display_name: format!("item {n}"),
            resource: None,
        }
    }

    #[tokio::test]
    async fn sends_stop_at_the_limit_and_the_stream_ends_there() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut out = ListStream::new(tx, 2);
        assert_eq!(out.send(item(1)).await, Flow::Continue);
        assert_eq!(out.send(item(2)).await, Flow::Stop);
        assert_eq!(out.send(item(3)).await, Flow::Stop);
        assert_eq!(out.sent(), 2);
        let mut got = Vec::new();
        while let Some(ListEvent::Item(i, _)) = rx.recv().await {
            got.push(i.display_name);
        }
        assert_eq!(got, ["item 1", "item 2"], "the stream ends at the limit");
    }

    #[tokio::test]
    async fn a_zero_limit_sends_nothing() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut out = ListStream::new(tx, 0);
        assert_eq!(out.send(item(1)).await, Flow::Stop);
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_send_waits_for_the_reader_and_stops_when_it_hangs_up() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut out = ListStream::new(tx, 100);
        assert_eq!(out.send(item(1)).await, Flow::Continue);
        // The channel is full: the next send waits until the reader takes one.
        let mut second = Box::pin(out.send(item(2)));
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "a send must wait while the reader has not taken the previous result"
        );
        assert!(matches!(rx.recv().await, Some(ListEvent::Item(..))));
        assert_eq!(second.await, Flow::Continue);
        drop(rx);
        assert_eq!(out.send(item(3)).await, Flow::Stop);
        assert_eq!(out.sent(), 2);
    }
}

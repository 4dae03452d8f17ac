//! List resources (`terraform query`): ValidateListResourceConfig, and ListResource, whose answer is a stream of events fed by the list resource with back-pressure and cut at the limit.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::convert::{decode_dv, encode_dv, identity_type, to_pb_diags};
use super::{DynListResource, FrameworkServer, InRequest, panic_message};
use crate::framework::diag::Diagnostics;
use crate::framework::list_resource::{ListEvent, ListRequest, ListStream};
use crate::framework::path::{AttributePath, PathStep};
use crate::framework::plan::finish_state;
use crate::framework::provider::Provider;
use crate::framework::schema::Schema;
use crate::framework::value::{Type, Value};
use crate::wire::proto::tfplugin6 as pb;

/// Results a listing may hold ready before Terraform takes them. One: a listing
/// stays a single result ahead of its reader, however fast it can produce.
const AHEAD: usize = 1;

/// Terraform resolves a list resource's diagnostic paths inside the `list` block, whose
/// `config` block holds what the list resource's schema describes: the paths the list
/// resource gives (relative to its schema) are placed inside that block.
fn in_config_block(diags: Diagnostics) -> Diagnostics {
    Diagnostics(
        diags
            .0
            .into_iter()
            .map(|mut d| {
                if let Some(path) = d.attribute.take() {
                    let mut steps = vec![PathStep::Attribute("config".to_owned())];
                    steps.extend(path.steps);
                    d.attribute = Some(AttributePath { steps });
                }
                d
            })
            .collect(),
    )
}

/// What encoding a listing's events needs: the managed resource's types.
struct Encoding {
    identity: Type,
    resource: Schema,
    include_resource: bool,
}

impl Encoding {
    fn event(&self, event: ListEvent) -> pb::list_resource::Event {
        let (item, warnings) = match event {
            ListEvent::Diagnostics(d) => return diagnostics_event(d),
            ListEvent::Item(item, warnings) => (item, warnings),
        };
        let mut diags = in_config_block(warnings);
        let item = *item;
        let mut out = pb::list_resource::Event {
            display_name: item.display_name,
            ..Default::default()
        };
        if item.identity.is_null() || !item.identity.is_wholly_known() {
            diags.error(
                "Provider Internal Error",
                "The provider listed a result without a complete identity. Please report this.",
            );
        } else if let Some(dv) = encode_dv(&item.identity, &self.identity, "identity", &mut diags) {
            out.identity = Some(pb::ResourceIdentityData {
                identity_data: Some(dv),
            });
        }
        if self.include_resource
            && let Some(mut object) = item.resource
        {
            finish_state(&self.resource, &mut object);
            out.resource_object = encode_dv(
                &object,
                &self.resource.implied_type(),
                "resource object",
                &mut diags,
            );
        }
        out.diagnostic = to_pb_diags(&diags);
        out
    }
}

/// An event of diagnostics whose paths are already placed in the `list` block.
fn diagnostics_event(diags: Diagnostics) -> pb::list_resource::Event {
    pb::list_resource::Event {
        diagnostic: to_pb_diags(&diags),
        ..Default::default()
    }
}

/// A stream of one diagnostics event (or none).
fn only(diags: Diagnostics) -> BoxStream<pb::list_resource::Event> {
    let events = if diags.0.is_empty() {
        Vec::new()
    } else {
        vec![Ok(diagnostics_event(diags))]
    };
    Box::pin(futures::stream::iter(events))
}

/// A listing ready to run, and how to encode its events.
type Prepared<D> = Option<(Job<D>, Encoding)>;

/// Everything a listing task owns.
struct Job<D: Send + Sync + 'static> {
    list: DynListResource<D>,
    data: Arc<D>,
    config: Value,
    include_resource: bool,
    limit: u64,
    stop: CancellationToken,
    /// Warnings validation found (already placed in the `config` block); they go out after
    /// the listing's own diagnostics.
    warnings: Diagnostics,
}

impl<D: Send + Sync + 'static> Job<D> {
    /// Runs the listing into `tx`; a panic becomes an error event.
    async fn run(self, tx: mpsc::Sender<ListEvent>) -> u64 {
        let mut out = ListStream::new(tx.clone(), self.limit);
        let mut diags = Diagnostics::new();
        let listing = self.list.list(
            &self.data,
            ListRequest {
                config: &self.config,
                include_resource: self.include_resource,
                limit: self.limit,
                stop: self.stop.clone(),
            },
            &mut out,
            &mut diags,
        );
        let listing = Box::pin(AssertUnwindSafe(listing).catch_unwind());
        if let Err(panic) = InRequest(listing).await {
            let msg = panic_message(panic.as_ref());
            tracing::error!(panic = %msg, "listing panicked; answered with an error event");
            diags.error(
                "Provider Internal Error",
                format!("The provider hit a bug while listing {}: {msg}. Please report it, with the Terraform command you ran.", self.list.type_name()),
            );
        }
        let sent = out.sent();
        // Diagnostics go out even when the limit closed the stream for results.
        let mut diags = in_config_block(diags);
        diags.extend(self.warnings);
        if !diags.0.is_empty() {
            let _ = tx.send(ListEvent::Diagnostics(diags)).await;
        }
        sent
    }
}

impl<P: Provider> FrameworkServer<P> {
    pub(super) async fn handle_validate_list_resource_config(
        &self,
        request: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = request.into_inner();
        self.serve(
            "ValidateListResourceConfig",
            &req.type_name.clone(),
            async {
                let mut diags = Diagnostics::new();
                if let Some((list, schema)) = self.list_resource(&req.type_name, &mut diags) {
                    if let Some(config) = decode_dv(
                        req.config.as_ref(),
                        &schema.implied_type(),
                        "list configuration",
                        &mut diags,
                    ) {
                        let mut found = Diagnostics::new();
                        schema.validate_config(&config, &mut found);
                        list.validate(&config, &mut found);
                        diags.extend(in_config_block(found));
                    }
                    // Terraform 1.15 sends neither; another client may. Both belong to the
                    // `list` block itself, not to `config`.
                    decode_dv(
                        req.include_resource_object.as_ref(),
                        &Type::Bool,
                        "include_resource value",
                        &mut diags,
                    );
                    if let Some(limit) =
                        decode_dv(req.limit.as_ref(), &Type::Number, "limit", &mut diags)
                        && let Some(n) = limit.as_number()
                        && n.as_u64().is_none()
                    {
                        diags.attribute_error(
                            AttributePath::root("limit"),
                            "Invalid List Limit",
                            format!("`limit` must be a whole number of at least 0, got: {n}"),
                        );
                    }
                }
                (
                    pb::validate_list_resource_config::Response::default(),
                    diags,
                )
            },
        )
        .await
    }

    pub(super) async fn handle_list_resource(
        &self,
        request: Request<pb::list_resource::Request>,
    ) -> Result<Response<BoxStream<pb::list_resource::Event>>, Status> {
        let req = request.into_inner();
        let req_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!(
            "rpc",
            tf_rpc = "ListResource",
            tf_resource_type = req.type_name.as_str(),
            tf_req_id = req_id
        );
        // Preparing touches only the request and the registry; a panic here is still a bug
        // worth an event rather than a dropped stream.
        let prepared = {
            let _enter = span.enter();
            let prepare = AssertUnwindSafe(|| self.prepare_listing(req));
            match std::panic::catch_unwind(prepare) {
                Ok(p) => p,
                Err(panic) => {
                    let mut diags = Diagnostics::new();
                    diags.error(
                        "Provider Internal Error",
                        format!("The provider hit a bug while handling ListResource: {}. Please report it, with the Terraform command you ran.", panic_message(panic.as_ref())),
                    );
                    Err(diags)
                }
            }
        };
        let (job, encoding) = match prepared {
            Ok(Some(ready)) => ready,
            Ok(None) => return Ok(Response::new(only(Diagnostics::new()))),
            Err(diags) => return Ok(Response::new(only(diags))),
        };
        let (tx, rx) = mpsc::channel(AHEAD);
        // Terraform drops the stream once it has read `limit` results (or is cancelled):
        // the listing is told to stop, even while it waits on the API.
        let hang_up = job.stop.clone().drop_guard();
        let task_span = span.clone();
        tokio::spawn(
            async move {
                let started = Instant::now();
                let sent = job.run(tx).await;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
                tracing::debug!(
                    elapsed_ms,
                    results = sent,
                    "served request ListResource with {sent} results in {elapsed_ms:.1} ms"
                );
            }
            .instrument(task_span),
        );
        let events = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |event| {
            let _keep_until_the_stream_is_dropped = &hang_up;
            Ok(encoding.event(event))
        });
        Ok(Response::new(Box::pin(events)))
    }

    /// Checks a ListResource request: `Ok(None)` when nothing is wanted (`limit` 0),
    /// `Err` with the diagnostics that answer it instead of a listing.
    fn prepare_listing(
        &self,
        req: pb::list_resource::Request,
    ) -> Result<Prepared<P::Data>, Diagnostics> {
        let mut diags = Diagnostics::new();
        let Some((list, schema)) = self.list_resource(&req.type_name, &mut diags) else {
            return Err(diags);
        };
        let Ok(limit) = u64::try_from(req.limit) else {
            diags.attribute_error(
                AttributePath::root("limit"),
                "Invalid List Limit",
                format!(
                    "`limit` must be a whole number of at least 0, got: {}",
                    req.limit
                ),
            );
            return Err(diags);
        };
        if limit == 0 {
            return Ok(None);
        }
        let resource = self.resources.get(req.type_name.as_str());
        let identity = resource.and_then(|(r, _)| r.identity_schema());
        let (Some((_, resource_schema)), Some(identity)) = (resource, identity) else {
            // `new` makes this impossible; answer it as the bug it would be.
            diags.error(
                "Provider Internal Error",
                format!(
                    "The list resource {} has no managed resource with an identity. Please report this.",
                    req.type_name
                ),
            );
            return Err(diags);
        };
        let ty = schema.implied_type();
        let Some(mut config) =
            decode_dv(req.config.as_ref(), &ty, "list configuration", &mut diags)
        else {
            return Err(diags);
        };
        if config.is_null() {
            config = Value::null_object(&ty);
        }
        if !config.is_wholly_known() {
            diags.error(
                "Invalid List Configuration",
                "The list configuration holds values that are not known yet. Give the `config` block known values.",
            );
            return Err(diags);
        }
        let mut found = Diagnostics::new();
        schema.validate_config(&config, &mut found);
        list.validate(&config, &mut found);
        let found = in_config_block(found);
        if found.has_error() {
            return Err(found);
        }
        let data = self.configured(&mut diags).ok_or(diags)?;
        let job = Job {
            list: Arc::clone(list),
            data,
            config,
            include_resource: req.include_resource_object,
            limit,
            stop: self.stop_token().child_token(),
            warnings: found,
        };
        let encoding = Encoding {
            identity: identity_type(&identity),
            resource: resource_schema.clone(),
            include_resource: req.include_resource_object,
        };
        Ok(Some((job, encoding)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use async_trait::async_trait;

    use super::*;
    use crate::framework::data_source::DataSource;
    use crate::framework::diag::Severity;
    use crate::framework::list_resource::{Flow, ListItem, ListResource};
    use crate::framework::provider::ConfigureRequest;
    use crate::framework::resource::{
        CreateRequest, DeleteRequest, ImportRequest, ReadOutcome, ReadRequest, Resource,
        UpdateRequest,
    };
    use crate::framework::schema::{Attribute, Block, IdentityAttribute, IdentitySchema, Presence};

    /// How far a listing got: results it tried to send, and whether it saw the stop token.
    #[derive(Default)]
    struct Progress {
        attempts: AtomicU64,
        stopped: tokio::sync::Notify,
    }

    /// A provider whose `thing` list resource counts without end (or panics at `panic_at`).
    struct Things {
        progress: Arc<Progress>,
        panic_at: Option<u64>,
    }

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block {
                description: String::new(),
                attributes: vec![Attribute::string("id", Presence::Computed)],
                blocks: vec![],
                ..Block::default()
            },
            config_validators: vec![],
        }
    }

    struct Thing;

    #[async_trait]
    impl Resource for Thing {
        type Data = ();
        type Model = crate::framework::resource::IgnoredAny;
        fn type_name(&self) -> &'static str {
            "test_thing"
        }
        fn schema(&self) -> Schema {
            schema()
        }
        fn identity_schema(&self) -> Option<IdentitySchema> {
            Some(IdentitySchema {
                version: 0,
                attributes: vec![IdentityAttribute {
                    name: "id".to_owned(),
                    ty: Type::String,
                    description: String::new(),
                    required_for_import: true,
                }],
            })
        }
        async fn create(&self, _: &(), _: CreateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
            None
        }
        async fn read(&self, _: &(), r: ReadRequest<'_>, _: &mut Diagnostics) -> ReadOutcome {
            ReadOutcome::Found(r.current.clone())
        }
        async fn update(&self, _: &(), _: UpdateRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
            None
        }
        async fn delete(&self, _: &(), _: DeleteRequest<'_>, _: &mut Diagnostics) {}
        async fn import(&self, _: &(), _: ImportRequest<'_>, _: &mut Diagnostics) -> Option<Value> {
            None
        }
    }

    struct Counter {
        progress: Arc<Progress>,
        panic_at: Option<u64>,
    }

    #[async_trait]
    impl ListResource for Counter {
        type Data = ();
        fn type_name(&self) -> &'static str {
            "test_thing"
        }
        fn schema(&self) -> Schema {
            Schema {
                block: Block::default(),
                ..schema()
            }
        }
        async fn list(
            &self,
            _: &(),
            req: ListRequest<'_>,
            out: &mut ListStream,
            _: &mut Diagnostics,
        ) {
            for n in 1.. {
                if self.panic_at == Some(n) {
                    panic!("listing bug at {n}");
                }
                self.progress.attempts.fetch_add(1, Ordering::SeqCst);
                let id = Value::Object([("id".to_owned(), Value::string(n.to_string()))].into());
                let item = ListItem {
                    identity: id.clone(),
                    display_name: format!("thing {n}"),
                    resource: Some(id),
                };
                tokio::select! {
                    flow = out.send(item) => if flow == Flow::Stop { break },
                    () = req.stop.cancelled() => break,
                }
            }
            if req.stop.is_cancelled() {
                self.progress.stopped.notify_one();
            }
        }
    }

    #[async_trait]
    impl Provider for Things {
        type Data = ();
        fn type_name(&self) -> &'static str {
            "test"
        }
        fn schema(&self) -> Schema {
            Schema {
                block: Block::default(),
                ..schema()
            }
        }
        async fn configure(&self, _: ConfigureRequest<'_>, _: &mut Diagnostics) -> Option<()> {
            Some(())
        }
        fn resources(&self) -> Vec<Arc<dyn crate::framework::resource::AnyResource<Data = ()>>> {
            vec![Arc::new(Thing)]
        }
        fn data_sources(&self) -> Vec<Arc<dyn DataSource<Data = ()>>> {
            Vec::new()
        }
        fn list_resources(&self) -> Vec<Arc<dyn ListResource<Data = ()>>> {
            vec![Arc::new(Counter {
                progress: Arc::clone(&self.progress),
                panic_at: self.panic_at,
            })]
        }
    }

    fn server(panic_at: Option<u64>) -> (FrameworkServer<Things>, Arc<Progress>) {
        let progress = Arc::new(Progress::default());
        let server = FrameworkServer::new(Things {
            progress: Arc::clone(&progress),
            panic_at,
        });
        *server.data.write().expect("lock") = Some(Arc::new(()));
        (server, progress)
    }

    async fn open(
        server: &FrameworkServer<Things>,
        limit: i64,
        include_resource_object: bool,
    ) -> BoxStream<pb::list_resource::Event> {
        server
            .handle_list_resource(Request::new(pb::list_resource::Request {
                type_name: "test_thing".into(),
                config: None,
                include_resource_object,
                limit,
            }))
            .await
            .expect("a stream, never a gRPC error")
            .into_inner()
    }

    #[tokio::test]
    async fn the_stream_ends_at_the_limit_and_the_listing_never_runs_far_ahead() {
        let (server, progress) = server(None);
        let events: Vec<_> = open(&server, 5, false).await.collect().await;
        let names: Vec<String> = events
            .into_iter()
            .map(|e| e.expect("event").display_name)
            .collect();
        assert_eq!(
            names,
            ["thing 1", "thing 2", "thing 3", "thing 4", "thing 5"]
        );
        assert_eq!(progress.attempts.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_slow_reader_holds_the_listing_back_and_hanging_up_stops_it() {
        let (server, progress) = server(None);
        let mut stream = open(&server, 1_000_000, true).await;
        let first = stream.next().await.expect("one").expect("event");
        assert!(first.resource_object.is_some(), "objects when asked for");
        assert!(first.identity.is_some());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Read one, at most one waiting in the channel, one blocked in `send`.
        let ahead = progress.attempts.load(Ordering::SeqCst);
        assert!(
            ahead <= 1 + AHEAD as u64 + 1,
            "the listing ran {ahead} results ahead"
        );
        drop(stream);
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            progress.stopped.notified(),
        )
        .await
        .expect("dropping the stream cancels the listing");
    }

    #[tokio::test]
    async fn objects_are_left_out_unless_asked_for() {
        let (server, _) = server(None);
        let events: Vec<_> = open(&server, 2, false).await.collect().await;
        assert!(
            events
                .iter()
                .all(|e| e.as_ref().expect("event").resource_object.is_none())
        );
    }

    #[tokio::test]
    async fn a_panicking_listing_ends_with_an_error_event() {
        let (server, _) = server(Some(3));
        let events: Vec<_> = open(&server, 10, false).await.collect().await;
        let events: Vec<_> = events.into_iter().map(|e| e.expect("event")).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        let last = &events[2];
        assert!(last.identity.is_none());
        assert_eq!(last.diagnostic[0].summary, "Provider Internal Error");
        assert!(last.diagnostic[0].detail.contains("listing bug at 3"));
    }

    #[tokio::test]
    async fn problems_before_the_listing_are_events_not_grpc_errors() {
        let (server, progress) = server(None);
        let mut unknown = server
            .handle_list_resource(Request::new(pb::list_resource::Request {
                type_name: "test_nope".into(),
                limit: 5,
                ..Default::default()
            }))
            .await
            .expect("a stream")
            .into_inner();
        let event = unknown.next().await.expect("one event").expect("event");
        assert_eq!(event.diagnostic[0].summary, "Unknown List Resource Type");
        assert!(unknown.next().await.is_none());
        let negative: Vec<_> = open(&server, -1, false).await.collect().await;
        assert_eq!(
            negative[0].as_ref().expect("event").diagnostic[0].summary,
            "Invalid List Limit"
        );
        let none: Vec<_> = open(&server, 0, false).await.collect().await;
        assert!(none.is_empty(), "limit 0 lists nothing");
        assert_eq!(progress.attempts.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn list_diagnostics_point_inside_the_config_block() {
        let mut d = Diagnostics::new();
        d.attribute_error(AttributePath::root("name_regex"), "Bad", "bad");
        d.error("General", "no path");
        let moved = in_config_block(d);
        assert_eq!(
            moved.0[0].attribute,
            Some(AttributePath::root("config").attr("name_regex"))
        );
        assert_eq!(moved.0[1].attribute, None);
        assert_eq!(moved.0[1].severity, Severity::Error);
    }
}

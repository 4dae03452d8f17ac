//! Provider logging in the shape Terraform parses: one hclog JSON object per line on
//! the real stderr, levels taken from `TF_LOG*`, and a panic hook that triggers
//! Terraform's crash report.
//!
//! Field order: each line is `@level`, `@message`, `@module`, `@timestamp`, then the
//! enclosing spans' fields (outermost first, as declared), then the event's fields (as
//! declared). Terraform, however, reads a line into a Go map and prints its fields as
//! `key=value` in an order that changes from line to line. So every event's message states
//! its facts itself, in a fixed order (`GET https://…/v1/tasks: HTTP 200 in 41 ms (attempt
//! 1)`, `poll saw cloud account 7 in status pending (first look); deadline in 9m58s`); the fields repeat them for
//! machines.

use std::io::Write as _;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// Whose logs these are: what the provider tells the wire layer about itself.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// The provider's own level variable, the Go SDKs' `TF_LOG_PROVIDER_<NAME>` (e.g.
    /// `TF_LOG_PROVIDER_EXAMPLE`): read before `TF_LOG_PROVIDER` and `TF_LOG`.
    pub level_var: &'static str,
    /// The crates (their `tracing` targets) whose events are logged at the configured level,
    /// the provider's own first: its events are `@module` `provider`, the others'
    /// `provider.<crate>`. This crate's are always included. Every other crate (h2, hyper,
    /// tonic, rustls...) is capped at WARN: their trace output is huge and may carry request
    /// bytes.
    pub crates: &'static [&'static str],
}

/// This crate's target: its own events are logged at the configured level too.
const THIS_CRATE: &str = "tfplugin";

impl LogOptions {
    /// Level variables, most specific first.
    fn level_vars(&self) -> [&'static str; 3] {
        [self.level_var, "TF_LOG_PROVIDER", "TF_LOG"]
    }
}

/// Maps a `TF_LOG`-style value to a level; `None` means logging is off.
///
/// Like Terraform: `JSON` means TRACE, and an unknown value means TRACE too.
pub fn parse_level(value: &str) -> Option<Level> {
    match value.trim().to_ascii_uppercase().as_str() {
        "OFF" => None,
        "ERROR" => Some(Level::ERROR),
        "WARN" => Some(Level::WARN),
        "INFO" => Some(Level::INFO),
        "DEBUG" => Some(Level::DEBUG),
        _ => Some(Level::TRACE),
    }
}

/// The level from the first non-empty one of the provider's level variable, `TF_LOG_PROVIDER`
/// and `TF_LOG`; `None` when all are unset or the chosen one says OFF.
pub fn level_from(opts: &LogOptions, get: impl Fn(&str) -> Option<String>) -> Option<Level> {
    opts.level_vars()
        .iter()
        .find_map(|k| get(k).filter(|v| !v.trim().is_empty()))
        .and_then(|v| parse_level(&v))
}

/// Installs the global subscriber when a level is configured. Unset means no subscriber
/// at all, so every `tracing` call site stays disabled at near-zero cost.
/// Returns whether logging is on.
pub fn init_from_env(opts: LogOptions) -> bool {
    let Some(level) = level_from(&opts, |k| std::env::var(k).ok()) else {
        return false;
    };
    let subscriber = tracing_subscriber::registry()
        .with(HclogLayer::new(std::io::stderr, opts).with_filter(targets_for(&opts, level)));
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// The provider's crates and this one at `level`, everything else at most WARN.
pub fn targets_for(opts: &LogOptions, level: Level) -> Targets {
    let others = LevelFilter::from_level(level).min(LevelFilter::WARN);
    opts.crates
        .iter()
        .chain(std::iter::once(&THIS_CRATE))
        .fold(Targets::new().with_default(others), |t, name| {
            t.with_target(*name, level)
        })
}

/// Formats `t` in UTC like Go's `2006-01-02T15:04:05.000000Z07:00`: exactly six
/// fractional digits (anything else makes Terraform treat the line as plain text).
pub fn hclog_timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// `@module` for an event target: `provider` for the provider's own crate (the first of
/// [`LogOptions::crates`]), `provider.<path>` below it (`my_provider::api` gives
/// `provider.api`), and `provider.<crate path>` for every other crate.
pub fn module_for_target(opts: &LogOptions, target: &str) -> String {
    let rest = opts
        .crates
        .first()
        .and_then(|own| {
            target
                .strip_prefix(own)
                .filter(|r| r.is_empty() || r.starts_with("::"))
        })
        .map(|r| r.trim_start_matches("::"))
        .unwrap_or(target);
    if rest.is_empty() {
        "provider".to_owned()
    } else {
        format!("provider.{}", rest.replace("::", "."))
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// A `tracing` layer writing one hclog-shaped JSON object per event: `@level`,
/// `@message`, `@module`, `@timestamp`, then the fields of the enclosing spans (outermost
/// first) and of the event itself as top-level keys.
pub struct HclogLayer<W> {
    make_writer: W,
    opts: LogOptions,
}

impl<W> HclogLayer<W> {
    /// A layer writing each line with one `write_all` to a writer from `make_writer`, naming
    /// modules after `opts`.
    pub fn new(make_writer: W, opts: LogOptions) -> Self {
        Self { make_writer, opts }
    }
}

/// Span fields as recorded so far, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a> {
    fields: &'a mut Map<String, Value>,
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.fields.insert(field.name().to_owned(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}

impl<S, W> Layer<S> for HclogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor {
            fields: &mut fields,
        });
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor { fields });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut event_fields = Map::new();
        event.record(&mut JsonVisitor {
            fields: &mut event_fields,
        });
        let message = match event_fields.shift_remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };

        let mut line = Map::new();
        line.insert("@level".into(), Value::from(level_name(meta.level())));
        line.insert("@message".into(), Value::String(message));
        line.insert(
            "@module".into(),
            Value::String(module_for_target(&self.opts, meta.target())),
        );
        line.insert(
            "@timestamp".into(),
            Value::String(hclog_timestamp(time::OffsetDateTime::now_utc())),
        );
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in fields {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        for (k, v) in event_fields {
            if !k.starts_with('@') {
                line.insert(k, v);
            }
        }

        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // One write per line so concurrent events never interleave mid-line. A failed
        // write to stderr has nowhere to be reported.
        let _ = self.make_writer.make_writer().write_all(text.as_bytes());
    }
}

/// The crash text Terraform recognises: a first line starting with `panic: `, then the
/// location and the backtrace (Terraform shows up to 100 following lines).
pub fn panic_report(message: &str, location: Option<&str>, backtrace: &str) -> String {
    let mut out = format!("panic: {message}\n");
    if let Some(loc) = location {
        out.push_str(&format!("\nat {loc}\n"));
    }
    out.push('\n');
    out.push_str(backtrace);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Replaces the default panic hook with one writing [`panic_report`] to stderr as plain
/// lines, which Terraform turns into "The plugin crashed!" with the stack trace.
///
/// `recovered` tells whether the panicking thread is inside a request that the
/// service layer catches and answers with a diagnostic; such a panic is not a
/// crash, so it must not trigger Terraform's crash capture.
pub fn install_panic_hook(recovered: fn() -> bool) {
    std::panic::set_hook(Box::new(move |info| {
        if recovered() {
            return;
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        let report = panic_report(&message, location.as_deref(), &backtrace);
        let _ = std::io::stderr().lock().write_all(report.as_bytes());
    }));
}

/// Log lines captured in memory, for a provider's tests that check what it logs: give it to
/// [`HclogLayer::new`] as the writer.
#[derive(Clone, Default)]
pub struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Every line written so far, each parsed as the JSON object hclog writes; panics on a
    /// line that is not one.
    pub fn lines(&self) -> Vec<Map<String, Value>> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(Value::Object(m)) => m,
                other => panic!("not a JSON object: {l} ({other:?})"),
            })
            .collect()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: LogOptions = LogOptions {
        level_var: "TF_LOG_PROVIDER_EXAMPLE",
        crates: &["tfplugin", "example_api"],
    };

    fn capture(level: Level, f: impl FnOnce()) -> Vec<Map<String, Value>> {
        let buf = CapturedLog::default();
        let subscriber = tracing_subscriber::registry()
            .with(HclogLayer::new(buf.clone(), OPTS).with_filter(targets_for(&OPTS, level)));
        tracing::subscriber::with_default(subscriber, f);
        buf.lines().into_iter().collect()
    }

    /// Parses the Go layout `2006-01-02T15:04:05.000000Z07:00` strictly.
    fn parse_go_micros(s: &str) -> time::OffsetDateTime {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6][offset_hour sign:mandatory]:[offset_minute]"
        );
        let normalized = s
            .strip_suffix('Z')
            .map(|p| format!("{p}+00:00"))
            .unwrap_or(s.to_owned());
        time::OffsetDateTime::parse(&normalized, fmt).unwrap()
    }

    #[test]
    fn timestamp_has_exactly_six_fraction_digits_and_round_trips() {
        let t = time::macros::datetime!(2026-05-01 10:00:00.123456789 UTC);
        assert_eq!(hclog_timestamp(t), "2026-05-01T10:00:00.123456Z");
        let zero = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(hclog_timestamp(zero), "2026-01-02T03:04:05.000000Z");
        let offset = time::macros::datetime!(2026-05-01 12:00:00.5 +02:00);
        assert_eq!(hclog_timestamp(offset), "2026-05-01T10:00:00.500000Z");
        let now = time::OffsetDateTime::now_utc();
        let parsed = parse_go_micros(&hclog_timestamp(now));
        assert!((now - parsed).abs() < time::Duration::microseconds(1));
    }

    #[test]
    fn lines_carry_level_message_module_timestamp_and_span_fields() {
        let lines = capture(Level::TRACE, || {
            let rpc = tracing::info_span!("rpc", tf_rpc = "ApplyResourceChange", tf_req_id = "r-1");
            let _rpc = rpc.enter();
            let res = tracing::debug_span!("res", tf_resource_type = "example_widget");
            let _res = res.enter();
            tracing::debug!(target: "example_api::http", status = 201_u64, ok = true, "created \"x\"");
            tracing::warn!("plain");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "@level",
                "@message",
                "@module",
                "@timestamp",
                "tf_rpc",
                "tf_req_id",
                "tf_resource_type",
                "status",
                "ok"
            ]
        );
        assert_eq!(first["@level"], "debug");
        assert_eq!(first["@message"], "created \"x\"");
        assert_eq!(first["@module"], "provider.example_api.http");
        assert_eq!(first["tf_rpc"], "ApplyResourceChange");
        assert_eq!(first["tf_req_id"], "r-1");
        assert_eq!(first["tf_resource_type"], "example_widget");
        assert_eq!(first["status"], 201);
        assert_eq!(first["ok"], true);
        let Value::String(ts) = &first["@timestamp"] else {
            panic!("no timestamp")
        };
        parse_go_micros(ts);
        assert_eq!(lines[1]["@level"], "warn");
        assert_eq!(lines[1]["@module"], "provider.wire.logging.tests");
    }

    #[test]
    fn level_filter_applies_and_other_crates_are_capped_at_warn() {
        let lines = capture(Level::INFO, || {
            tracing::debug!("dropped");
            tracing::info!("kept");
            tracing::info!(target: "h2::codec", "dropped too");
            tracing::warn!(target: "h2::codec", "kept too");
        });
        let messages: Vec<&Value> = lines.iter().map(|l| &l["@message"]).collect();
        assert_eq!(messages, ["kept", "kept too"]);
        assert_eq!(lines[1]["@module"], "provider.h2.codec");
    }

    #[test]
    fn level_selection_from_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(level_from(&OPTS, env(&[])), None);
        assert_eq!(
            level_from(&OPTS, env(&[("TF_LOG", "debug")])),
            Some(Level::DEBUG)
        );
        assert_eq!(
            level_from(&OPTS, env(&[("TF_LOG", "JSON")])),
            Some(Level::TRACE)
        );
        assert_eq!(
            level_from(&OPTS, env(&[("TF_LOG", "verbose")])),
            Some(Level::TRACE)
        );
        assert_eq!(level_from(&OPTS, env(&[("TF_LOG", "OFF")])), None);
        assert_eq!(
            level_from(
                &OPTS,
                env(&[("TF_LOG", "TRACE"), ("TF_LOG_PROVIDER", "WARN")])
            ),
            Some(Level::WARN)
        );
        assert_eq!(
            level_from(
                &OPTS,
                env(&[
                    ("TF_LOG", "TRACE"),
                    ("TF_LOG_PROVIDER", "WARN"),
                    ("TF_LOG_PROVIDER_EXAMPLE", "error")
                ])
            ),
            Some(Level::ERROR)
        );
        assert_eq!(
            level_from(
                &OPTS,
                env(&[("TF_LOG_PROVIDER_EXAMPLE", ""), ("TF_LOG", "info")])
            ),
            Some(Level::INFO)
        );
        assert_eq!(
            level_from(
                &OPTS,
                env(&[("TF_LOG_PROVIDER", "off"), ("TF_LOG", "trace")])
            ),
            None
        );
    }

    #[test]
    fn module_names() {
        let opts = LogOptions {
            level_var: "TF_LOG_PROVIDER_EXAMPLE",
            crates: &["terraform_provider_example", "example_api"],
        };
        assert_eq!(
            module_for_target(&opts, "terraform_provider_example"),
            "provider"
        );
        assert_eq!(
            module_for_target(&opts, "terraform_provider_example::resource"),
            "provider.resource"
        );
        assert_eq!(
            module_for_target(&opts, "example_api::http"),
            "provider.example_api.http"
        );
        assert_eq!(
            module_for_target(&opts, "terraform_provider_examplex::a"),
            "provider.terraform_provider_examplex.a"
        );
        assert_eq!(
            module_for_target(&opts, "hyper::proto"),
            "provider.hyper.proto"
        );
    }

    #[test]
    fn panic_report_starts_with_the_marker_terraform_looks_for() {
        let r = panic_report("boom", Some("src/x.rs:1:2"), "   0: frame\n");
        assert!(r.starts_with("panic: boom\n"));
        assert!(r.contains("at src/x.rs:1:2"));
        assert!(r.ends_with("   0: frame\n"));
    }
}

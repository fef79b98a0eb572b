//! Logging as hclog JSON lines on stderr, the format the server's plugin log
//! reader parses, so our lines appear in the server log at their own level.
//!
//! Writes never fail loudly: once the server is gone stderr is a broken pipe,
//! and a log line must not take the process down.

use std::fmt;
use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// `@module` value on every line.
pub const MODULE: &str = "aws";

/// Formats one event as `{"@level":..,"@message":..,"@timestamp":..,"@module":..,<fields>}`.
pub struct HclogJson;

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

/// hclog's level names.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// `2026-11-23T10:14:00.123456Z`: hclog's layout wants exactly six fractional digits.
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    now.format(f).unwrap_or_default()
}

/// Builds the JSON line for a message and its fields (exposed for tests).
pub fn render(
    level: &Level,
    message: &str,
    fields: Map<String, Value>,
    now: time::OffsetDateTime,
) -> String {
    let mut obj = Map::new();
    obj.insert("@level".into(), level_name(level).into());
    obj.insert("@message".into(), message.into());
    obj.insert("@timestamp".into(), timestamp(now).into());
    obj.insert("@module".into(), MODULE.into());
    for (k, v) in fields {
        obj.insert(k, v);
    }
    Value::Object(obj).to_string()
}

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let message = match fields.0.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let line = render(
            event.metadata().level(),
            &message,
            fields.0,
            time::OffsetDateTime::now_utc(),
        );
        writeln!(writer, "{line}")
    }
}

/// stderr that swallows write errors.
pub struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QuietStderr {
    type Writer = QuietStderr;
    fn make_writer(&'a self) -> Self::Writer {
        QuietStderr
    }
}

/// Installs the subscriber. Our own lines at `AWS_PLUGIN_LOG_LEVEL` (trace..error,
/// default debug; the server drops lines below its own level anyway); the
/// libraries underneath (h2, hyper, rustls, the AWS SDK) only at warn and above.
pub fn init() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let level = std::env::var("AWS_PLUGIN_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<Level>().ok())
        .unwrap_or(Level::DEBUG);
    let filter = Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_default(Level::WARN);
    let layer = tracing_subscriber::fmt::layer()
        .event_format(HclogJson)
        .with_writer(QuietStderr)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_hclog_keys_and_six_digit_timestamp() {
        let now = time::macros::datetime!(2026-11-23 10:14:00.123456789 UTC);
        let mut f = Map::new();
        f.insert("mount".into(), "aws/".into());
        let line = render(&Level::WARN, "hello", f, now);
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "hello");
        assert_eq!(v["@timestamp"], "2026-11-23T10:14:00.123456Z");
        assert_eq!(v["@module"], "aws");
        assert_eq!(v["mount"], "aws/");
    }
}

//! Log lines for a person: `tracing` events formatted by `tracing-subscriber`, printed above
//! the prompt while an interactive console is open (the line being typed is redrawn below
//! them), on standard error otherwise.

use crate::console::print_above;
use std::io::{self, IsTerminal, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event, the spans it is in as context
    /// (`action{action=greeter.hello request_id=…}: message`); colored on a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, with the current span and the list of spans (so every line
    /// inside a handler has its `request_id`), for log collectors.
    Json,
}

/// What [`init_logging_with`] installs: a default level, levels per module (Moleculer's
/// `logLevel` object) and the format.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// The default directive (`"info"`, or a full filter such as `"warn,broker_core=info"`).
    pub default: String,
    /// `(module, level)` pairs over the default: `("broker_core::trace", "debug")`;
    /// level `off` silences a module.
    pub levels: Vec<(String, String)>,
    /// The format.
    pub format: LogFormat,
}

impl LogOptions {
    /// Everything at `default`, pretty.
    pub fn new(default: impl Into<String>) -> LogOptions {
        LogOptions {
            default: default.into(),
            ..LogOptions::default()
        }
    }

    /// [`LogOptions::new`], with the format from `LOG_FORMAT` (`json` or `pretty`).
    pub fn from_env(default: impl Into<String>) -> LogOptions {
        let mut options = LogOptions::new(default);
        if let Ok(format) = std::env::var("LOG_FORMAT") {
            match format.trim().to_ascii_lowercase().as_str() {
                "json" => options.format = LogFormat::Json,
                "pretty" | "text" | "" => {}
                other => eprintln!(
                    "warning: LOG_FORMAT={other:?} is neither json nor pretty; using pretty"
                ),
            }
        }
        options
    }

    /// Sets a module's level.
    pub fn level(mut self, module: impl Into<String>, level: impl Into<String>) -> Self {
        self.levels.push((module.into(), level.into()));
        self
    }

    /// Sets the format.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Levels from a Moleculer `logLevel` object: `{"**": "info", "broker_core::trace":
    /// "debug", "broker_redis": false}` (`**` is the default; `false` turns a module off; a
    /// trailing `.**` or `::*` is dropped, since a module's level covers its children).
    pub fn log_level_object(mut self, levels: &serde_json::Value) -> Result<Self, String> {
        let Some(map) = levels.as_object() else {
            return Err(format!("a logLevel object is a JSON object, not {levels}"));
        };
        for (module, level) in map {
            let level = match level {
                serde_json::Value::Bool(false) => "off".to_owned(),
                serde_json::Value::String(s) => s.to_ascii_lowercase(),
                other => {
                    return Err(format!(
                        "level of '{module}' is {other}: use a level name or false"
                    ))
                }
            };
            if !["trace", "debug", "info", "warn", "error", "off", "fatal"]
                .contains(&level.as_str())
            {
                return Err(format!("unknown level '{level}' for '{module}'"));
            }
            // Moleculer's `fatal` is the most severe level: `error` here.
            let level = if level == "fatal" {
                "error".to_owned()
            } else {
                level
            };
            match module.as_str() {
                "**" | "*" => self.default = level,
                _ => {
                    let module = module
                        .trim_end_matches(".**")
                        .trim_end_matches("::*")
                        .trim_end_matches(".*");
                    self.levels.push((module.to_owned(), level));
                }
            }
        }
        Ok(self)
    }

    /// The filter directive these options stand for.
    pub fn directive(&self) -> String {
        let mut directive = self.default.clone();
        for (module, level) in &self.levels {
            directive.push_str(&format!(",{module}={level}"));
        }
        directive
    }
}

/// Installs the process's `tracing` subscriber: `RUST_LOG` if it is set, else
/// `default_directive` (`"warn"`, `"info"`, `"my_app=debug,broker_core=info"`, …), lines
/// written through [`ConsoleWriter`], in the format `LOG_FORMAT` names (`pretty`, the
/// default, or `json`). Returns `false` if a subscriber was already installed (which is then
/// left as it is).
///
/// ```
/// // In `main`, before the broker starts:
/// broker_repl::init_logging("info");
/// ```
pub fn init_logging(default_directive: &str) -> bool {
    init_logging_with(LogOptions::from_env(default_directive))
}

/// Installs the process's `tracing` subscriber from options; `RUST_LOG`, when set, replaces
/// the levels. Inside a traced handler (see `broker_core::trace`) every line carries the
/// handler's span, its `request_id` included.
///
/// ```
/// use broker_repl::{init_logging_with, LogFormat, LogOptions};
///
/// let options = LogOptions::new("warn")
///     .level("broker_core", "info")
///     .format(LogFormat::Json);
/// assert_eq!(options.directive(), "warn,broker_core=info");
/// init_logging_with(options);
/// ```
pub fn init_logging_with(options: LogOptions) -> bool {
    let directive = options.directive();
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|err| {
            eprintln!(
                "warning: RUST_LOG={spec:?} is not a valid filter ({err}); using {directive:?}"
            );
            EnvFilter::new(&directive)
        }),
        _ => EnvFilter::try_new(&directive).unwrap_or_else(|err| {
            eprintln!(
                "warning: log levels {directive:?} are not a valid filter ({err}); using \"info\""
            );
            EnvFilter::new("info")
        }),
    };
    match options.format {
        LogFormat::Pretty => {
            let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(colour)
                .with_writer(ConsoleWriter)
                .try_init()
                .is_ok()
        }
        LogFormat::Json => {
            tracing::subscriber::set_global_default(json_subscriber(filter, ConsoleWriter)).is_ok()
        }
    }
}

/// The JSON subscriber: a line per event with its current span and the span list.
fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// A [`MakeWriter`] for `tracing-subscriber`: each formatted line goes above the prompt of
/// the open console (as [`print_line`](crate::print_line) does), or to standard error when no
/// console is open.
///
/// ```
/// let subscriber = tracing_subscriber::fmt().with_writer(broker_repl::ConsoleWriter).finish();
/// # let _ = subscriber;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleWriter;

impl<'a> MakeWriter<'a> for ConsoleWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One log line being written; it is printed, whole, when dropped.
#[derive(Debug)]
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        if !print_above(text.trim_end_matches('\n')) {
            let _ = io::stderr().lock().write_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{install_sink, uninstall_sink};
    use std::sync::{Arc, Mutex};

    #[test]
    fn log_lines_go_above_the_prompt_while_a_console_is_open() {
        let shown = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = shown.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(ConsoleWriter)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            install_sink(Box::new(move |text| {
                sink.lock().map(|mut s| s.push(text)).is_ok()
            }));
            tracing::warn!(node = "js-peer", "node left");
            uninstall_sink();
            // No console: standard error, not the sink.
            tracing::warn!("after the console");
        });
        let shown = shown.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].contains("WARN"), "{shown:?}");
        assert!(shown[0].contains("node left node=\"js-peer\""), "{shown:?}");
        // One line, ended as the terminal in raw mode needs it.
        assert!(shown[0].ends_with("\r\n") && shown[0].matches('\n').count() == 1);
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};

    #[test]
    fn moleculer_log_level_objects() {
        let options = LogOptions::new("warn")
            .log_level_object(&json!({"**": "info", "broker_core.**": "debug", "broker_redis": false, "app": "FATAL"}))
            .map(|o| o.directive());
        assert_eq!(
            options.as_deref(),
            Ok("info,broker_core=debug,broker_redis=off,app=error")
        );
        assert!(LogOptions::new("info")
            .log_level_object(&json!({"x": "loud"}))
            .is_err());
        assert!(LogOptions::new("info")
            .log_level_object(&json!(["info"]))
            .is_err());
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_inside_a_traced_handler_carry_the_request_id() {
        use broker_core::{ActionDef, Broker, CallOptions, Context, ServiceSchema, TracingOptions};
        let buffer = Buffer::default();
        let subscriber = json_subscriber(EnvFilter::new("info"), buffer.clone());
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let result: Result<Value, broker_core::Error> = runtime.block_on(async {
            let broker = Broker::builder()
                .node_id("json-logs")
                .tracing(TracingOptions::new())
                .build();
            let service = ServiceSchema::new("greeter").action(ActionDef::new(
                "hello",
                |_ctx: Context| async move {
                    tracing::info!(answer = 42, "greeting");
                    Ok(json!("hi"))
                },
            ));
            broker.add_service(service).await?;
            broker.start().await?;
            let r = broker
                .call_with(
                    "greeter.hello",
                    json!({}),
                    CallOptions::new().request_id("req-json-1"),
                )
                .await;
            broker.stop().await?;
            r
        });
        assert_eq!(result.ok(), Some(json!("hi")));
        let text = String::from_utf8_lossy(&buffer.0.lock().unwrap_or_else(|p| p.into_inner()))
            .into_owned();
        let line: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["fields"]["message"] == "greeting")
            .unwrap_or_else(|| panic!("no greeting line in {text}"));
        assert_eq!(line["span"]["name"], "action", "{line}");
        assert_eq!(line["span"]["request_id"], "req-json-1", "{line}");
        assert_eq!(line["span"]["action"], "greeter.hello", "{line}");
        assert_eq!(line["fields"]["answer"], 42);
        assert!(
            line["spans"].as_array().is_some_and(|s| s.len() >= 2),
            "{line}"
        );
    }
}

//! Log lines for a person: `tracing` events formatted by `tracing-subscriber`, printed above
//! the prompt while an interactive console is open (the line being typed is redrawn below
//! them), on standard error otherwise.

use crate::console::print_above;
use std::io::{self, IsTerminal, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Installs the process's `tracing` subscriber: `RUST_LOG` if it is set, else
/// `default_directive` (`"warn"`, `"info"`, `"my_app=debug,broker_core=info"`, …), lines
/// written through [`ConsoleWriter`]. Returns `false` if a subscriber was already installed
/// (which is then left as it is).
///
/// ```
/// // In `main`, before the broker starts:
/// broker_repl::init_logging("info");
/// ```
pub fn init_logging(default_directive: &str) -> bool {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|err| {
            eprintln!("warning: RUST_LOG={spec:?} is not a valid filter ({err}); using {default_directive:?}");
            EnvFilter::new(default_directive)
        }),
        _ => EnvFilter::new(default_directive),
    };
    let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(ConsoleWriter)
        .try_init()
        .is_ok()
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

//! The console: interactive (line editing, history, completion) on a terminal, or a plain
//! line-by-line script on a pipe.

mod complete;
mod interactive;
mod printer;
mod script;

pub(crate) use printer::print_above;
pub use printer::print_line;
#[cfg(test)]
pub(crate) use printer::{install as install_sink, uninstall as uninstall_sink};
pub use script::run_script;

use crate::error::CommandError;
use crate::output::compact;
use crate::render::{Style, Tone};
use broker_core::Broker;
use std::io::IsTerminal;
use std::path::PathBuf;

/// How the console looks and where it keeps its history.
#[derive(Debug, Clone)]
pub struct ReplOptions {
    /// The prompt (default `mol $ `, as moleculer-repl).
    pub prompt: String,
    /// Where history is kept across runs: `$BROKER_REPL_HISTORY` if set (empty disables it),
    /// else `~/.broker_repl_history`. `None` keeps no history file.
    pub history_file: Option<PathBuf>,
    /// Colours; `None` decides from the terminal and `NO_COLOR`.
    pub style: Option<Style>,
    /// Print a greeting naming the node when the console opens.
    pub banner: bool,
}

impl Default for ReplOptions {
    fn default() -> Self {
        let history_file = match std::env::var_os("BROKER_REPL_HISTORY") {
            Some(path) if path.is_empty() => None,
            Some(path) => Some(PathBuf::from(path)),
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".broker_repl_history")),
        };
        ReplOptions {
            prompt: "mol $ ".to_owned(),
            history_file,
            style: None,
            banner: true,
        }
    }
}

/// How a console session went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplSummary {
    /// Commands run (empty lines and comments not counted).
    pub commands: usize,
    /// Commands that failed.
    pub errors: usize,
}

/// Runs the console on standard input and output until `exit`, Ctrl-D or end of input.
///
/// On a terminal it edits lines (history in [`ReplOptions::history_file`], tab completion of
/// commands, actions, events and node IDs from the live registry); on a pipe it runs each line
/// as a script, without prompts.
pub async fn run(broker: &Broker, options: ReplOptions) -> std::io::Result<ReplSummary> {
    let style = options.style.unwrap_or_else(Style::detect);
    if std::io::stdin().is_terminal() {
        interactive::run(broker.clone(), options, style).await
    } else {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        run_script(broker, stdin, std::io::stdout(), style).await
    }
}

/// An error as the console shows it: one line (`>> ERROR: …`), and for broker errors a
/// second line with the error's data when it has any.
pub fn render_error(err: &CommandError, style: Style) -> String {
    let mut out = style.paint(Tone::Bad, &format!(">> ERROR: {err}"));
    if let Some(data) = err.broker_error().and_then(|e| e.data()) {
        if !data.is_null() {
            out.push('\n');
            out.push_str(&style.paint(Tone::Dim, &format!("   data: {}", compact(data))));
        }
    }
    out
}

/// The transporter as a person reads it (`redis://127.0.0.1:6379`, never a password), or
/// `none (local only)`.
pub(crate) fn transporter_label(broker: &Broker) -> String {
    match &broker.config().transporter {
        Some(t) => t.describe(),
        None => "none (local only)".to_owned(),
    }
}

/// The greeting printed when the console opens.
pub(crate) fn banner(broker: &Broker, style: Style) -> String {
    let config = broker.config();
    let transport = transporter_label(broker);
    let namespace = if config.namespace.is_empty() {
        "(default)"
    } else {
        &config.namespace
    };
    format!(
        "{} node {} · namespace {namespace} · transporter {transport}\n{}",
        style.paint(Tone::Header, "broker REPL"),
        style.paint(Tone::Accent, broker.node_id()),
        style.paint(
            Tone::Dim,
            "Type 'help' for the commands, Tab to complete, 'exit' or Ctrl-D to leave."
        )
    )
}

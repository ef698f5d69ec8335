//! The console on a terminal, with rustyline: line editing, history kept in a file, and tab
//! completion from the live registry.
//!
//! rustyline blocks, so the whole loop runs on a blocking thread and hands each command to
//! the runtime with `Handle::block_on`.

use super::complete::{candidates, Names};
use super::{banner, render_error, ReplOptions, ReplSummary};
use crate::exec::execute;
use crate::output::Output;
use crate::parse::Command;
use crate::render::{Style, Tone};
use broker_core::Broker;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter, Helper};
use std::io::{self, Write};
use tokio::runtime::Handle;

/// Completion for rustyline.
struct ReplHelper {
    broker: Broker,
}

impl Completer for ReplHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = line.get(..pos).unwrap_or(line);
        Ok(candidates(head, || Names::of(&self.broker)))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

fn to_io(err: ReadlineError) -> io::Error {
    match err {
        ReadlineError::Io(err) => err,
        other => io::Error::other(other.to_string()),
    }
}

pub(super) async fn run(
    broker: Broker,
    options: ReplOptions,
    style: Style,
) -> io::Result<ReplSummary> {
    let handle = Handle::current();
    let mut modes = TerminalModes::save();
    let result =
        tokio::task::spawn_blocking(move || run_blocking(&handle, broker, &options, style))
            .await
            .map_err(io::Error::other)?;
    modes.finished = true;
    result
}

/// The terminal's modes as the console found them, put back if the console is dropped before
/// it finished: its blocking thread may be reading a line with the terminal in raw mode (the
/// `broker` CLI drops it on SIGTERM and exits), and the shell must not get the terminal so.
struct TerminalModes {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
    finished: bool,
}

impl TerminalModes {
    fn save() -> TerminalModes {
        TerminalModes {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(io::stdin()).ok(),
            finished: false,
        }
    }
}

impl Drop for TerminalModes {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        #[cfg(unix)]
        if let Some(modes) = &self.saved {
            use nix::sys::termios::{tcsetattr, SetArg};
            let _ = tcsetattr(io::stdin(), SetArg::TCSANOW, modes);
        }
        // Bracketed paste off (rustyline turns it on while reading), and a fresh line.
        let mut stdout = io::stdout();
        let _ = stdout.write_all(b"\x1b[?2004l\r\n");
        let _ = stdout.flush();
    }
}

fn run_blocking(
    handle: &Handle,
    broker: Broker,
    options: &ReplOptions,
    style: Style,
) -> io::Result<ReplSummary> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(true)
        .history_ignore_dups(true)
        .map_err(to_io)?
        .max_history_size(1000)
        .map_err(to_io)?
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config).map_err(to_io)?;
    editor.set_helper(Some(ReplHelper {
        broker: broker.clone(),
    }));
    if let Some(path) = &options.history_file {
        // A missing file is a first run; anything else is not worth stopping for.
        let _ = editor.load_history(path);
    }
    if let Ok(mut printer) = editor.create_external_printer() {
        super::printer::install(Box::new(move |text| printer.print(text).is_ok()));
    }
    let result = console_loop(handle, &broker, &mut editor, options, style);
    super::printer::uninstall();
    result
}

fn console_loop(
    handle: &Handle,
    broker: &Broker,
    editor: &mut Editor<ReplHelper, FileHistory>,
    options: &ReplOptions,
    style: Style,
) -> io::Result<ReplSummary> {
    let mut stdout = io::stdout();
    if options.banner {
        writeln!(stdout, "{}", banner(broker, style))?;
    }
    let styled_prompt = style.paint(Tone::Accent, &options.prompt);
    let mut summary = ReplSummary::default();
    let mut interrupted = false;
    loop {
        let line = match editor.readline(&(options.prompt.as_str(), styled_prompt.as_str())) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) if !interrupted => {
                interrupted = true;
                writeln!(
                    stdout,
                    "{}",
                    style.paint(
                        Tone::Dim,
                        "(press Ctrl-C again, Ctrl-D or type 'exit' to leave)"
                    )
                )?;
                continue;
            }
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break,
            Err(err) => return Err(to_io(err)),
        };
        interrupted = false;
        if let Some(path) = &options.history_file {
            let _ = editor.append_history(path);
        }
        let result = match Command::parse(&line) {
            Ok(Command::Empty) => continue,
            Ok(command) => handle.block_on(execute(broker, command)),
            Err(err) => Err(err),
        };
        summary.commands += 1;
        match result {
            Ok(Output::Exit) => break,
            Ok(Output::Clear) => editor.clear_screen().map_err(to_io)?,
            Ok(Output::Empty) => {}
            Ok(out) => writeln!(stdout, "{}", out.render(style))?,
            Err(err) => {
                summary.errors += 1;
                writeln!(stdout, "{}", render_error(&err, style))?;
            }
        }
        stdout.flush()?;
    }
    Ok(summary)
}

//! The console without a terminal: each input line is one command, outputs and errors go to
//! one writer, and nothing is echoed or prompted.

use super::{render_error, ReplSummary};
use crate::exec::execute;
use crate::output::Output;
use crate::parse::Command;
use crate::render::Style;
use broker_core::Broker;
use std::io::Write;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Runs every line of `input` as a command against `broker`, writing what each prints to
/// `output`, until `exit` or the end of the input. A failing command prints its error and the
/// script goes on.
///
/// ```
/// use broker_core::Broker;
/// use broker_repl::{run_script, Style};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let broker = Broker::builder().node_id("doc").build();
/// broker.start().await?;
/// let mut out = Vec::new();
/// let script: &[u8] = b"call $node.list --onlyAvailable true\nnope\nexit\n";
/// let summary = run_script(&broker, script, &mut out, Style::plain()).await?;
/// assert_eq!((summary.commands, summary.errors), (3, 1));
/// let text = String::from_utf8(out)?;
/// assert!(text.contains("\"id\": \"doc\""));
/// assert!(text.contains(">> ERROR: unknown command 'nope'"));
/// broker.stop().await?;
/// # Ok(())
/// # }
/// ```
pub async fn run_script<R, W>(
    broker: &Broker,
    input: R,
    mut output: W,
    style: Style,
) -> std::io::Result<ReplSummary>
where
    R: AsyncBufRead + Unpin,
    W: Write,
{
    let mut summary = ReplSummary::default();
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let command = match Command::parse(&line) {
            Ok(Command::Empty) => continue,
            Ok(command) => Ok(command),
            Err(err) => Err(err),
        };
        summary.commands += 1;
        let result = match command {
            Ok(command) => execute(broker, command).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(Output::Exit) => break,
            Ok(Output::Clear | Output::Empty) => {}
            Ok(out) => writeln!(output, "{}", out.render(style))?,
            Err(err) => {
                summary.errors += 1;
                writeln!(output, "{}", render_error(&err, style))?;
            }
        }
        output.flush()?;
    }
    Ok(summary)
}

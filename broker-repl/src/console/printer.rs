//! Printing for the person at the console from anywhere in the program (an event handler, a
//! background task) without garbling the line they are typing.

use std::sync::Mutex;

/// Where lines go while an interactive console is open.
type Sink = Box<dyn FnMut(String) -> bool + Send>;

/// Process-wide, as the terminal is.
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Prints one line for the person at the console.
///
/// While an interactive console is open the line appears above the prompt and the line being
/// typed is redrawn below it; otherwise it goes to standard output like `println!`.
///
/// ```
/// broker_repl::print_line("<< ev_random_number: 42");
/// ```
pub fn print_line(line: impl AsRef<str>) {
    let line = line.as_ref();
    if let Ok(mut sink) = SINK.lock() {
        if let Some(sink) = sink.as_mut() {
            let text = format!("{}\r\n", line.replace('\n', "\r\n"));
            if sink(text) {
                return;
            }
        }
    }
    println!("{line}");
}

/// Routes [`print_line`] to `sink` until [`uninstall`]; the sink returns whether it printed.
pub(crate) fn install(sink: Sink) {
    if let Ok(mut slot) = SINK.lock() {
        *slot = Some(sink);
    }
}

/// Sends [`print_line`] to standard output again.
pub(crate) fn uninstall() {
    if let Ok(mut slot) = SINK.lock() {
        *slot = None;
    }
}

//! Printing for the person at the console from anywhere in the program (an event handler, a
//! background task) without garbling the line they are typing.

use std::cell::Cell;
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
    if !print_above(line) {
        println!("{line}");
    }
}

thread_local! {
    /// Set while this thread is inside the sink, so that anything the sink itself logs goes
    /// to standard error instead of locking [`SINK`] a second time.
    static PRINTING: Cell<bool> = const { Cell::new(false) };
}

/// Prints `line` above the prompt if an interactive console is open; `false` if none is (or
/// this thread is already printing there), and the caller prints it elsewhere.
pub(crate) fn print_above(line: &str) -> bool {
    if PRINTING.with(Cell::get) {
        return false;
    }
    PRINTING.with(|p| p.set(true));
    let printed = match SINK.lock() {
        Ok(mut sink) => match sink.as_mut() {
            Some(sink) => sink(format!("{}\r\n", line.replace('\n', "\r\n"))),
            None => false,
        },
        Err(_) => false,
    };
    PRINTING.with(|p| p.set(false));
    printed
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

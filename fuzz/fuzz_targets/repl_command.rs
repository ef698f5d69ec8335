//! The console's command parser: any line (as typed) and any word list (as a shell passes
//! them to the CLI) parse to a command or a usage error, never a panic.
#![no_main]

use broker_repl::{tokenize, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Command::parse(line);
    let _ = tokenize(line);
    // The same text split as a shell would (NUL-separated words), for the CLI's path.
    let words: Vec<&str> = line.split('\0').collect();
    let _ = Command::from_words(&words);
});

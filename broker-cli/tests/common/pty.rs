//! `broker` on a pseudo-terminal (under `script`): keys typed in, the screen read back.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

/// Removes ANSI escape sequences (colours, cursor moves) and carriage returns.
pub fn strip_ansi(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The screen as a terminal would show it: carriage returns, `ESC[nC`/`ESC[nD` cursor moves
/// and `ESC[K` (clear to the end of the line) applied, other escape sequences dropped.
pub fn render_screen(raw: &str) -> String {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() != Some(&'[') {
                    chars.next();
                    continue;
                }
                chars.next();
                let mut param = String::new();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        last = c;
                        break;
                    }
                    param.push(c);
                }
                let n = param.parse::<usize>().unwrap_or(1);
                match last {
                    'C' => col += n,
                    'D' => col = col.saturating_sub(n),
                    'K' if param.is_empty() || param == "0" => lines[row].truncate(col),
                    _ => {}
                }
            }
            '\r' => col = 0,
            '\n' => {
                row += 1;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            c => {
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines
        .iter()
        .map(|l| l.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `script` (util-linux) is there to give a pseudo-terminal.
pub fn script_available() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `broker` running on a pseudo-terminal.
pub struct Terminal {
    pub child: Child,
    keys: ChildStdin,
    shown: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Runs `broker <args>` (words without spaces) on a terminal, without colours or history.
    pub fn open(args: &[&str]) -> Terminal {
        Terminal::open_command(&format!(
            "{} {}",
            env!("CARGO_BIN_EXE_broker"),
            args.join(" ")
        ))
    }

    /// Runs a shell command line on a terminal (`$BROKER` is the binary's path).
    pub fn open_command(command: &str) -> Terminal {
        let mut child = match Command::new("script")
            .args(["-qfec", command, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env("NO_COLOR", "1")
            .env("BROKER_REPL_HISTORY", "")
            .env("BROKER", env!("CARGO_BIN_EXE_broker"))
            .env_remove("TRANSPORTER")
            .env_remove("NAMESPACE")
            .env_remove("NODE_ID")
            .env_remove("MOLECULER_PROTOCOL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(err) => panic!("cannot run script: {err}"),
        };
        let (Some(keys), Some(mut screen)) = (child.stdin.take(), child.stdout.take()) else {
            panic!("no pipes to script");
        };
        let shown = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = shown.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = screen.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut shown) = sink.lock() {
                    shown.extend_from_slice(&buf[..n]);
                }
            }
        });
        Terminal { child, keys, shown }
    }

    /// Everything shown so far, escape sequences removed.
    pub fn screen(&self) -> String {
        let raw = self.shown.lock().map(|s| s.clone()).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw))
    }

    /// The screen as a terminal shows it (see [`render_screen`]).
    pub fn rendered(&self) -> String {
        let raw = self.shown.lock().map(|s| s.clone()).unwrap_or_default();
        render_screen(&String::from_utf8_lossy(&raw))
    }

    /// Types keys.
    pub async fn type_keys(&mut self, keys: &str) {
        if let Err(err) = self.keys.write_all(keys.as_bytes()).await {
            panic!("cannot type: {err}");
        }
        let _ = self.keys.flush().await;
    }

    /// Waits (at most 15 s) until `needle` is on screen.
    pub async fn wait_for(&self, needle: &str) {
        for _ in 0..750 {
            if self.screen().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{needle:?} not shown within 15 s:\n{}", self.screen());
    }
}

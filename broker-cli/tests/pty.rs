//! The console on a real terminal: `broker repl` runs under `script`, which gives it a
//! pseudo-terminal, and the test types keys into it (Tab, Up arrow, Enter) and reads the screen
//! output back.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Removes ANSI escape sequences (colours, cursor moves) and carriage returns.
fn strip_ansi(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters, then one final byte in @..~.
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

fn script_available() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn tab_completion_history_and_colours_on_a_terminal() {
    if !script_available() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let history = std::env::temp_dir().join(format!("broker-pty-history-{}", std::process::id()));
    let _ = std::fs::remove_file(&history);
    let command = format!("{} --node-id pty-node repl", env!("CARGO_BIN_EXE_broker"));
    let mut child = match Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("TRANSPORTER")
        .env("BROKER_REPL_HISTORY", &history)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(err) => panic!("cannot run script: {err}"),
    };
    let (Some(mut keys), Some(mut screen)) = (child.stdin.take(), child.stdout.take()) else {
        panic!("no pipes to script");
    };
    // Everything the console draws, as it arrives.
    let shown = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = shown.clone();
    let reader = tokio::spawn(async move {
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
    let text = || {
        let raw = shown.lock().map(|s| s.clone()).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&raw))
    };
    // Waits (at most 15 s) until `needle` is on screen `times` times.
    let wait_for = |needle: &'static str, times: usize| {
        let text = &text;
        async move {
            for _ in 0..750 {
                if text().matches(needle).count() >= times {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!(
                "{needle:?} not shown {times} times within 15 s:\n{}",
                text()
            );
        }
    };
    let steps: [(&str, &'static str, usize); 6] = [
        ("call $node.l", "mol $ call $node.l", 1),
        ("\t", "call $node.list", 1),
        (" --onlyAvailable true\r", "\"id\": \"pty-node\"", 1),
        ("nodez\r", "did you mean 'nodes'?", 1),
        (
            "\x1b[A\x1b[A",
            "mol $ call $node.list --onlyAvailable true",
            2,
        ),
        ("\r", "\"id\": \"pty-node\"", 2),
    ];
    wait_for("mol $", 1).await;
    for (keys_now, then_shown, times) in steps {
        if let Err(err) = keys.write_all(keys_now.as_bytes()).await {
            panic!("cannot type: {err}");
        }
        let _ = keys.flush().await;
        wait_for(then_shown, times).await;
    }
    let _ = keys.write_all(b"exit\r").await;
    let _ = keys.flush().await;
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    drop(keys);
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    let raw =
        String::from_utf8_lossy(&shown.lock().map(|s| s.clone()).unwrap_or_default()).into_owned();
    let saved = std::fs::read_to_string(&history).unwrap_or_default();
    let _ = std::fs::remove_file(&history);
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "the console did not exit cleanly: {status:?}\n{raw}"
    );
    let screen = strip_ansi(&raw);
    // Tab completed `$node.l` to the only action that starts so.
    assert!(
        screen.contains("mol $ call $node.list --onlyAvailable true"),
        "{screen}"
    );
    // The result, pretty and coloured (keys cyan, strings green).
    assert!(screen.contains("\"id\": \"pty-node\""), "{screen}");
    assert!(
        raw.contains("\u{1b}[36m\"id\"\u{1b}[0m"),
        "keys are coloured: {raw:?}"
    );
    // A typo is one clear line, and the console goes on.
    assert!(
        screen.contains(">> ERROR: unknown command 'nodez'; did you mean 'nodes'?"),
        "{screen}"
    );
    // Up twice recalled the first command, which ran again.
    assert_eq!(
        screen.matches("\"id\": \"pty-node\"").count(),
        2,
        "{screen}"
    );
    // History is kept for the next run.
    assert!(
        saved.contains("call $node.list --onlyAvailable true"),
        "history file: {saved:?}"
    );
    assert!(saved.contains("nodez"), "history file: {saved:?}");
}

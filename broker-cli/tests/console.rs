//! The console on a real terminal (under `script`) next to a peer node on Redis: log lines
//! appear above the prompt without breaking the line being typed, and Ctrl-C during a long
//! call stops the node gracefully (the peer drops it at once).

mod common;

use common::peer::{namespace_for, peer, redis_url};
use common::pty::{script_available, Terminal};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test]
async fn log_lines_appear_above_the_prompt_without_breaking_the_typed_line() {
    if !script_available() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let url = redis_url();
    let namespace = namespace_for("log");
    let mut term = Terminal::open(&[
        "-v",
        "--transporter",
        &url,
        "--namespace",
        &namespace,
        "--protocol",
        "5",
        "--node-id",
        "pty-log",
        "repl",
    ]);
    term.wait_for("mol $ ").await;
    term.type_keys("call ma").await;
    term.wait_for("mol $ call ma").await;
    // A node joins while the person is typing: the console logs it (info, with -v).
    let p = peer("log").await;
    term.wait_for("peer-log").await;
    // The line being typed comes back below the log line, which has a line of its own.
    let deadline = Instant::now() + Duration::from_secs(5);
    let shown = loop {
        let screen = term.rendered();
        let after = screen.rsplit("peer-log").next().unwrap_or_default();
        if after.contains("mol $ call ma") || Instant::now() > deadline {
            break screen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    term.type_keys("\u{15}exit\r").await;
    let status = tokio::time::timeout(Duration::from_secs(15), term.child.wait()).await;
    let _ = p.broker.stop().await;
    let lines: Vec<&str> = shown.lines().collect();
    let Some(at) = lines.iter().position(|l| l.contains("peer-log")) else {
        panic!("no log line names peer-log:\n{shown}");
    };
    assert!(lines[at].contains("INFO"), "{shown}");
    assert!(
        !lines[at].contains("mol $"),
        "the log line broke into the prompt:\n{shown}"
    );
    assert_eq!(
        lines.get(at + 1).map(|l| l.trim_end()),
        Some("mol $ call ma"),
        "the typed line was not redrawn below the log line:\n{shown}"
    );
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "the console did not exit cleanly: {status:?}\n{}",
        term.rendered()
    );
}

#[tokio::test]
async fn ctrl_c_during_a_long_call_in_the_console_says_goodbye() {
    if !script_available() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    let p = peer("ctrlc").await;
    let url = redis_url();
    let mut term = Terminal::open(&[
        "--transporter",
        &url,
        "--namespace",
        &p.namespace,
        "--protocol",
        "5",
        "--node-id",
        "pty-ctrlc",
        "repl",
    ]);
    term.wait_for("mol $ ").await;
    assert!(
        p.wait_until_sees("pty-ctrlc", true, Duration::from_secs(15))
            .await,
        "the peer never saw the console's node"
    );
    term.type_keys("call slow.sleep\r").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !p.slow_started.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(p.slow_started.load(Ordering::SeqCst), "{}", term.screen());
    let pressed = Instant::now();
    term.type_keys("\u{3}").await;
    let left = p
        .wait_until_sees("pty-ctrlc", false, Duration::from_secs(1))
        .await;
    let seen_leaving = pressed.elapsed();
    let status = tokio::time::timeout(Duration::from_secs(5), term.child.wait()).await;
    let _ = p.broker.stop().await;
    let screen = term.screen();
    assert!(
        left,
        "the peer still listed the console's node 1 s after Ctrl-C:\n{screen}"
    );
    match status {
        Ok(Ok(status)) => assert_eq!(status.code(), Some(130), "{status:?}\n{screen}"),
        other => panic!("the console did not exit within 5 s of Ctrl-C: {other:?}\n{screen}"),
    }
    eprintln!("Ctrl-C: the peer saw the console's node leave after {seen_leaving:?}");
}

/// SIGTERM while the console reads a line (the terminal in raw mode): the node stops and the
/// terminal is handed back as it was, echoing and line by line.
#[tokio::test]
async fn sigterm_at_the_prompt_gives_the_terminal_back_in_its_modes() {
    if !script_available() {
        eprintln!("skipped: `script` (util-linux) is not installed, so no pseudo-terminal");
        return;
    }
    // The inner shell prints its PID and becomes the console; `stty -a` then shows the modes
    // the console left.
    let term = Terminal::open_command(
        "sh -c 'echo PID=$$; exec \"$BROKER\" --node-id pty-term repl'; stty -a",
    );
    term.wait_for("mol $ ").await;
    let screen = term.screen();
    let pid = screen
        .split("PID=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse::<u32>().ok());
    let Some(pid) = pid else {
        panic!("no PID shown:\n{screen}");
    };
    common::send_signal(pid, "TERM");
    term.wait_for("speed").await;
    term.wait_for("echoke").await;
    let screen = term.screen();
    let modes: Vec<&str> = screen
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    for mode in ["icanon", "echo"] {
        assert!(
            modes.contains(&mode),
            "{mode} is off after the console stopped:\n{screen}"
        );
    }
}

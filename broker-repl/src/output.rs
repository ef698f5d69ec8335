//! What a command produced, in two forms: JSON for scripts ([`Output::to_json`]) and text for
//! people ([`Output::render`]).

use crate::exec::BenchReport;
use crate::render::{pretty_json, Cell, Style, Table, Tone};
use broker_core::EventType;
use serde_json::Value;
use std::time::Duration;

/// The result of one action call.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The action called.
    pub action: String,
    /// The node asked for (`dcall`), if any.
    pub node_id: Option<String>,
    /// The params sent.
    pub params: Value,
    /// What the action returned.
    pub result: Value,
    /// How long the call took.
    pub elapsed: Duration,
}

/// An event that was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// How.
    pub kind: EventType,
    /// The event name.
    pub event: String,
    /// The payload.
    pub data: Value,
}

/// A list from the registry: the raw entries and a table of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The entries, in the shape `$node.list`, `.services`, `.actions` or `.events` returns.
    pub data: Value,
    /// The entries as a table.
    pub table: Table,
}

/// `info`: sections of labelled values, and the same as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoReport {
    /// Everything shown, as JSON.
    pub data: Value,
    /// Titled sections of `label: value` lines.
    pub sections: Vec<(String, Vec<(String, Cell)>)>,
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// An action's result (`call`, `dcall`).
    Response(Response),
    /// An event went out (`emit`, `broadcast`, `broadcastLocal`).
    Sent(Sent),
    /// A registry list (`nodes`, `services`, `actions`, `events`).
    List(Listing),
    /// `info`.
    Info(InfoReport),
    /// `bench`.
    Bench(BenchReport),
    /// `help`.
    Help(String),
    /// `clear`: the console clears the screen.
    Clear,
    /// `exit`: the console stops.
    Exit,
    /// Nothing to show (an empty line).
    Empty,
}

impl Output {
    /// Whether the console should stop.
    pub fn is_exit(&self) -> bool {
        matches!(self, Output::Exit)
    }

    /// The output as JSON, as the CLI prints it: the action's result itself for a call, the
    /// raw registry entries for a list, `null` when there is nothing to say.
    pub fn to_json(&self) -> Value {
        match self {
            Output::Response(r) => r.result.clone(),
            Output::Sent(s) => serde_json::json!({
                "event": s.event,
                "type": s.kind.as_str(),
                "data": s.data,
            }),
            Output::List(l) => l.data.clone(),
            Output::Info(i) => i.data.clone(),
            Output::Bench(b) => b.to_json(),
            Output::Help(text) => Value::String(text.clone()),
            Output::Clear | Output::Exit | Output::Empty => Value::Null,
        }
    }

    /// The output as text for a person (no trailing newline; empty for nothing to show).
    pub fn render(&self, style: Style) -> String {
        match self {
            Output::Response(r) => {
                let target = match &r.node_id {
                    Some(node) => format!("'{}' on '{node}'", r.action),
                    None => format!("'{}'", r.action),
                };
                format!(
                    "{}\n{}\n{}",
                    style.paint(
                        Tone::Dim,
                        &format!(">> Call {target} with params: {}", compact(&r.params))
                    ),
                    pretty_json(&r.result, style),
                    style.paint(
                        Tone::Dim,
                        &format!(">> Execution time: {}", millis(r.elapsed))
                    ),
                )
            }
            Output::Sent(s) => {
                let verb = match s.kind {
                    EventType::Emit => "emitted",
                    EventType::Broadcast => "broadcast",
                    EventType::BroadcastLocal => "broadcast locally",
                };
                style.paint(
                    Tone::Dim,
                    &format!(
                        ">> Event '{}' {verb} with payload: {}",
                        s.event,
                        compact(&s.data)
                    ),
                )
            }
            Output::List(l) => l.table.render(style),
            Output::Info(i) => render_info(i, style),
            Output::Bench(b) => b.render(style),
            Output::Help(text) => text.clone(),
            Output::Clear | Output::Exit | Output::Empty => String::new(),
        }
    }
}

/// One-line JSON.
pub(crate) fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `1.23 ms` or `2.5 s`.
pub(crate) fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.2} ms")
    }
}

fn render_info(info: &InfoReport, style: Style) -> String {
    let width = info
        .sections
        .iter()
        .flat_map(|(_, lines)| lines.iter().map(|(label, _)| label.chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (title, lines) in &info.sections {
        if !out.is_empty() {
            out.push(String::new());
        }
        out.push(style.paint(Tone::Header, title));
        for (label, value) in lines {
            let pad = " ".repeat(width - label.chars().count());
            out.push(format!(
                "  {}{pad}  {}",
                style.paint(Tone::Key, label),
                style.paint(value.tone, &value.text)
            ));
        }
    }
    out.join("\n")
}

//! A console exporter: when the root span of a trace (on this node) finishes, prints the tree
//! of its spans with their durations and a timeline gauge, as Moleculer's `Console` exporter.

use super::SpanExporter;
use crate::trace::{FinishedSpan, SpanData};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

/// Prints each finished trace as a tree (to stdout, or to a writer of your choice).
pub struct ConsoleExporter {
    width: usize,
    gauge_width: usize,
    colors: bool,
    writer: Arc<dyn Fn(&str) + Send + Sync>,
    spans: Mutex<HashMap<String, Item>>,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("width", &self.width)
            .field("colors", &self.colors)
            .finish_non_exhaustive()
    }
}

struct Item {
    span: SpanData,
    children: Vec<String>,
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        ConsoleExporter::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ConsoleExporter {
    /// Prints to stdout, 100 columns wide, in color when stdout is a terminal and `NO_COLOR`
    /// is unset.
    pub fn new() -> ConsoleExporter {
        use std::io::IsTerminal;
        ConsoleExporter {
            width: 100,
            gauge_width: 40,
            colors: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            writer: Arc::new(|text| println!("{text}")),
            spans: Mutex::new(HashMap::new()),
        }
    }

    /// Sends each printed trace (all its lines) to `writer` instead.
    pub fn with_writer(mut self, writer: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.writer = Arc::new(writer);
        self
    }

    /// Turns colors on or off.
    pub fn colors(mut self, on: bool) -> Self {
        self.colors = on;
        self
    }

    /// Sets the width of the table.
    pub fn width(mut self, width: usize) -> Self {
        self.width = width.max(60);
        self
    }
}

impl SpanExporter for ConsoleExporter {
    fn options_json(&self) -> serde_json::Value {
        serde_json::json!({"type": "Console", "options": {
            "width": self.width,
            "gaugeWidth": self.gauge_width,
            "colors": self.colors,
        }})
    }

    fn wants_started(&self) -> bool {
        true
    }

    fn span_started(&self, span: &SpanData) {
        let mut spans = lock(&self.spans);
        if let Some(parent) = span.parent_id.as_ref().and_then(|p| spans.get_mut(p)) {
            parent.children.push(span.id.clone());
        }
        spans.insert(
            span.id.clone(),
            Item {
                span: span.clone(),
                children: Vec::new(),
            },
        );
    }

    fn span_finished(&self, span: &FinishedSpan) {
        let span = span.data();
        let text = {
            let mut spans = lock(&self.spans);
            if let Some(item) = spans.get_mut(&span.id) {
                item.span = span.clone();
            }
            let parent_here = span
                .parent_id
                .as_ref()
                .is_some_and(|p| spans.contains_key(p));
            if parent_here {
                return;
            }
            let mut tree = Vec::new();
            take_subtree(&mut spans, &span.id, &mut tree);
            if tree.is_empty() {
                tree.push(span.clone());
            }
            render(&tree, &span.id, self.width, self.gauge_width, self.colors)
        };
        (self.writer)(&text);
    }
}

fn take_subtree(spans: &mut HashMap<String, Item>, id: &str, out: &mut Vec<SpanData>) {
    if let Some(item) = spans.remove(id) {
        out.push(item.span);
        for child in item.children {
            take_subtree(spans, &child, out);
        }
    }
}

/// Renders the tree of `spans` under the span `root_id` (spans from any nodes, say all the
/// spans of one trace collected from `$tracing.spans`), children ordered by start time.
pub fn render_trace(spans: &[SpanData], root_id: &str, colors: bool) -> String {
    render(spans, root_id, 100, 40, colors)
}

struct Style(bool);

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn grey(&self, text: &str) -> String {
        self.paint("90", text)
    }
}

/// Moleculer's `humanize`: ns, μs, ms, s, m, h.
fn humanize(ms: f64) -> String {
    let abs = ms.abs();
    if abs < 0.001 {
        format!("{:.0}ns", ms * 1_000_000.0)
    } else if abs < 1.0 {
        format!("{:.0}μs", ms * 1000.0)
    } else if abs < 1000.0 {
        format!("{:.0}ms", ms)
    } else if abs < 60_000.0 {
        format!("{:.0}s", ms / 1000.0)
    } else if abs < 3_600_000.0 {
        format!("{:.0}m", ms / 60_000.0)
    } else {
        format!("{:.0}h", ms / 3_600_000.0)
    }
}

fn fit(text: &str, space: usize) -> String {
    let len = text.chars().count();
    if len <= space {
        format!("{text}{}", " ".repeat(space - len))
    } else {
        let keep = space.saturating_sub(3);
        let mut out: String = text.chars().take(keep).collect();
        out.push_str(&".".repeat(space.min(3)));
        out
    }
}

fn render(spans: &[SpanData], root_id: &str, width: usize, gauge: usize, colors: bool) -> String {
    let style = Style(colors);
    let by_id: HashMap<&str, &SpanData> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut children: HashMap<&str, Vec<&SpanData>> = HashMap::new();
    for span in spans {
        if let Some(parent) = span.parent_id.as_deref() {
            if by_id.contains_key(parent) && span.id != root_id {
                children.entry(parent).or_default().push(span);
            }
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.start_time.total_cmp(&b.start_time));
    }
    let Some(root) = by_id.get(root_id).copied() else {
        return String::new();
    };
    // Rows: (span, indent), depth first.
    let mut rows: Vec<(&SpanData, String)> = Vec::new();
    let mut depth = 0;
    walk(
        root,
        &children,
        1,
        &mut Vec::new(),
        true,
        &mut rows,
        &mut depth,
    );

    let inner = width - 4;
    let mut out = String::new();
    let line = |out: &mut String, text: &str| {
        let _ = writeln!(out, "{}{}{}", style.grey("│ "), text, style.grey(" │"));
    };
    let _ = writeln!(
        out,
        "{}",
        style.grey(&format!("┌{}┐", "─".repeat(width - 2)))
    );
    let total = rows.len().to_string();
    let depth_s = depth.to_string();
    let id_space = inner.saturating_sub(4 + 7 + depth_s.len() + 7 + total.len() + 2);
    line(
        &mut out,
        &format!(
            "{}{} {}{} {}{}",
            style.grey("ID: "),
            style.paint("1", &fit(root_id, id_space)),
            style.grey("Depth: "),
            style.paint("1", &depth_s),
            style.grey("Total: "),
            style.paint("1", &total)
        ),
    );
    let _ = writeln!(
        out,
        "{}",
        style.grey(&format!("├{}┤", "─".repeat(width - 2)))
    );
    let main_start = root.start_time;
    let main_end = root.finish_time.unwrap_or(root.start_time);
    let span_ms = main_end - main_start;
    for (span, indent) in rows {
        let time = span.duration.map_or_else(|| "?".to_owned(), humanize);
        let mut caption = span.name.clone();
        if span.tags.get("fromCache") == Some(&serde_json::Value::Bool(true)) {
            caption.push_str(" *");
        }
        if span.is_remote() {
            caption.push_str(" »");
        }
        if span.error.is_some() {
            caption.push_str(" ×");
        }
        let space =
            inner.saturating_sub(gauge + 3 + time.chars().count() + 1 + indent.chars().count());
        let info = format!("{}{} {}", style.grey(&indent), fit(&caption, space), time);
        let (gstart, gstop) = if span_ms > 0.0 {
            let start = (span.start_time - main_start) / span_ms * 100.0;
            let stop = (span.finish_time.unwrap_or(main_end) - main_start) / span_ms * 100.0;
            (start.clamp(0.0, 100.0), stop.clamp(0.0, 100.0))
        } else {
            (0.0, 100.0)
        };
        let p1 = ((gauge as f64 * gstart) / 100.0).floor() as usize;
        let p2 = (((gauge as f64 * gstop) / 100.0).floor() as usize)
            .saturating_sub(p1)
            .max(1);
        let p3 = gauge.saturating_sub(p1 + p2);
        let bar = format!(
            "{}{}{}{}{}",
            style.grey("["),
            style.grey(&".".repeat(p1)),
            "■".repeat(p2),
            style.grey(&".".repeat(p3)),
            style.grey("]")
        );
        let code = if span.error.is_some() {
            "1;31"
        } else if span.is_remote() {
            "1;36"
        } else if span.duration.is_none() {
            "1;90"
        } else {
            "1"
        };
        line(&mut out, &style.paint(code, &format!("{info} {bar}")));
    }
    let _ = write!(
        out,
        "{}",
        style.grey(&format!("└{}┘", "─".repeat(width - 2)))
    );
    out
}

fn walk<'a>(
    span: &'a SpanData,
    children: &HashMap<&str, Vec<&'a SpanData>>,
    level: usize,
    lasts: &mut Vec<bool>,
    last: bool,
    rows: &mut Vec<(&'a SpanData, String)>,
    depth: &mut usize,
) {
    *depth = (*depth).max(level);
    let kids = children
        .get(span.id.as_str())
        .map_or(&[][..], Vec::as_slice);
    let indent = if level > 1 {
        let mut s: String = lasts
            .iter()
            .skip(1)
            .map(|l| if *l { "  " } else { "│ " })
            .collect();
        s.push_str(if last { "└─" } else { "├─" });
        s.push_str(if kids.is_empty() {
            "── "
        } else {
            "┬─ "
        });
        s
    } else {
        String::new()
    };
    rows.push((span, indent));
    lasts.push(last);
    for (i, kid) in kids.iter().enumerate() {
        walk(
            kid,
            children,
            level + 1,
            lasts,
            i + 1 == kids.len(),
            rows,
            depth,
        );
    }
    lasts.pop();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: f64, dur: f64) -> SpanData {
        let mut s = SpanData::new(
            format!("action '{id}'"),
            "action",
            id.to_owned(),
            "t".to_owned(),
            parent.map(str::to_owned),
        );
        s.start_time = start;
        s.finish_time = Some(start + dur);
        s.duration = Some(dur);
        s
    }

    #[test]
    fn renders_a_tree() {
        let spans = vec![
            span("root", None, 0.0, 100.0),
            span("b", Some("root"), 50.0, 40.0),
            span("a", Some("root"), 10.0, 30.0),
            span("a1", Some("a"), 12.0, 5.0),
        ];
        let text = render_trace(&spans, "root", false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].contains("ID: root")
                && lines[1].contains("Depth: 3")
                && lines[1].contains("Total: 4"),
            "{text}"
        );
        assert!(
            lines[3].contains("action 'root'") && lines[3].contains("100ms"),
            "{text}"
        );
        assert!(lines[4].contains("├─┬─ action 'a'"), "{text}");
        assert!(lines[5].contains("│ └─── action 'a1'"), "{text}");
        assert!(lines[6].contains("└─── action 'b'"), "{text}");
        assert!(lines.iter().all(|l| l.chars().count() == 100), "{text}");
    }
}

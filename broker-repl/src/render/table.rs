//! Aligned tables for lists of nodes, services, actions and events.

use super::style::{Style, Tone};

/// One cell: its text and how it looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// Its look.
    pub tone: Tone,
}

impl Cell {
    /// A plain cell.
    pub fn new(text: impl Into<String>) -> Cell {
        Cell::toned(text, Tone::Plain)
    }

    /// A cell with a look.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text)
    }
}

/// Rows under headers, printed with aligned columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra cells are dropped).
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// The rows.
    pub fn rows(&self) -> &[Vec<Cell>] {
        &self.rows
    }

    /// The headers.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The table as text: a header line, a rule, and one line per row, columns separated by
    /// two spaces. An empty table says `(none)` under its rule.
    pub fn render(&self, style: Style) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().take(n).enumerate() {
                widths[i] = widths[i].max(width(&cell.text));
            }
        }
        let mut lines = Vec::with_capacity(self.rows.len() + 2);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::toned(h.clone(), Tone::Header))
            .collect();
        lines.push(line(&header, &widths, style));
        let rule: Vec<Cell> = widths
            .iter()
            .map(|w| Cell::toned("─".repeat(*w), Tone::Dim))
            .collect();
        lines.push(line(&rule, &widths, style));
        for row in &self.rows {
            lines.push(line(row, &widths, style));
        }
        if self.rows.is_empty() {
            lines.push(style.paint(Tone::Dim, "(none)"));
        }
        lines.join("\n")
    }
}

fn line(cells: &[Cell], widths: &[usize], style: Style) -> String {
    let mut out = String::new();
    for (i, w) in widths.iter().enumerate() {
        let (text, tone) = match cells.get(i) {
            Some(c) => (c.text.as_str(), c.tone),
            None => ("", Tone::Plain),
        };
        if i > 0 {
            out.push_str("  ");
        }
        out.push_str(&style.paint(tone, text));
        if i + 1 < widths.len() {
            out.push_str(&" ".repeat(w.saturating_sub(width(text))));
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(["Name", "N", "State"]);
        t.push(vec![
            "math.add".into(),
            "2".into(),
            Cell::toned("OK", Tone::Good),
        ]);
        t.push(vec!["x".into(), "10".into()]);
        let out = t.render(Style::plain());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Name      N   State");
        assert_eq!(lines[1], "────────  ──  ─────");
        assert_eq!(lines[2], "math.add  2   OK");
        assert_eq!(lines[3], "x         10");
    }

    #[test]
    fn empty_tables_say_so() {
        let out = Table::new(["A"]).render(Style::plain());
        assert!(out.ends_with("(none)"), "{out}");
    }
}

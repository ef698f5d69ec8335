//! Colours: on for a terminal, off for pipes, files and `NO_COLOR`.

use nu_ansi_term::{Color, Style as Ansi};
use std::io::IsTerminal;

/// The role of a piece of text; the [`Style`] decides how it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Ordinary text.
    Plain,
    /// A JSON object key.
    Key,
    /// A JSON string.
    Str,
    /// A JSON number.
    Number,
    /// A JSON boolean.
    Bool,
    /// JSON `null` and other quiet text.
    Dim,
    /// Something fine: ONLINE, OK.
    Good,
    /// Something wrong: OFFLINE, an error.
    Bad,
    /// Worth a look.
    Warn,
    /// A name to notice.
    Accent,
    /// Table headers and titles.
    Header,
}

/// Whether output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// No escape codes at all.
    pub fn plain() -> Style {
        Style { colour: false }
    }

    /// ANSI colours.
    pub fn coloured() -> Style {
        Style { colour: true }
    }

    /// Colours when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// Whether this style colours.
    pub fn is_coloured(self) -> bool {
        self.colour
    }

    /// `text` in the look of `tone`.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let ansi = match tone {
            Tone::Plain => return text.to_owned(),
            Tone::Key => Color::Cyan.normal(),
            Tone::Str => Color::Green.normal(),
            Tone::Number => Color::Yellow.normal(),
            Tone::Bool => Color::Magenta.normal(),
            Tone::Dim => Ansi::new().dimmed(),
            Tone::Good => Color::Green.bold(),
            Tone::Bad => Color::Red.bold(),
            Tone::Warn => Color::Yellow.bold(),
            Tone::Accent => Color::Cyan.bold(),
            Tone::Header => Ansi::new().bold(),
        };
        ansi.paint(text).to_string()
    }
}

//! Turning results into text for people: colours, pretty JSON, tables.

mod json;
mod style;
mod table;

pub use json::pretty_json;
pub use style::{Style, Tone};
pub use table::{Cell, Table};

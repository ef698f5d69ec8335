//! From a typed line to a [`Command`]: words, options, and the command table.

mod args;
mod command;
mod table;
mod tokens;

pub use args::coerce;
pub use command::{
    BenchLimit, BenchRequest, CallRequest, Command, EmitRequest, ListOptions, MicroAction,
    MicroRequest, TasksRequest, MAX_BENCH_TIME,
};
pub use table::{find_command, CommandInfo, Completes, COMMANDS};
pub use tokens::{tokenize, Token};

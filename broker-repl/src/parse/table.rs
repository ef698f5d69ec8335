//! The commands: names, usage lines, options. `help`, completion and the parser all read this
//! one table.

use super::args::{Flag, Spec};

/// One command of the console.
#[derive(Debug, Clone, Copy)]
pub struct CommandInfo {
    /// Its name.
    pub name: &'static str,
    /// Other names for it.
    pub aliases: &'static [&'static str],
    /// The usage line.
    pub usage: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// What its first argument names, for completion.
    pub completes: Completes,
    pub(crate) spec: Spec,
}

/// What the words after a command name are, for tab completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completes {
    /// Nothing to complete.
    Nothing,
    /// An action name.
    Action,
    /// A node ID, then an action name.
    NodeThenAction,
    /// An event name.
    Event,
    /// A command name.
    Command,
}

const fn flag(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        takes_value: false,
        help,
    }
}

const fn valued(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        takes_value: true,
        help,
    }
}

const FILTER: Flag = valued(
    "filter",
    Some('f'),
    "only names matching a pattern (`math.*`)",
);
const ALL: Flag = flag(
    "all",
    Some('a'),
    "include offline nodes and unavailable entries",
);
const DETAILS: Flag = flag("details", Some('d'), "show the nodes of each entry");
const LOCAL: Flag = flag("local", Some('l'), "only what this node offers");
const SKIP_INTERNAL: Flag = flag("skipinternal", Some('i'), "skip internal ($node) entries");

const REGISTRY_LIST: Spec = Spec {
    flags: &[ALL, DETAILS, LOCAL, SKIP_INTERNAL, FILTER],
    free_params: false,
    call_options: &[],
};

const CALL: Spec = Spec {
    flags: &[],
    free_params: true,
    call_options: &["timeout"],
};

const EMIT: Spec = Spec {
    flags: &[],
    free_params: true,
    call_options: &["groups"],
};

const NONE: Spec = Spec {
    flags: &[],
    free_params: false,
    call_options: &[],
};

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo {
        name: "call",
        aliases: &[],
        usage: "call <action> [json params] [json meta] [--key value ...] [--#metaKey value] [--$timeout ms]",
        about: "Call an action and print its result.",
        completes: Completes::Action,
        spec: CALL,
    },
    CommandInfo {
        name: "dcall",
        aliases: &[],
        usage: "dcall <nodeID> <action> [json params] [json meta] [--key value ...] [--#metaKey value]",
        about: "Call an action on one node directly.",
        completes: Completes::NodeThenAction,
        spec: CALL,
    },
    CommandInfo {
        name: "emit",
        aliases: &[],
        usage: "emit <event> [json payload] [--key value ...] [--#metaKey value] [--$groups a,b]",
        about: "Emit an event (one handler per group receives it).",
        completes: Completes::Event,
        spec: EMIT,
    },
    CommandInfo {
        name: "broadcast",
        aliases: &[],
        usage: "broadcast <event> [json payload] [--key value ...] [--#metaKey value] [--$groups a,b]",
        about: "Broadcast an event to every handler on every node.",
        completes: Completes::Event,
        spec: EMIT,
    },
    CommandInfo {
        name: "broadcastLocal",
        aliases: &[],
        usage: "broadcastLocal <event> [json payload] [--key value ...]",
        about: "Broadcast an event to the handlers of this node only.",
        completes: Completes::Event,
        spec: Spec {
            flags: &[],
            free_params: true,
            call_options: &[],
        },
    },
    CommandInfo {
        name: "nodes",
        aliases: &[],
        usage: "nodes [-a] [-d] [-f pattern]",
        about: "List the nodes of the cluster.",
        completes: Completes::Nothing,
        spec: Spec {
            flags: &[ALL, DETAILS, FILTER],
            free_params: false,
            call_options: &[],
        },
    },
    CommandInfo {
        name: "services",
        aliases: &[],
        usage: "services [-a] [-d] [-l] [-i] [-f pattern]",
        about: "List the services of the cluster.",
        completes: Completes::Nothing,
        spec: REGISTRY_LIST,
    },
    CommandInfo {
        name: "actions",
        aliases: &[],
        usage: "actions [-a] [-d] [-l] [-i] [-f pattern]",
        about: "List the actions of the cluster.",
        completes: Completes::Nothing,
        spec: REGISTRY_LIST,
    },
    CommandInfo {
        name: "events",
        aliases: &[],
        usage: "events [-a] [-d] [-l] [-i] [-f pattern]",
        about: "List the event subscriptions of the cluster.",
        completes: Completes::Nothing,
        spec: REGISTRY_LIST,
    },
    CommandInfo {
        name: "metrics",
        aliases: &[],
        usage: "metrics [pattern | -f pattern]",
        about: "Show this node's metrics (`moleculer.request.**`, `process.*`).",
        completes: Completes::Nothing,
        spec: Spec {
            flags: &[FILTER],
            free_params: false,
            call_options: &[],
        },
    },
    CommandInfo {
        name: "tasks",
        aliases: &[],
        usage: "tasks [-f pattern] | tasks run <service.task> [--nodeID id]",
        about: "List the scheduled tasks of the cluster with their next run, or run one now.",
        completes: Completes::Nothing,
        spec: Spec {
            flags: &[
                FILTER,
                valued("nodeID", None, "`tasks run`: on this node (default: this node if it has the task, else the first that has it)"),
            ],
            free_params: false,
            call_options: &[],
        },
    },
    CommandInfo {
        name: "info",
        aliases: &[],
        usage: "info",
        about: "Show this broker: options, registry counts, health.",
        completes: Completes::Nothing,
        spec: NONE,
    },
    CommandInfo {
        name: "bench",
        aliases: &[],
        usage: "bench <action> [json params] [--num N | --time S] [--nodeID id] [--key value ...]",
        about: "Call an action repeatedly; print calls/s and latency percentiles (default --time 5).",
        completes: Completes::Action,
        spec: Spec {
            flags: &[
                valued("num", None, "number of calls"),
                valued("time", None, "seconds to run"),
                valued("nodeID", None, "call this node only"),
            ],
            free_params: true,
            call_options: &["timeout"],
        },
    },
    CommandInfo {
        name: "micro",
        aliases: &[],
        usage: "micro list|ping|stats [service] | micro request <subject> [json body] [--key value ...] [--$timeout ms] [--nats url]",
        about: "NATS service API (ADR-32): list, ping or show stats of the services on the bus, or request an endpoint.",
        completes: Completes::Nothing,
        spec: Spec {
            flags: &[valued(
                "nats",
                None,
                "the NATS server to ask (default: the broker's, else $NATS_URL, else nats://127.0.0.1:4222)",
            )],
            free_params: true,
            call_options: &["timeout"],
        },
    },
    CommandInfo {
        name: "help",
        aliases: &["?"],
        usage: "help [command]",
        about: "List the commands, or explain one.",
        completes: Completes::Command,
        spec: NONE,
    },
    CommandInfo {
        name: "clear",
        aliases: &["cls"],
        usage: "clear",
        about: "Clear the screen.",
        completes: Completes::Nothing,
        spec: NONE,
    },
    CommandInfo {
        name: "exit",
        aliases: &["quit", "q"],
        usage: "exit",
        about: "Leave the console (the node keeps running until its program stops it).",
        completes: Completes::Nothing,
        spec: NONE,
    },
];

impl CommandInfo {
    /// Its aliases and options, one per line (empty when it has none).
    pub fn options_help(&self) -> String {
        let mut lines = Vec::new();
        if !self.aliases.is_empty() {
            lines.push(format!("  aliases: {}", self.aliases.join(", ")));
        }
        let names: Vec<String> = self
            .spec
            .flags
            .iter()
            .map(|f| {
                let short = f.short.map(|s| format!("-{s}, ")).unwrap_or_default();
                let value = if f.takes_value { " <value>" } else { "" };
                format!("{short}--{}{value}", f.long)
            })
            .collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        for (name, f) in names.iter().zip(self.spec.flags) {
            lines.push(format!("  {name:width$}  {}", f.help));
        }
        lines.join("\n")
    }
}

/// The command a word names (exact name or alias; case does not matter).
pub fn find_command(word: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| {
        c.name.eq_ignore_ascii_case(word) || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    })
}

/// The closest command name to a mistyped word, if one is close.
pub(crate) fn suggest(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
        .map(|name| (distance(&word, &name.to_ascii_lowercase()), name))
        .filter(|(d, name)| *d <= 2 && *d < name.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The full help text, or one command's.
pub(crate) fn help_text(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => {
            let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
            let mut out = String::from("Commands:\n");
            for c in COMMANDS {
                out.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
            }
            out.push_str("\nType `help <command>` for its options. Values of --key options are ");
            out.push_str("coerced (5, 1.5, true); quote them to keep strings.");
            Ok(out)
        }
        Some(word) => {
            let c = find_command(word).ok_or_else(|| format!("unknown command '{word}'"))?;
            let out = format!("{}\n  {}\n{}", c.about, c.usage, c.options_help());
            Ok(out.trim_end().to_owned())
        }
    }
}

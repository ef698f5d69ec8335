//! A command line turned into a typed [`Command`].

use super::args::{parse_args, Parsed};
use super::table::{find_command, help_text, suggest};
use super::tokens::{tokenize, Token};
use crate::error::CommandError;
use broker_core::EventType;
use serde_json::{Map, Value};
use std::time::Duration;

/// A call to make (`call`, `dcall`, and the calls of `bench`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    /// The action's full name.
    pub action: String,
    /// Call this node only.
    pub node_id: Option<String>,
    /// The params.
    pub params: Value,
    /// The meta.
    pub meta: Map<String, Value>,
    /// The call's timeout (`--$timeout ms`).
    pub timeout: Option<Duration>,
}

/// An event to send (`emit`, `broadcast`, `broadcastLocal`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmitRequest {
    /// How it is sent.
    pub kind: EventType,
    /// The event name.
    pub event: String,
    /// The payload.
    pub data: Value,
    /// The meta.
    pub meta: Map<String, Value>,
    /// Only these groups (`--$groups a,b`).
    pub groups: Option<Vec<String>>,
}

/// The switches of `nodes`, `services`, `actions` and `events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-a`: include offline nodes and unavailable entries.
    pub all: bool,
    /// `-d`: show the nodes of each entry.
    pub details: bool,
    /// `-l`: only what this node offers.
    pub local: bool,
    /// `-i`: skip internal (`$node`) entries.
    pub skip_internal: bool,
    /// `-f pattern`: only names matching it.
    pub filter: Option<String>,
}

/// How long `bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchLimit {
    /// This many calls.
    Count(u64),
    /// For this long.
    Time(Duration),
}

/// A benchmark to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRequest {
    /// The call to repeat.
    pub call: CallRequest,
    /// When to stop.
    pub limit: BenchLimit,
}

/// What a `micro` command asks of the NATS service API (ADR-32).
#[derive(Debug, Clone, PartialEq)]
pub enum MicroAction {
    /// `micro list [name]`: each instance's INFO with its endpoints' STATS merged in.
    List {
        /// Only this service.
        name: Option<String>,
    },
    /// `micro ping [name]`: the instances that answer `$SRV.PING`.
    Ping {
        /// Only this service.
        name: Option<String>,
    },
    /// `micro stats [name]`: one line per endpoint with its counters.
    Stats {
        /// Only this service.
        name: Option<String>,
    },
    /// `micro request <subject> [json]`: a plain NATS request with a JSON body.
    Request {
        /// The endpoint's subject.
        subject: String,
        /// The body.
        body: Value,
        /// `--$timeout ms`.
        timeout: Option<Duration>,
    },
}

/// A `micro` command: what to ask, and of which NATS server.
#[derive(Debug, Clone, PartialEq)]
pub struct MicroRequest {
    /// What to ask.
    pub action: MicroAction,
    /// `--nats URL`; `None`: the broker's own NATS server when it runs on one (and its URL
    /// holds no secret), else `$NATS_URL`, else `nats://127.0.0.1:4222`.
    pub nats: Option<String>,
}

/// What a `tasks` command asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TasksRequest {
    /// `tasks run <name>`: the task to run now (`service.task`); `None` lists them.
    pub run: Option<String>,
    /// `--nodeID id`: where to run it.
    pub node_id: Option<String>,
    /// `-f pattern`: only tasks whose name matches.
    pub filter: Option<String>,
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// `call` or `dcall`.
    Call(CallRequest),
    /// `emit`, `broadcast` or `broadcastLocal`.
    Emit(EmitRequest),
    /// `nodes`.
    Nodes(ListOptions),
    /// `services`.
    Services(ListOptions),
    /// `actions`.
    Actions(ListOptions),
    /// `events`.
    Events(ListOptions),
    /// `metrics` (only `filter` is used).
    Metrics(ListOptions),
    /// `info`.
    Info,
    /// `bench`.
    Bench(BenchRequest),
    /// `micro`: the NATS service API (ADR-32) of the services on the bus.
    Micro(MicroRequest),
    /// `tasks`: the scheduled tasks of the cluster (`$node.tasks` of each node), or
    /// `tasks run`.
    Tasks(TasksRequest),
    /// `help` with its text.
    Help(String),
    /// `clear`.
    Clear,
    /// `exit` or `quit`.
    Exit,
    /// An empty line or a comment (`# …`).
    Empty,
}

/// The longest `bench --time`.
pub const MAX_BENCH_TIME: Duration = Duration::from_secs(600);

impl Command {
    /// Parses a line as typed in the console.
    pub fn parse(line: &str) -> Result<Command, CommandError> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(Command::Empty);
        }
        Command::from_tokens(&tokenize(trimmed)?)
    }

    /// Parses words that are already split, as a shell passes them to the CLI. Words are taken
    /// as typed bare, so `5` is a number and `{"a": 1}` is JSON.
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Result<Command, CommandError> {
        let tokens: Vec<Token> = words.iter().map(|w| Token::bare(w.as_ref())).collect();
        Command::from_tokens(&tokens)
    }

    fn from_tokens(tokens: &[Token]) -> Result<Command, CommandError> {
        let Some((head, rest)) = tokens.split_first() else {
            return Ok(Command::Empty);
        };
        let Some(info) = find_command(&head.text) else {
            let hint = suggest(&head.text)
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_else(|| "; type 'help' for the list".to_owned());
            return Err(CommandError::usage(format!(
                "unknown command '{}'{hint}",
                head.text
            )));
        };
        let args = parse_args(rest, &info.spec)?;
        let name = info.name;
        match name {
            "call" => Ok(Command::Call(call_request(name, None, &args, 0)?)),
            "dcall" => {
                let node = positional(&args, 0, name, "a node ID")?;
                Ok(Command::Call(call_request(name, Some(node), &args, 1)?))
            }
            "emit" => emit_request(EventType::Emit, &args),
            "broadcast" => emit_request(EventType::Broadcast, &args),
            "broadcastLocal" => emit_request(EventType::BroadcastLocal, &args),
            "nodes" => list(&args, Command::Nodes),
            "services" => list(&args, Command::Services),
            "actions" => list(&args, Command::Actions),
            "events" => list(&args, Command::Events),
            "metrics" => {
                no_more(&args, 1, name)?;
                // The pattern may come as `-f pattern` or as the only argument.
                let mut options = ListOptions {
                    filter: args.value("filter").map(str::to_owned),
                    ..ListOptions::default()
                };
                if let Some(pattern) = args.positional.first() {
                    options.filter = Some(pattern.text.clone());
                }
                Ok(Command::Metrics(options))
            }
            "bench" => bench_request(&args),
            "micro" => micro_request(&args),
            "tasks" => tasks_request(&args),
            "help" => {
                no_more(&args, 1, name)?;
                let topic = args.positional.first().map(|t| t.text.as_str());
                help_text(topic)
                    .map(Command::Help)
                    .map_err(CommandError::Usage)
            }
            "info" => no_more(&args, 0, name).map(|()| Command::Info),
            "clear" => no_more(&args, 0, name).map(|()| Command::Clear),
            _ => no_more(&args, 0, name).map(|()| Command::Exit),
        }
    }
}

fn positional(args: &Parsed, index: usize, cmd: &str, what: &str) -> Result<String, CommandError> {
    args.positional
        .get(index)
        .map(|t| t.text.clone())
        .ok_or_else(|| CommandError::usage(format!("{cmd}: missing {what}; type 'help {cmd}'")))
}

fn no_more(args: &Parsed, allowed: usize, cmd: &str) -> Result<(), CommandError> {
    match args.positional.get(allowed) {
        Some(extra) => Err(CommandError::usage(format!(
            "{cmd}: unexpected argument '{}'",
            extra.text
        ))),
        None => Ok(()),
    }
}

fn json_arg(token: &Token, what: &str) -> Result<Value, CommandError> {
    serde_json::from_str(&token.text)
        .map_err(|err| CommandError::usage(format!("invalid JSON {what} '{}': {err}", token.text)))
}

/// JSON params (or payload) plus `--key value` options merged over them.
fn params_from(args: &Parsed, token: Option<&Token>, what: &str) -> Result<Value, CommandError> {
    let mut value = match token {
        Some(t) => json_arg(t, what)?,
        None => Value::Object(Map::new()),
    };
    if args.params.is_empty() {
        return Ok(value);
    }
    let Value::Object(map) = &mut value else {
        return Err(CommandError::usage(format!(
            "--key options need the JSON {what} to be an object"
        )));
    };
    for (k, v) in &args.params {
        map.insert(k.clone(), v.clone());
    }
    Ok(value)
}

fn meta_from(args: &Parsed, token: Option<&Token>) -> Result<Map<String, Value>, CommandError> {
    let mut meta = match token.map(|t| json_arg(t, "meta")).transpose()? {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(CommandError::usage("JSON meta must be an object")),
    };
    meta.extend(args.meta.clone());
    Ok(meta)
}

fn call_request(
    cmd: &str,
    node_id: Option<String>,
    args: &Parsed,
    first: usize,
) -> Result<CallRequest, CommandError> {
    let action = positional(args, first, cmd, "an action name")?;
    no_more(args, first + 3, cmd)?;
    let timeout = match args.call.get("timeout") {
        None => None,
        Some(t) => Some(millis(&t.text, "--$timeout")?),
    };
    Ok(CallRequest {
        action,
        node_id,
        params: params_from(args, args.positional.get(first + 1), "params")?,
        meta: meta_from(args, args.positional.get(first + 2))?,
        timeout,
    })
}

fn millis(text: &str, what: &str) -> Result<Duration, CommandError> {
    text.parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| CommandError::usage(format!("{what} takes milliseconds, got '{text}'")))
}

fn emit_request(kind: EventType, args: &Parsed) -> Result<Command, CommandError> {
    let cmd = kind.as_str();
    let event = positional(args, 0, cmd, "an event name")?;
    no_more(args, 2, cmd)?;
    if kind == EventType::BroadcastLocal && !args.meta.is_empty() {
        return Err(CommandError::usage(
            "broadcastLocal sends no meta: use broadcast, or call the handler's node",
        ));
    }
    let groups = args.call.get("groups").map(|t| {
        t.text
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Ok(Command::Emit(EmitRequest {
        kind,
        event,
        data: params_from(args, args.positional.get(1), "payload")?,
        meta: args.meta.clone(),
        groups,
    }))
}

fn list(args: &Parsed, make: fn(ListOptions) -> Command) -> Result<Command, CommandError> {
    if let Some(extra) = args.positional.first() {
        return Err(CommandError::usage(format!(
            "unexpected argument '{}' (filter with -f <pattern>)",
            extra.text
        )));
    }
    Ok(make(ListOptions {
        all: args.has("all"),
        details: args.has("details"),
        local: args.has("local"),
        skip_internal: args.has("skipinternal"),
        filter: args.value("filter").map(str::to_owned),
    }))
}

fn micro_request(args: &Parsed) -> Result<Command, CommandError> {
    let sub = positional(args, 0, "micro", "list, ping, stats or request")?;
    let nats = args.value("nats").map(str::to_owned);
    let only_name = |args: &Parsed| -> Result<Option<String>, CommandError> {
        if !args.params.is_empty() || !args.meta.is_empty() || !args.call.is_empty() {
            return Err(CommandError::usage(format!(
                "micro {sub}: --key, --#key and --$timeout options belong to 'micro request'"
            )));
        }
        no_more(args, 2, "micro")?;
        Ok(args.positional.get(1).map(|t| t.text.clone()))
    };
    let action = match sub.to_ascii_lowercase().as_str() {
        "list" | "ls" => MicroAction::List {
            name: only_name(args)?,
        },
        "ping" => MicroAction::Ping {
            name: only_name(args)?,
        },
        "stats" => MicroAction::Stats {
            name: only_name(args)?,
        },
        "request" | "req" => {
            let subject = positional(args, 1, "micro", "an endpoint subject")?;
            no_more(args, 3, "micro")?;
            if !args.meta.is_empty() {
                return Err(CommandError::usage(
                    "micro request: a plain NATS request carries no meta (--#key)",
                ));
            }
            let timeout = match args.call.get("timeout") {
                None => None,
                Some(t) => Some(millis(&t.text, "--$timeout")?),
            };
            MicroAction::Request {
                subject,
                body: params_from(args, args.positional.get(2), "body")?,
                timeout,
            }
        }
        other => {
            return Err(CommandError::usage(format!(
                "micro: unknown subcommand '{other}' (list, ping, stats, request)"
            )))
        }
    };
    Ok(Command::Micro(MicroRequest { action, nats }))
}

fn tasks_request(args: &Parsed) -> Result<Command, CommandError> {
    let filter = args.value("filter").map(str::to_owned);
    let node_id = args.value("nodeID").map(str::to_owned);
    match args.positional.first().map(|t| t.text.as_str()) {
        None => {
            if node_id.is_some() {
                return Err(CommandError::usage("tasks: --nodeID goes with 'tasks run'"));
            }
            Ok(Command::Tasks(TasksRequest {
                run: None,
                node_id,
                filter,
            }))
        }
        Some("run") => {
            let name = positional(args, 1, "tasks run", "a task name (service.task)")?;
            no_more(args, 2, "tasks run")?;
            Ok(Command::Tasks(TasksRequest {
                run: Some(name),
                node_id,
                filter: None,
            }))
        }
        Some(other) => Err(CommandError::usage(format!(
            "tasks: unexpected argument '{other}' (list with 'tasks', run one with 'tasks run <name>')"
        ))),
    }
}

fn bench_request(args: &Parsed) -> Result<Command, CommandError> {
    let mut call = call_request("bench", None, args, 0)?;
    call.node_id = args.value("nodeID").map(str::to_owned);
    let limit = match (args.value("num"), args.value("time")) {
        (Some(_), Some(_)) => {
            return Err(CommandError::usage("bench: give --num or --time, not both"))
        }
        (Some(n), None) => match n.parse::<u64>() {
            Ok(n) if n > 0 => BenchLimit::Count(n),
            _ => {
                return Err(CommandError::usage(format!(
                    "bench: --num takes a count, got '{n}'"
                )))
            }
        },
        (None, Some(s)) => match s.parse::<f64>() {
            Ok(s) if s > 0.0 && s <= MAX_BENCH_TIME.as_secs_f64() => {
                BenchLimit::Time(Duration::from_secs_f64(s))
            }
            _ => {
                return Err(CommandError::usage(format!(
                    "bench: --time takes seconds (at most {}), got '{s}'",
                    MAX_BENCH_TIME.as_secs()
                )))
            }
        },
        (None, None) => BenchLimit::Time(Duration::from_secs(5)),
    };
    Ok(Command::Bench(BenchRequest { call, limit }))
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;

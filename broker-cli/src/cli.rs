//! The command line: global options (also from the environment, as Moleculer's runner reads
//! them) and one subcommand per console command, built from the console's own command table.

use broker_core::ProtocolVersion;
use broker_repl::{find_command, COMMANDS};
use clap::{Arg, ArgAction, ArgMatches};
use std::process::ExitCode;
use std::time::Duration;

/// What to do once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// Open the console.
    Repl,
    /// Run one console command, given as words.
    Words(Vec<String>),
    /// `broker micro …`: the NATS service API, without joining a cluster.
    Micro(crate::micro::MicroCommand),
}

/// Which protocol version the node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtocolChoice {
    /// The one the nodes on the bus speak (see `probe`).
    Auto,
    /// This one.
    Fixed(ProtocolVersion),
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub(crate) struct Cli {
    pub(crate) transporter: String,
    pub(crate) namespace: String,
    pub(crate) node_id: Option<String>,
    pub(crate) protocol: ProtocolChoice,
    pub(crate) timeout: Duration,
    pub(crate) wait: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) compact: bool,
    /// Errors as JSON on standard error (`--json`, or `--compact`).
    pub(crate) json_errors: bool,
    /// How many `-v`.
    pub(crate) verbose: u8,
    pub(crate) invocation: Invocation,
}

/// Options of `broker` itself: after the command they would be taken for params, so there they
/// are refused with a hint instead.
const GLOBAL_OPTIONS: &[&str] = &[
    "--transporter",
    "--namespace",
    "--node-id",
    "--protocol",
    "--wait",
    "--connect-timeout",
    "--compact",
    "--json",
    "--verbose",
    "-t",
    "-n",
    "-v",
    "-vv",
];

fn misplaced_global(args: &[String]) -> Option<&str> {
    let before_separator = args.iter().take_while(|a| *a != "--");
    before_separator
        .map(String::as_str)
        .find(|a| GLOBAL_OPTIONS.contains(&a.split('=').next().unwrap_or(a)))
}

/// Console commands that make no sense as one-shot commands, and `micro`, which the CLI has
/// in its own form (`crate::micro`) that needs no broker.
const CONSOLE_ONLY: &[&str] = &["help", "clear", "exit", "micro"];

fn millis_arg(name: &'static str, default: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name("MS")
        .default_value(default)
        .value_parser(clap::value_parser!(u64))
        .help(help)
}

fn command() -> clap::Command {
    let mut cmd = clap::Command::new("broker")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Join a Moleculer-compatible cluster, run one command and print JSON, or open the REPL.")
        .after_help(
            "Examples:\n  broker -t redis://127.0.0.1:6379 call math.add '{\"a\": 1, \"b\": 2}'\n  \
             broker -t redis://127.0.0.1:6379 call greeter.hello --name Alice\n  \
             TRANSPORTER=redis://127.0.0.1:6379 broker nodes\n  \
             broker -t nats://127.0.0.1:4222 nodes\n  \
             broker micro list --nats nats://127.0.0.1:4222 --table\n  \
             broker -t redis://127.0.0.1:6379 repl",
        )
        .subcommand_required(true)
        .arg(
            Arg::new("transporter")
                .short('t')
                .long("transporter")
                .env("TRANSPORTER")
                .value_name("URL")
                .default_value("")
                .hide_default_value(true)
                .global(true)
                .help("redis://host:port, rediss://…, nats://host:port[,…] or tls://…; without it the node is local-only"),
        )
        .arg(
            Arg::new("namespace")
                .short('n')
                .long("namespace")
                .env("NAMESPACE")
                .value_name("NS")
                .default_value("")
                .hide_default_value(true)
                .global(true)
                .help("the cluster's namespace"),
        )
        .arg(
            Arg::new("node-id")
                .long("node-id")
                .env("NODE_ID")
                .value_name("ID")
                .global(true)
                .help("this node's ID (also NODEID; default <hostname>-<pid>)"),
        )
        .arg(
            Arg::new("protocol")
                .long("protocol")
                .env("MOLECULER_PROTOCOL")
                .value_name("VER")
                .value_parser(["auto", "4", "5"])
                .default_value("auto")
                .global(true)
                .help(
                    "protocol version: 5 for Moleculer.js 0.15, 4 for 0.14, auto for the one \
                     the nodes on the bus speak (5 when none answers)",
                ),
        )
        .arg(millis_arg("timeout", "10000", "call timeout").global(true))
        .arg(
            millis_arg("wait", "3000", "longest wait for the cluster to be discovered")
                .global(true),
        )
        .arg(
            millis_arg("connect-timeout", "10000", "longest wait for the transporter to connect")
                .global(true),
        )
        .arg(
            Arg::new("compact")
                .long("compact")
                .action(ArgAction::SetTrue)
                .global(true)
                .help("print JSON on one line (errors too, as JSON on standard error)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .global(true)
                .help("print errors as JSON on standard error, as Moleculer serializes them"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .global(true)
                .help(
                    "log the broker's activity to standard error: -v info, -vv debug \
                     (default: warnings; RUST_LOG overrides)",
                ),
        );
    for info in COMMANDS.iter().filter(|c| !CONSOLE_ONLY.contains(&c.name)) {
        cmd = cmd.subcommand(
            clap::Command::new(info.name)
                .about(info.about)
                .override_usage(format!("broker [OPTIONS] {}", info.usage))
                .after_help(info.options_help())
                .disable_help_flag(true)
                .arg(
                    Arg::new("args")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .value_name("ARGS"),
                ),
        );
    }
    cmd.subcommand(clap::Command::new("repl").about("Open the interactive console on this node."))
        .subcommand(crate::micro::command())
}

fn millis(m: &ArgMatches, name: &str) -> Duration {
    Duration::from_millis(m.get_one::<u64>(name).copied().unwrap_or(0))
}

fn text(m: &ArgMatches, name: &str) -> String {
    m.get_one::<String>(name).cloned().unwrap_or_default()
}

/// Parses the process's arguments; `Err` carries the exit code after clap printed help, the
/// version or an error.
pub(crate) fn parse() -> Result<Cli, ExitCode> {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(err) => {
            let _ = err.print();
            return Err(ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2)));
        }
    };
    let Some((name, sub)) = matches.subcommand() else {
        return Err(ExitCode::from(2));
    };
    // `repl` has no `args`; `try_get_many` says so instead of panicking.
    let args: Vec<String> = sub
        .try_get_many::<String>("args")
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if let Some(option) = misplaced_global(&args) {
        eprintln!(
            "error: {option} is an option of broker itself: put it before the command \
             (broker {option} … {name} …)"
        );
        return Err(ExitCode::from(2));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let help = find_command(name).map_or(String::new(), |c| {
            let mut parts = vec![
                c.about.to_owned(),
                format!("Usage: broker [OPTIONS] {}", c.usage),
            ];
            let options = c.options_help();
            if !options.is_empty() {
                parts.push(options);
            }
            parts.push(
                "[OPTIONS] of broker itself come before the command: see broker --help.".into(),
            );
            parts.join("\n\n")
        });
        println!("{}", help.trim_end());
        return Err(ExitCode::SUCCESS);
    }
    let invocation = if name == "micro" {
        match crate::micro::from_matches(sub, millis(sub, "wait"), millis(sub, "timeout")) {
            Some(command) => Invocation::Micro(command),
            None => return Err(ExitCode::from(2)),
        }
    } else if name == "repl" {
        Invocation::Repl
    } else {
        Invocation::Words(std::iter::once(name.to_owned()).chain(args).collect())
    };
    let node_id = sub
        .get_one::<String>("node-id")
        .cloned()
        .or_else(|| std::env::var("NODEID").ok())
        .filter(|id| !id.is_empty());
    Ok(Cli {
        transporter: text(sub, "transporter"),
        namespace: text(sub, "namespace"),
        node_id,
        protocol: match ProtocolVersion::parse(&text(sub, "protocol")) {
            Some(version) => ProtocolChoice::Fixed(version),
            None => ProtocolChoice::Auto,
        },
        timeout: millis(sub, "timeout"),
        wait: millis(sub, "wait"),
        connect_timeout: millis(sub, "connect-timeout"),
        compact: sub.get_flag("compact"),
        json_errors: sub.get_flag("json") || sub.get_flag("compact"),
        verbose: sub.get_count("verbose"),
        invocation,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        super::command().debug_assert();
    }

    #[test]
    fn global_options_after_the_command_are_caught() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            super::misplaced_global(&words(&["x", "--transporter=redis://h"])),
            Some("--transporter=redis://h")
        );
        assert_eq!(
            super::misplaced_global(&words(&["x", "--compact"])),
            Some("--compact")
        );
        assert_eq!(
            super::misplaced_global(&words(&["x", "--timeout", "5"])),
            None
        );
        assert_eq!(super::misplaced_global(&words(&["--", "-t"])), None);
    }
}

//! Tab completion from the live registry: command names, then action names, node IDs, event
//! names or a command's options, depending on the command and the word's place. After an
//! action name, `--` also completes the action's params (from the `params` it publishes, as
//! `#[action]` does from its params type).

use crate::parse::{find_command, Completes, COMMANDS};
use broker_core::Broker;
use std::collections::{BTreeMap, BTreeSet};

/// What the registry offers for completion right now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) actions: BTreeSet<String>,
    pub(crate) events: BTreeSet<String>,
    pub(crate) nodes: BTreeSet<String>,
    /// The top-level params of each action, from its published `params`.
    pub(crate) params: BTreeMap<String, BTreeSet<String>>,
}

impl Names {
    /// Reads the names from the broker's registry (available nodes only).
    pub(crate) fn of(broker: &Broker) -> Names {
        let mut names = Names::default();
        for node in broker
            .node_list(true, true)
            .into_iter()
            .filter_map(|n| serde_json::to_value(n).ok())
        {
            if let Some(id) = node["id"].as_str() {
                names.nodes.insert(id.to_owned());
            }
            for svc in node["services"].as_array().into_iter().flatten() {
                if let Some(actions) = svc["actions"].as_object() {
                    names.actions.extend(actions.keys().cloned());
                    for (name, def) in actions {
                        // fastest-validator keys starting with `$$` are its options.
                        let keys = def["params"].as_object().into_iter().flatten();
                        let keys = keys.map(|(k, _)| k).filter(|k| !k.starts_with("$$"));
                        let entry = names.params.entry(name.clone()).or_default();
                        entry.extend(keys.cloned());
                    }
                }
                if let Some(events) = svc["events"].as_object() {
                    names.events.extend(events.keys().cloned());
                }
            }
        }
        names
    }
}

/// The candidates for the word ending at the end of `line`, and where that word starts.
/// `names` is only called when the registry is needed.
pub(crate) fn candidates(line: &str, names: impl FnOnce() -> Names) -> (usize, Vec<String>) {
    let start = line.rfind(char::is_whitespace).map_or(0, |i| {
        i + line[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &line[start..];
    let before: Vec<&str> = line[..start].split_whitespace().collect();
    let pick = |options: Vec<String>| -> Vec<String> {
        options
            .into_iter()
            .filter(|o| o.starts_with(word))
            .collect()
    };
    let Some(command) = before.first() else {
        return (
            start,
            pick(COMMANDS.iter().map(|c| c.name.to_owned()).collect()),
        );
    };
    let Some(info) = find_command(command) else {
        return (start, Vec::new());
    };
    if word.starts_with('-') {
        let mut flags: Vec<String> = info
            .spec
            .flags
            .iter()
            .map(|f| format!("--{}", f.long))
            .collect();
        let words: Vec<&str> = before[1..]
            .iter()
            .copied()
            .filter(|w| !w.starts_with('-'))
            .collect();
        let action = match info.completes {
            Completes::Action => words.first(),
            Completes::NodeThenAction => words.get(1),
            _ => None,
        };
        if let Some(action) = action {
            let mut names = names();
            let params = names.params.remove(*action).unwrap_or_default();
            flags.extend(params.into_iter().map(|p| format!("--{p}")));
        }
        return (start, pick(flags));
    }
    // Place of the word among the arguments that are not options.
    let place = before[1..].iter().filter(|w| !w.starts_with('-')).count();
    let list = match (info.completes, place) {
        (Completes::Command, 0) => COMMANDS.iter().map(|c| c.name.to_owned()).collect(),
        (Completes::Action, 0) | (Completes::NodeThenAction, 1) => {
            names().actions.into_iter().collect()
        }
        (Completes::NodeThenAction, 0) => names().nodes.into_iter().collect(),
        (Completes::Event, 0) => names().events.into_iter().collect(),
        _ => Vec::new(),
    };
    (start, pick(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            actions: ["math.add", "math.random", "greeter.hello", "$node.list"]
                .map(String::from)
                .into(),
            events: ["ev_random_number", "user.created"]
                .map(String::from)
                .into(),
            nodes: ["node-1", "js-peer"].map(String::from).into(),
            params: [(
                "greeter.hello".to_owned(),
                ["name", "greeting"].map(String::from).into(),
            )]
            .into(),
        }
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        candidates(line, names)
    }

    #[test]
    fn commands_first() {
        assert_eq!(complete("ca"), (0, vec!["call".to_owned()]));
        assert_eq!(
            complete(""),
            (0, COMMANDS.iter().map(|c| c.name.to_owned()).collect())
        );
        assert_eq!(
            complete("b").1,
            ["broadcast", "broadcastLocal", "bench"].map(String::from)
        );
    }

    #[test]
    fn actions_after_call_and_bench() {
        assert_eq!(
            complete("call ma"),
            (5, vec!["math.add".to_owned(), "math.random".to_owned()])
        );
        assert_eq!(complete("bench  gr"), (7, vec!["greeter.hello".to_owned()]));
        assert!(complete("call math.add ").1.is_empty());
    }

    #[test]
    fn nodes_then_actions_after_dcall() {
        assert_eq!(complete("dcall js"), (6, vec!["js-peer".to_owned()]));
        assert_eq!(
            complete("dcall js-peer math.a"),
            (14, vec!["math.add".to_owned()])
        );
    }

    #[test]
    fn events_options_and_help_topics() {
        assert_eq!(
            complete("emit ev_"),
            (5, vec!["ev_random_number".to_owned()])
        );
        assert_eq!(complete("nodes --d"), (6, vec!["--details".to_owned()]));
        assert_eq!(complete("help di"), (5, vec![]));
        assert_eq!(complete("help dc"), (5, vec!["dcall".to_owned()]));
        assert!(complete("nope x").1.is_empty());
    }

    #[test]
    fn params_of_the_action_after_its_name() {
        let (at, found) = complete("call greeter.hello --n");
        assert_eq!((at, found), (19, vec!["--name".to_owned()]));
        let found = complete("dcall node-1 greeter.hello --").1;
        assert!(found.contains(&"--greeting".to_owned()), "{found:?}");
        assert!(found.contains(&"--name".to_owned()), "{found:?}");
        // An action without published params: only the command's own options.
        let found = complete("call math.add --").1;
        assert!(found.iter().all(|f| f != "--name"), "{found:?}");
    }

    #[test]
    fn the_registry_is_read_only_when_needed() {
        let (_, found) = candidates("he", || panic!("no registry needed for commands"));
        assert_eq!(found, vec!["help".to_owned()]);
    }
}

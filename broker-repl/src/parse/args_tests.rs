use super::*;
use crate::parse::tokens::tokenize;
use serde_json::json;

const LIST: Spec = Spec {
    flags: &[
        Flag {
            long: "all",
            short: Some('a'),
            takes_value: false,
            help: "",
        },
        Flag {
            long: "details",
            short: Some('d'),
            takes_value: false,
            help: "",
        },
        Flag {
            long: "filter",
            short: Some('f'),
            takes_value: true,
            help: "",
        },
    ],
    free_params: false,
    call_options: &[],
};

const CALL: Spec = Spec {
    flags: &[Flag {
        long: "num",
        short: None,
        takes_value: true,
        help: "",
    }],
    free_params: true,
    call_options: &["timeout"],
};

fn parse(line: &str, spec: &Spec) -> Result<Parsed, CommandError> {
    parse_args(&tokenize(line)?, spec)
}

fn params(line: &str) -> Value {
    match parse(line, &CALL) {
        Ok(p) => Value::Object(p.params),
        Err(err) => json!(format!("ERR {err}")),
    }
}

#[test]
fn values_are_coerced_like_yargs() {
    assert_eq!(
        params("--a 5 --b -1.5 --c true --d false --e hello --f 007 --g 0 --h 1e3"),
        json!({"a": 5, "b": -1.5, "c": true, "d": false, "e": "hello", "f": "007", "g": 0, "h": 1000.0})
    );
}

#[test]
fn quoted_values_stay_strings() {
    assert_eq!(
        params(r#"--zip "5" --name 'true' --s "two words""#),
        json!({"zip": "5", "name": "true", "s": "two words"})
    );
}

#[test]
fn dotted_keys_nest_and_repeats_collect() {
    assert_eq!(
        params("--user.name Al --user.age 3 --tag x --tag y --tag z"),
        json!({"user": {"name": "Al", "age": 3}, "tag": ["x", "y", "z"]})
    );
}

#[test]
fn bare_flags_are_true_and_equals_works() {
    assert_eq!(
        params("--verbose --n=4 --obj={\"k\": [1, 2]} --last"),
        json!({"verbose": true, "n": 4, "obj": {"k": [1, 2]}, "last": true})
    );
}

#[test]
fn meta_and_call_options_are_kept_apart() {
    let p = match parse(
        "x --a 1 --#token abc --#user.id 7 --$timeout 250 --num 3",
        &CALL,
    ) {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(Value::Object(p.params.clone()), json!({"a": 1}));
    assert_eq!(
        Value::Object(p.meta.clone()),
        json!({"token": "abc", "user": {"id": 7}})
    );
    assert_eq!(p.call.get("timeout").map(|t| t.text.as_str()), Some("250"));
    assert_eq!(p.value("num"), Some("3"));
    assert_eq!(p.positional, vec![Token::bare("x")]);
}

#[test]
fn unknown_call_option_lists_the_known_ones() {
    let err = parse("--$retries 3", &CALL).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("unknown option --$retries (known: --$timeout)")
    );
}

#[test]
fn short_flags_combine_and_take_values() {
    let p = match parse("-ad -f math.*", &LIST) {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    };
    assert!(p.has("all") && p.has("details"));
    assert_eq!(p.value("filter"), Some("math.*"));
    let p = match parse("--all --filter=x", &LIST) {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    };
    assert!(p.has("all"));
    assert_eq!(p.value("filter"), Some("x"));
}

#[test]
fn list_commands_refuse_unknown_options() {
    let msg = |line: &str| parse(line, &LIST).err().map(|e| e.to_string());
    assert_eq!(msg("-x").as_deref(), Some("unknown option -x"));
    assert_eq!(msg("--nope 1").as_deref(), Some("unknown option --nope"));
    assert_eq!(msg("-f").as_deref(), Some("option --filter needs a value"));
    assert_eq!(
        msg("-fa x").as_deref(),
        Some("option -f needs a value and must come last in -fa")
    );
}

#[test]
fn double_dash_ends_options() {
    let p = match parse("-- --not-an-option", &LIST) {
        Ok(p) => p,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(p.positional, vec![Token::bare("--not-an-option")]);
}

#[test]
fn negative_numbers_are_values() {
    assert_eq!(
        params("--a -3 --b -x"),
        json!({"a": -3, "b": true, "x": true})
    );
}

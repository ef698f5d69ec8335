//! `broker-bench summarize FILE...`: markdown tables of medians (min–max) over runs.
//!
//! Result lines are grouped by scenario and by who called whom: the client implementation
//! (`client_impl`, or `nodejs` when the line carries a `moleculer` version) and the server
//! (`nodejs` / `rust` from `server_client`, `local` for in-process calls, `floor` for raw Redis or NATS).
//! Memory lines (`{"rss_kb": N, "impl": .., "state": ..}`) get a table of their own.

use serde_json::Value;

/// Reads the files and prints the tables on stdout.
pub(crate) fn run(files: &[String]) -> Result<(), String> {
    if files.is_empty() {
        return Err("usage: broker-bench summarize FILE.jsonl...".into());
    }
    let mut rows = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        rows.extend(
            text.lines()
                .filter(|l| l.trim_start().starts_with('{'))
                .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
        );
    }
    print!("{}", render(&rows));
    Ok(())
}

fn client_of(r: &Value) -> &str {
    match r["client_impl"].as_str() {
        Some(c) => c,
        None if r.get("moleculer").is_some() => "nodejs",
        None => "?",
    }
}

fn server_of(r: &Value) -> &str {
    let t = r["transporter"].as_str().unwrap_or_default();
    if t == "none" {
        return "local";
    }
    if t.starts_with("redis-raw") || t.starts_with("nats-raw") {
        return "floor";
    }
    let s = r["server_client"].as_str().unwrap_or_default();
    let s = s.split(' ').next().unwrap_or(s);
    if s == "rust" && r["server_variant"] == "typed" {
        return "rust-typed";
    }
    s
}

/// Median of the values (mean of the middle two for an even count).
pub(crate) fn median(xs: &[f64]) -> Option<f64> {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    match s.len() {
        0 => None,
        n if n % 2 == 1 => Some(s[m]),
        _ => Some((s[m - 1] + s[m]) / 2.0),
    }
}

fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{}", x.round())
    } else {
        format!("{}", (x * 1000.0).round() / 1000.0)
    }
}

/// "median (min–max)", or the single value, or "–".
pub(crate) fn cell(xs: &[f64]) -> String {
    let Some(m) = median(xs) else {
        return "–".into();
    };
    if xs.len() == 1 {
        return fmt(m);
    }
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{} ({}–{})", fmt(m), fmt(min), fmt(max))
}

fn values(rows: &[Value], scenario: &str, client: &str, server: &str, field: &str) -> Vec<f64> {
    rows.iter()
        .filter(|r| r["scenario"] == scenario && client_of(r) == client && server_of(r) == server)
        .filter_map(|r| r[field].as_f64())
        .collect()
}

fn ratio(a: &[f64], b: &[f64]) -> String {
    match (median(a), median(b)) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// The tables as markdown.
pub(crate) fn render(rows: &[Value]) -> String {
    let mut o = String::new();
    // (scenario, floor scenario, metric field, metric label)
    let plan: &[(&str, &str, &str, &str)] = &[
        ("remote_c1", "rs_floor_c1", "rps", "req/s"),
        ("remote_c1", "rs_floor_c1", "p50_ms", "p50 ms"),
        ("remote_c64", "rs_floor_c64", "rps", "req/s"),
        ("remote_c64", "rs_floor_c64", "p50_ms", "p50 ms"),
        ("remote_1kb_c16", "rs_floor_1kb_c16", "rps", "req/s"),
        ("remote_64kb_c16", "rs_floor_64kb_c16", "rps", "req/s"),
        (
            "events",
            "rs_floor_oneway",
            "delivered_per_s",
            "delivered/s",
        ),
        ("events", "rs_floor_oneway", "loss_pct", "loss %"),
        ("local_c1", "", "rps", "req/s"),
        ("local_c64", "", "rps", "req/s"),
    ];
    o.push_str("| scenario | metric | JS→JS | Rust→Rust | JS→Rust | Rust→JS | raw bus floor (Rust) | Rust→Rust ÷ JS→JS | Rust→Rust ÷ floor |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for &(s, floor, field, label) in plan {
        let local = s.starts_with("local_");
        let (js, rs) = if local {
            (
                values(rows, s, "nodejs", "local", field),
                values(rows, s, "rust", "local", field),
            )
        } else {
            (
                values(rows, s, "nodejs", "nodejs", field),
                values(rows, s, "rust", "rust", field),
            )
        };
        let js_rs = values(rows, s, "nodejs", "rust", field);
        let rs_js = values(rows, s, "rust", "nodejs", field);
        let fl = values(rows, floor, "rust", "floor", field);
        if [&js, &rs, &js_rs, &rs_js, &fl].iter().all(|v| v.is_empty()) {
            continue;
        }
        let (r_js, r_fl) = if field == "loss_pct" {
            ("–".into(), "–".into())
        } else {
            (ratio(&rs, &js), ratio(&rs, &fl))
        };
        o.push_str(&format!(
            "| {s} | {label} | {} | {} | {} | {} | {} | {r_js} | {r_fl} |\n",
            cell(&js),
            cell(&rs),
            cell(&js_rs),
            cell(&rs_js),
            cell(&fl)
        ));
    }
    o.push_str(&cpu_table(rows));
    // Memory
    let mem: Vec<&Value> = rows.iter().filter(|r| r["rss_kb"].is_number()).collect();
    if !mem.is_empty() {
        o.push_str("\n| node | state | RSS MiB |\n|---|---|---|\n");
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in &mem {
            let k = (
                r["impl"].as_str().unwrap_or("?").to_owned(),
                r["state"].as_str().unwrap_or("?").to_owned(),
            );
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        for (imp, state) in keys {
            let xs: Vec<f64> = mem
                .iter()
                .filter(|r| r["impl"] == imp.as_str() && r["state"] == state.as_str())
                .filter_map(|r| r["rss_kb"].as_f64())
                .map(|kb| kb / 1024.0)
                .collect();
            o.push_str(&format!("| {imp} | {state} | {} |\n", cell(&xs)));
        }
    }
    o
}

/// CPU µs per request (per event received for `events`) of the server and of the client,
/// from the `server_cpu_us_per_op` / `client_cpu_us_per_op` fields; empty without them.
fn cpu_table(rows: &[Value]) -> String {
    let scenarios = [
        ("remote_c1", "rs_floor_c1"),
        ("remote_c64", "rs_floor_c64"),
        ("remote_1kb_c16", "rs_floor_1kb_c16"),
        ("remote_64kb_c16", "rs_floor_64kb_c16"),
        ("events", "rs_floor_oneway"),
        ("local_c1", ""),
        ("local_c64", ""),
    ];
    // (client, server) pairs, in column order.
    let pairs = [
        ("nodejs", "nodejs"),
        ("nodejs", "rust"),
        ("nodejs", "rust-typed"),
        ("rust", "rust"),
        ("rust", "nodejs"),
    ];
    let mut o = String::from(
        "\n**CPU µs per request** (per event received for `events`; utime+stime from /proc over the measured window)\n\n\
         | scenario | side | JS→JS | JS→Rust | JS→Rust typed | Rust→Rust | Rust→JS | raw bus floor (Rust) | JS→Rust ÷ JS→JS | JS→Rust typed ÷ JS→JS |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut any = false;
    for (s, floor) in scenarios {
        let local = s.starts_with("local_");
        for (side, field) in [
            ("server", "server_cpu_us_per_op"),
            ("client", "client_cpu_us_per_op"),
        ] {
            // A local call has one process: its figure is the client's.
            if local && side == "server" {
                continue;
            }
            let cols: Vec<Vec<f64>> = pairs
                .iter()
                .map(|&(c, srv)| {
                    let srv = if local && c == srv { "local" } else { srv };
                    if local && srv != "local" {
                        return Vec::new();
                    }
                    values(rows, s, c, srv, field)
                })
                .collect();
            let fl = values(rows, floor, "rust", "floor", field);
            if cols.iter().all(Vec::is_empty) && fl.is_empty() {
                continue;
            }
            any = true;
            let cells: Vec<String> = cols.iter().map(|v| cell(v)).collect();
            o.push_str(&format!(
                "| {s} | {side} | {} | {} | {} |\n",
                cells.join(" | "),
                cell(&fl),
                [ratio(&cols[1], &cols[0]), ratio(&cols[2], &cols[0])].join(" | ")
            ));
        }
    }
    if any {
        o
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn medians_and_cells() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(cell(&[1000.0, 900.0, 1200.0]), "1000 (900–1200)");
        assert_eq!(cell(&[0.5]), "0.5");
    }

    #[test]
    fn groups_by_client_and_server() {
        let rows = vec![
            json!({"scenario": "remote_c64", "moleculer": "0.15.2", "transporter": "redis", "server_client": "nodejs 0.15.2", "rps": 8000}),
            json!({"scenario": "remote_c64", "client_impl": "rust", "transporter": "redis", "server_client": "rust 0.1.0", "rps": 40000}),
            json!({"scenario": "rs_floor_c64", "client_impl": "rust", "transporter": "redis-raw-rs", "rps": 50000}),
        ];
        let t = render(&rows);
        assert!(
            t.contains("| remote_c64 | req/s | 8000 | 40000 | – | – | 50000 | 5.00× | 0.80× |"),
            "{t}"
        );
        assert!(!t.contains("CPU µs"), "no CPU fields, no CPU table: {t}");
    }

    #[test]
    fn cpu_per_request_by_client_and_server() {
        let rows = vec![
            json!({"scenario": "remote_c64", "moleculer": "0.15.2", "transporter": "redis", "server_client": "nodejs 0.15.2", "server_cpu_us_per_op": 20.0, "client_cpu_us_per_op": 30.0}),
            json!({"scenario": "remote_c64", "moleculer": "0.15.2", "transporter": "redis", "server_client": "rust 0.1.0", "server_cpu_us_per_op": 10.0, "client_cpu_us_per_op": 31.0}),
            json!({"scenario": "remote_c64", "moleculer": "0.15.2", "transporter": "redis", "server_client": "rust 0.1.0", "server_variant": "typed", "server_cpu_us_per_op": 12.0}),
            json!({"scenario": "local_c64", "client_impl": "rust", "transporter": "none", "server_client": "in-process", "client_cpu_us_per_op": 2.0}),
        ];
        let t = render(&rows);
        assert!(
            t.contains("| remote_c64 | server | 20 | 10 | 12 | – | – | – | 0.50× | 0.60× |"),
            "{t}"
        );
        assert!(
            t.contains("| remote_c64 | client | 30 | 31 | – | – | – | – | 1.03× | – |"),
            "{t}"
        );
        assert!(
            t.contains("| local_c64 | client | – | – | – | 2 | – | – | – | – |"),
            "{t}"
        );
    }
}

//! Gauges computed from state: the broker's, the registry's, transit's, the process' and the
//! OS's. They are read when the metrics are listed (a scrape, `$node.metrics`, a snapshot
//! event), so they are never stale and cost nothing between reads.

use super::names::*;
use super::store::MetricType;
use super::{LabelValue, MetricDef, Metrics};
use crate::broker::{Broker, BrokerConfig, BrokerInner};
use crate::sysinfo;
use serde_json::{json, Value};
use std::sync::{Mutex, Weak};
use std::time::Instant;

fn set(metrics: &Metrics, name: &str, labels: &[LabelValue], value: f64) {
    if let Some(m) = metrics.get(name) {
        m.series(labels).set(value);
    }
}

fn set_info(metrics: &Metrics, name: &str, labels: &[LabelValue], value: Value) {
    if let Some(m) = metrics.get(name) {
        m.series(labels).set_info(value);
    }
}

fn register(
    metrics: &Metrics,
    kind: MetricType,
    name: &str,
    labels: &[&str],
    unit: Option<&str>,
    desc: &str,
) {
    let mut def = MetricDef::new(name)
        .labels(labels.iter().copied())
        .description(desc);
    if let Some(u) = unit {
        def = def.unit(u);
    }
    let _ = metrics.register(kind, def);
}

/// Registers the computed metrics and the collectors that refresh them.
pub(super) fn install(
    metrics: &Metrics,
    weak: Weak<BrokerInner>,
    config: &BrokerConfig,
    process: bool,
) {
    use MetricType::*;
    for (name, desc) in [
        (MOLECULER_REGISTRY_NODES_TOTAL, "Number of registered nodes"),
        (
            MOLECULER_REGISTRY_NODES_ONLINE_TOTAL,
            "Number of online nodes",
        ),
        (
            MOLECULER_REGISTRY_SERVICES_TOTAL,
            "Number of registered services",
        ),
    ] {
        register(metrics, Gauge, name, &[], None, desc);
    }
    register(
        metrics,
        Gauge,
        MOLECULER_REGISTRY_SERVICE_ENDPOINTS_TOTAL,
        &["service"],
        None,
        "Number of service endpoints",
    );
    register(
        metrics,
        Gauge,
        MOLECULER_REGISTRY_ACTIONS_TOTAL,
        &[],
        None,
        "Number of registered actions",
    );
    register(
        metrics,
        Gauge,
        MOLECULER_REGISTRY_ACTION_ENDPOINTS_TOTAL,
        &["action"],
        None,
        "Number of action endpoints",
    );
    register(
        metrics,
        Gauge,
        MOLECULER_REGISTRY_EVENTS_TOTAL,
        &[],
        None,
        "Number of registered events",
    );
    register(
        metrics,
        Gauge,
        MOLECULER_REGISTRY_EVENT_ENDPOINTS_TOTAL,
        &["event"],
        None,
        "Number of event endpoints",
    );
    let middlewares = config.middlewares.len() as f64;
    metrics.add_collector(move |m| {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let broker = Broker { inner };
        broker_state(m, &broker, middlewares);
        registry(m, &broker);
        breakers(m, &broker);
    });
    if process {
        register_process(metrics);
        let cpu = Mutex::new(None);
        let started = Instant::now();
        metrics.add_collector(move |m| process_and_os(m, &cpu, started));
    }
}

fn broker_state(m: &Metrics, broker: &Broker, middlewares: f64) {
    let started = broker.state() == crate::broker::State::Started;
    set(
        m,
        MOLECULER_BROKER_STARTED,
        &[],
        f64::from(u8::from(started)),
    );
    let services = crate::broker::lock(&broker.inner.services).len();
    set(
        m,
        MOLECULER_BROKER_LOCAL_SERVICES_TOTAL,
        &[],
        services as f64,
    );
    set(m, MOLECULER_BROKER_MIDDLEWARES_TOTAL, &[], middlewares);
    if let Some(transit) = &broker.inner.transit {
        set(
            m,
            MOLECULER_TRANSIT_READY,
            &[],
            f64::from(u8::from(started)),
        );
        set(
            m,
            MOLECULER_TRANSIT_CONNECTED,
            &[],
            f64::from(u8::from(started)),
        );
        set(
            m,
            MOLECULER_TRANSIT_REQUESTS_ACTIVE,
            &[],
            transit.pending_count() as f64,
        );
    }
}

fn breakers(m: &Metrics, broker: &Broker) {
    for state in broker.inner.breakers.states() {
        let service = state.action.rsplit_once('.').map_or("", |(s, _)| s);
        let labels = [
            state.node.as_str().into(),
            service.into(),
            state.action.as_str().into(),
        ];
        let flag = |b: bool| f64::from(u8::from(b));
        set(
            m,
            MOLECULER_CIRCUIT_BREAKER_OPENED_ACTIVE,
            &labels,
            flag(state.open),
        );
        set(
            m,
            MOLECULER_CIRCUIT_BREAKER_HALF_OPENED_ACTIVE,
            &labels,
            flag(state.half_open),
        );
        set(
            m,
            MOLECULER_CIRCUIT_BREAKER_OPENED_TOTAL,
            &labels,
            state.opened_total.into(),
        );
    }
}

fn registry(m: &Metrics, broker: &Broker) {
    {
        let state = broker.inner.registry.read();
        set(
            m,
            MOLECULER_REGISTRY_NODES_TOTAL,
            &[],
            state.nodes.len() as f64,
        );
        let online = state.nodes.values().filter(|n| n.available).count();
        set(m, MOLECULER_REGISTRY_NODES_ONLINE_TOTAL, &[], online as f64);
    }
    let services = crate::node_service::services(broker, &json!({"grouping": true}));
    let services = services.as_array().map(Vec::as_slice).unwrap_or_default();
    set(
        m,
        MOLECULER_REGISTRY_SERVICES_TOTAL,
        &[],
        services.len() as f64,
    );
    for svc in services {
        let n = svc["nodes"].as_array().map_or(0, Vec::len);
        let name = svc["fullName"].as_str().unwrap_or_default();
        set(
            m,
            MOLECULER_REGISTRY_SERVICE_ENDPOINTS_TOTAL,
            &[name.into()],
            n as f64,
        );
    }
    let with_endpoints = json!({"withEndpoints": true});
    for (list, total, per_item) in [
        (
            crate::node_service::actions(broker, &with_endpoints),
            MOLECULER_REGISTRY_ACTIONS_TOTAL,
            MOLECULER_REGISTRY_ACTION_ENDPOINTS_TOTAL,
        ),
        (
            crate::node_service::events(broker, &with_endpoints),
            MOLECULER_REGISTRY_EVENTS_TOTAL,
            MOLECULER_REGISTRY_EVENT_ENDPOINTS_TOTAL,
        ),
    ] {
        let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
        set(m, total, &[], items.len() as f64);
        for item in items {
            let n = item["endpoints"].as_array().map_or(0, Vec::len);
            let name = item["name"].as_str().unwrap_or_default();
            set(m, per_item, &[name.into()], n as f64);
        }
    }
}

fn register_process(metrics: &Metrics) {
    use MetricType::*;
    register(
        metrics,
        Info,
        PROCESS_ARGUMENTS,
        &["index"],
        None,
        "Process arguments",
    );
    for (i, arg) in std::env::args().enumerate() {
        set_info(metrics, PROCESS_ARGUMENTS, &[(i as u32).into()], json!(arg));
    }
    register(metrics, Info, PROCESS_PID, &[], None, "Process PID");
    set_info(metrics, PROCESS_PID, &[], json!(std::process::id()));
    register(metrics, Info, PROCESS_PPID, &[], None, "Process parent PID");
    set_info(metrics, PROCESS_PPID, &[], json!(parent_pid()));
    register(
        metrics,
        Gauge,
        PROCESS_MEMORY_RSS,
        &[],
        Some("byte"),
        "Process RSS size",
    );
    register(
        metrics,
        Gauge,
        PROCESS_UPTIME,
        &[],
        Some("second"),
        "Process uptime",
    );
    register(
        metrics,
        Gauge,
        OS_MEMORY_FREE,
        &[],
        Some("byte"),
        "OS free memory size",
    );
    register(
        metrics,
        Gauge,
        OS_MEMORY_USED,
        &[],
        Some("byte"),
        "OS used memory size",
    );
    register(
        metrics,
        Gauge,
        OS_MEMORY_TOTAL,
        &[],
        Some("byte"),
        "OS total memory size",
    );
    register(metrics, Gauge, OS_UPTIME, &[], Some("second"), "OS uptime");
    let infos: [(&str, &str, Value); 5] = [
        (OS_TYPE, "OS type", json!(os_type())),
        (
            OS_RELEASE,
            "OS release",
            json!(read_trim("/proc/sys/kernel/osrelease")),
        ),
        (OS_HOSTNAME, "Hostname", json!(sysinfo::hostname())),
        (OS_ARCH, "OS architecture", json!(node_arch())),
        (OS_PLATFORM, "OS platform", json!(node_platform())),
    ];
    for (name, desc, value) in infos {
        register(metrics, Info, name, &[], None, desc);
        set_info(metrics, name, &[], value);
    }
    let user = user_info();
    for (name, desc, value) in [
        (OS_USER_UID, "UID", user.uid.map_or(json!(-1), |v| json!(v))),
        (OS_USER_GID, "GID", user.gid.map_or(json!(-1), |v| json!(v))),
        (OS_USER_USERNAME, "Username", json!(user.name)),
        (OS_USER_HOMEDIR, "User's home directory", json!(user.home)),
    ] {
        register(metrics, Info, name, &[], None, desc);
        set_info(metrics, name, &[], value);
    }
    register(
        metrics,
        Gauge,
        OS_DATETIME_UNIX,
        &[],
        None,
        "Current datetime in Unix format",
    );
    register(
        metrics,
        Info,
        OS_DATETIME_ISO,
        &[],
        None,
        "Current datetime in ISO string",
    );
    register(
        metrics,
        Info,
        OS_DATETIME_UTC,
        &[],
        None,
        "Current UTC datetime",
    );
    register(
        metrics,
        Gauge,
        OS_DATETIME_TZ_OFFSET,
        &[],
        None,
        "Timezone offset",
    );
    register(metrics, Gauge, OS_CPU_LOAD_1, &[], None, "CPU load1");
    register(metrics, Gauge, OS_CPU_LOAD_5, &[], None, "CPU load5");
    register(metrics, Gauge, OS_CPU_LOAD_15, &[], None, "CPU load15");
    register(
        metrics,
        Gauge,
        OS_CPU_UTILIZATION,
        &[],
        None,
        "CPU utilization",
    );
    register(metrics, Gauge, OS_CPU_USER, &[], None, "CPU user time");
    register(metrics, Gauge, OS_CPU_SYSTEM, &[], None, "CPU system time");
    register(
        metrics,
        Gauge,
        OS_CPU_TOTAL,
        &[],
        Some("cpu"),
        "Number of CPUs",
    );
}

fn process_and_os(m: &Metrics, last_cpu: &Mutex<Option<(u64, u64)>>, started: Instant) {
    set(m, PROCESS_MEMORY_RSS, &[], sysinfo::rss() as f64);
    set(
        m,
        PROCESS_UPTIME,
        &[],
        process_uptime().unwrap_or_else(|| started.elapsed().as_secs_f64()),
    );
    let (free, total) = sysinfo::memory();
    set(m, OS_MEMORY_FREE, &[], free as f64);
    set(m, OS_MEMORY_USED, &[], total.saturating_sub(free) as f64);
    set(m, OS_MEMORY_TOTAL, &[], total as f64);
    set(m, OS_UPTIME, &[], sysinfo::uptime());
    let now = super::store::now_ms();
    set(m, OS_DATETIME_UNIX, &[], now as f64);
    set_info(m, OS_DATETIME_ISO, &[], json!(iso_date(now)));
    set_info(m, OS_DATETIME_UTC, &[], json!(utc_string(now)));
    set(m, OS_DATETIME_TZ_OFFSET, &[], 0.0);
    let [l1, l5, l15] = sysinfo::load_average();
    set(m, OS_CPU_LOAD_1, &[], l1);
    set(m, OS_CPU_LOAD_5, &[], l5);
    set(m, OS_CPU_LOAD_15, &[], l15);
    if let Some((busy, total)) = sysinfo::read_cpu() {
        let mut last = match last_cpu.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let usage = match *last {
            Some((b, t)) if total > t => busy.saturating_sub(b) as f64 * 100.0 / (total - t) as f64,
            _ => 0.0,
        };
        *last = Some((busy, total));
        set(m, OS_CPU_UTILIZATION, &[], usage.clamp(0.0, 100.0).round());
    }
    if let Some((user, system)) = cpu_times_ms() {
        set(m, OS_CPU_USER, &[], user);
        set(m, OS_CPU_SYSTEM, &[], system);
    }
    set(m, OS_CPU_TOTAL, &[], sysinfo::cores() as f64);
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Node's `os.type()`.
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows_NT",
        other => other,
    }
}

/// Node's `os.platform()`.
fn node_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// Node's `os.arch()`.
fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "x86" => "ia32",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        other => other,
    }
}

fn parent_pid() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Seconds since this process started, from `/proc/self/stat` and the system uptime.
fn process_uptime() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // starttime is field 22; `rest` starts at field 3.
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    Some((sysinfo::uptime() - start_ticks / 100.0).max(0.0))
}

/// Total user and system CPU time of all cores in ms, as Node sums `os.cpus()[i].times`.
fn cpu_times_ms() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    Some((fields.first()? * 10.0, fields.get(2)? * 10.0))
}

struct UserInfo {
    uid: Option<u32>,
    gid: Option<u32>,
    name: Value,
    home: Value,
}

fn user_info() -> UserInfo {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let id = |key: &str| -> Option<u32> {
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let uid = id("Uid:");
    let gid = id("Gid:");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = uid.and_then(|uid| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
                .then(|| (f[0].to_owned(), f[5].to_owned()))
        })
    });
    let (name, home) = match entry {
        Some((n, h)) => (json!(n), json!(h)),
        None => (
            std::env::var("USER").map_or(Value::Null, |u| json!(u)),
            std::env::var("HOME").map_or(Value::Null, |h| json!(h)),
        ),
    };
    UserInfo {
        uid,
        gid,
        name,
        home,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    weekday: usize,
    h: u64,
    min: u64,
    s: u64,
    ms: u64,
}

fn parts(now_ms: u64) -> Parts {
    let secs = now_ms / 1000;
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        // 1970-01-01 was a Thursday.
        weekday: ((days + 4).rem_euclid(7)) as usize,
        h: rem / 3600,
        min: rem % 3600 / 60,
        s: rem % 60,
        ms: now_ms % 1000,
    }
}

/// JS's `toISOString()`: `2026-12-01T13:49:00.000Z`.
fn iso_date(now_ms: u64) -> String {
    let p = parts(now_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.h, p.min, p.s, p.ms
    )
}

/// JS's `toUTCString()`: `Tue, 01 Dec 2026 13:49:00 GMT`.
fn utc_string(now_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(now_ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[p.weekday],
        p.day,
        MONTHS[(p.month as usize).saturating_sub(1).min(11)],
        p.year,
        p.h,
        p.min,
        p.s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_js_writes_them() {
        // new Date(1796132940123).toISOString() / .toUTCString()
        assert_eq!(iso_date(1_796_132_940_123), "2026-12-01T13:49:00.123Z");
        assert_eq!(
            utc_string(1_796_132_940_123),
            "Tue, 01 Dec 2026 13:49:00 GMT"
        );
        assert_eq!(iso_date(0), "1970-01-01T00:00:00.000Z");
    }
}

//! Host facts that INFO, HEARTBEAT and `$node.health` report, read from `/proc` on Linux with
//! harmless fallbacks elsewhere.

use std::sync::Mutex;

/// The host name.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The node's IPv4 addresses, external ones first, falling back to loopback (as Moleculer).
pub(crate) fn ip_list() -> Vec<String> {
    let mut ips: Vec<String> = Vec::new();
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let lines: Vec<&str> = trie.lines().collect();
        for pair in lines.windows(2) {
            if pair[1].contains("/32 host LOCAL") {
                let ip = pair[0].trim().trim_start_matches("|-- ").trim().to_owned();
                if !ip.starts_with("127.") && !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
        }
    }
    if ips.is_empty() {
        ips.push("127.0.0.1".to_owned());
    }
    ips
}

static LAST_CPU: Mutex<Option<(u64, u64)>> = Mutex::new(None);

/// System CPU usage in percent since the previous call (0 on the first call or off Linux).
pub(crate) fn cpu_usage() -> f64 {
    let Some((busy, total)) = read_cpu() else {
        return 0.0;
    };
    let mut last = match LAST_CPU.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let usage = match *last {
        Some((b, t)) if total > t => (busy.saturating_sub(b)) as f64 * 100.0 / (total - t) as f64,
        _ => 0.0,
    };
    *last = Some((busy, total));
    usage.clamp(0.0, 100.0)
}

pub(crate) fn read_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Load averages (1, 5, 15 minutes).
pub(crate) fn load_average() -> [f64; 3] {
    let mut out = [0.0; 3];
    if let Ok(s) = std::fs::read_to_string("/proc/loadavg") {
        for (slot, v) in out.iter_mut().zip(s.split_whitespace()) {
            *slot = v.parse().unwrap_or(0.0);
        }
    }
    out
}

/// (free, total) memory in bytes.
pub(crate) fn memory() -> (u64, u64) {
    let mut free = 0;
    let mut total = 0;
    if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
        for line in s.lines() {
            let kb = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    * 1024
            };
            if line.starts_with("MemTotal:") {
                total = kb(line);
            } else if line.starts_with("MemAvailable:") {
                free = kb(line);
            }
        }
    }
    (free, total)
}

/// Resident set size of this process in bytes.
pub(crate) fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// System uptime in seconds.
pub(crate) fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Number of CPU cores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

//! What an MQTT transporter is configured with: the server's URL as Moleculer.js takes it
//! (`mqtt://user:password@host:1883`, `mqtts://…` for TLS) and the options of Moleculer's MQTT
//! transporter (`qos`, `topicSeparator`), from the URL's query or the builder.

use broker_core::Error;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The quality of service every publish and subscription of the transporter uses (Moleculer's
/// `qos` option; 0 by default, as in Moleculer.js).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Qos {
    /// QoS 0: at most once, no acknowledgement.
    #[default]
    AtMostOnce,
    /// QoS 1: at least once, acknowledged by the server.
    AtLeastOnce,
    /// QoS 2: exactly once, a four-way handshake with the server.
    ExactlyOnce,
}

impl Qos {
    /// The level as MQTT numbers it (0, 1, 2).
    pub fn level(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        }
    }

    /// The QoS of a level 0, 1 or 2.
    pub fn from_level(level: u8) -> Option<Qos> {
        match level {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            2 => Some(Qos::ExactlyOnce),
            _ => None,
        }
    }

    pub(crate) fn to_rumqttc(self) -> rumqttc::QoS {
        match self {
            Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
            Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
            Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
        }
    }
}

impl fmt::Display for Qos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.level())
    }
}

/// The largest remaining length an MQTT 3.1.1 packet can declare (256 MiB − 1).
pub(crate) const MQTT_MAX_PACKET: usize = 268_435_455;

/// The knobs, set from the URL query and the builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) qos: Qos,
    pub(crate) topic_separator: String,
    pub(crate) keep_alive: Duration,
    pub(crate) max_packet_size: usize,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    pub(crate) command_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            qos: Qos::AtMostOnce,
            topic_separator: ".".to_owned(),
            // mqtt.js's default keepalive.
            keep_alive: Duration::from_secs(60),
            max_packet_size: MQTT_MAX_PACKET,
            backoff_base: Duration::from_millis(100),
            // mqtt.js retries every second (`reconnectPeriod`); never wait longer than that.
            backoff_cap: Duration::from_secs(1),
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// TLS files set with the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsFiles {
    pub(crate) root_certificates: Vec<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
}

/// The parsed server URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
    pub(crate) credentials: Option<(String, String)>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Endpoint {
    /// `mqtt://user:***@host:1883`: what a person may see.
    pub(crate) fn describe(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = match &self.credentials {
            Some((user, _)) => format!("{user}:***@"),
            None => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}", self.port)
    }
}

/// The query keys the URL may carry, as Moleculer's and mqtt.js's options name them.
const QUERY_KEYS: &[&str] = &["qos", "topicSeparator", "keepalive"];

/// Parses `mqtt://[user[:password]@]host[:port][/][?qos=1&topicSeparator=/&keepalive=60]`
/// (`mqtts://` for TLS, default ports 1883 and 8883), applying the query to `settings`.
pub(crate) fn parse_url(url: &str, settings: &mut Settings) -> Result<Endpoint, Error> {
    let bad =
        |why: &str| Error::broker_options(format!("invalid MQTT URL `{}`: {why}", redact(url)));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected mqtt://host:port or mqtts://host:port"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" | "tls" => true,
        _ => return Err(bad("the scheme must be mqtt:// or mqtts://")),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = match rest.split_once('/') {
        Some((authority, "")) => authority,
        Some(_) => return Err(bad("an MQTT URL has no path")),
        None => rest,
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let credentials = userinfo.map(|info| match info.split_once(':') {
        Some((user, pass)) => (decode(user), decode(pass)),
        None => (decode(info), String::new()),
    });
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed `[` in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(bad("unexpected text after the host")),
        };
        (host.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (hostport.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        None => default_port,
    };
    if let Some(query) = query {
        apply_query(query, settings).map_err(|why| bad(&why))?;
    }
    Ok(Endpoint {
        host,
        port,
        tls,
        credentials,
    })
}

/// Applies `qos=…&topicSeparator=…&keepalive=…`; an unknown key lists the known ones.
fn apply_query(query: &str, settings: &mut Settings) -> Result<(), String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        match key {
            "qos" => {
                settings.qos = value
                    .parse::<u8>()
                    .ok()
                    .and_then(Qos::from_level)
                    .ok_or_else(|| format!("qos must be 0, 1 or 2, not `{value}`"))?;
            }
            "topicSeparator" => {
                check_separator(&value)?;
                settings.topic_separator = value;
            }
            "keepalive" => {
                let secs = value.parse::<u16>().map_err(|_| {
                    format!("keepalive must be whole seconds (0 to 65535), not `{value}`")
                })?;
                settings.keep_alive = Duration::from_secs(u64::from(secs));
            }
            other => {
                return Err(format!(
                    "unknown option `{other}` (known: {})",
                    QUERY_KEYS.join(", ")
                ))
            }
        }
    }
    Ok(())
}

/// A separator must be non-empty and cannot hold MQTT's wildcards.
pub(crate) fn check_separator(separator: &str) -> Result<(), String> {
    if separator.is_empty() {
        return Err("topicSeparator cannot be empty".to_owned());
    }
    if separator.contains(['+', '#', '\0']) {
        return Err(format!(
            "topicSeparator `{separator}` holds an MQTT wildcard (`+`, `#`) or NUL"
        ));
    }
    Ok(())
}

/// Percent-decodes a URL part (`p%40ss` → `p@ss`); malformed escapes stay as given.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A URL as an error message may show it: anything before `@` hidden.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        (None, Some((_, host))) => format!("***@{host}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::ErrorKind;

    fn parse(url: &str) -> Result<(Endpoint, Settings), Error> {
        let mut settings = Settings::default();
        let endpoint = parse_url(url, &mut settings)?;
        Ok((endpoint, settings))
    }

    #[test]
    fn urls_as_moleculer_takes_them() {
        let (e, s) = parse("mqtt://127.0.0.1:1883").expect("plain");
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 1883, false));
        assert_eq!(e.credentials, None);
        assert_eq!(s.qos, Qos::AtMostOnce);
        assert_eq!(s.topic_separator, ".");
        let (e, _) = parse("mqtts://bob:p%40ss@broker.example").expect("tls");
        assert_eq!((e.port, e.tls), (8883, true));
        assert_eq!(e.credentials, Some(("bob".into(), "p@ss".into())));
        assert_eq!(e.describe(), "mqtts://bob:***@broker.example:8883");
        let (e, _) = parse("mqtt://user@[::1]:1999/").expect("v6, user only");
        assert_eq!((e.host.as_str(), e.port), ("::1", 1999));
        assert_eq!(e.credentials, Some(("user".into(), String::new())));
        assert_eq!(e.describe(), "mqtt://user:***@[::1]:1999");
        let (e, _) = parse("mqtt://host").expect("default port");
        assert_eq!(e.port, 1883);
    }

    #[test]
    fn the_query_sets_moleculers_options() {
        let (_, s) = parse("mqtt://h:1883?qos=2&topicSeparator=%2F&keepalive=30").expect("ok");
        assert_eq!(s.qos, Qos::ExactlyOnce);
        assert_eq!(s.topic_separator, "/");
        assert_eq!(s.keep_alive, Duration::from_secs(30));
        let (_, s) = parse("mqtt://h?topicSeparator=/&qos=1").expect("unescaped slash");
        assert_eq!((s.qos, s.topic_separator.as_str()), (Qos::AtLeastOnce, "/"));
    }

    #[test]
    fn bad_urls_are_options_errors_without_secrets() {
        for url in [
            "",
            "127.0.0.1:1883",
            "amqp://h",
            "mqtt://",
            "mqtt://:pw@:1883",
            "mqtt://u:pw@h:0",
            "mqtt://u:pw@h:99999",
            "mqtt://u:pw@h/path",
            "mqtt://u:pw@h?qos=3",
            "mqtt://u:pw@h?topicSeparator=",
            "mqtt://u:pw@h?topicSeparator=%23",
            "mqtt://u:pw@h?keepalive=-1",
            "mqtt://u:pw@h?retain=true",
            "mqtt://u:pw@[::1",
        ] {
            let err = parse(url).err().unwrap_or_else(|| panic!("{url} parsed"));
            assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{url}");
            assert!(!err.message().contains("pw"), "{err}");
        }
        let err = parse("mqtt://h?retain=true").expect_err("unknown key");
        assert!(
            err.message().contains("qos, topicSeparator, keepalive"),
            "{err}"
        );
    }

    #[test]
    fn decoding_leaves_malformed_escapes() {
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("a%2F"), "a/");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}

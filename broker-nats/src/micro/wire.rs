//! The JSON bodies of `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (ADR-32, schemas
//! `io.nats.micro.v1.*_response`) and the error headers, shared by the exposer that answers
//! them and the [`MicroClient`](super::MicroClient) that reads other services' answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The `type` of a PING answer.
pub const PING_RESPONSE_TYPE: &str = "io.nats.micro.v1.ping_response";
/// The `type` of an INFO answer.
pub const INFO_RESPONSE_TYPE: &str = "io.nats.micro.v1.info_response";
/// The `type` of a STATS answer.
pub const STATS_RESPONSE_TYPE: &str = "io.nats.micro.v1.stats_response";
/// The header carrying an error's description.
pub const SERVICE_ERROR_HEADER: &str = "Nats-Service-Error";
/// The header carrying an error's code (a number, HTTP-like).
pub const SERVICE_ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";
/// The default prefix of the verb subjects.
pub const DEFAULT_API_PREFIX: &str = "$SRV";
/// The default queue group of endpoints.
pub const DEFAULT_QUEUE_GROUP: &str = "q";

/// Service or endpoint metadata: strings to strings (ADR-32), sorted by key.
pub type Metadata = BTreeMap<String, String>;

/// The verbs of the service API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Discovery and round-trip time.
    Ping,
    /// Description and endpoints.
    Info,
    /// Per-endpoint statistics.
    Stats,
}

impl Verb {
    /// `PING`, `INFO` or `STATS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }

    /// The `type` its answers carry.
    pub fn response_type(self) -> &'static str {
        match self {
            Verb::Ping => PING_RESPONSE_TYPE,
            Verb::Info => INFO_RESPONSE_TYPE,
            Verb::Stats => STATS_RESPONSE_TYPE,
        }
    }

    /// `<prefix>.<VERB>`, `<prefix>.<VERB>.<name>` or `<prefix>.<VERB>.<name>.<id>` (an id
    /// without a name is ignored: that subject does not exist).
    pub fn subject(self, prefix: &str, name: Option<&str>, id: Option<&str>) -> String {
        match (name, id) {
            (Some(name), Some(id)) => format!("{prefix}.{}.{name}.{id}", self.as_str()),
            (Some(name), None) => format!("{prefix}.{}.{name}", self.as_str()),
            (None, _) => format!("{prefix}.{}", self.as_str()),
        }
    }
}

/// The answer to PING: who is there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingResponse {
    /// [`PING_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name (its kind, shared by its instances).
    pub name: String,
    /// The instance's id.
    pub id: String,
    /// Its version (SemVer).
    pub version: String,
    /// Its metadata (`null` from some implementations).
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// The answer to INFO: the service and its endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// [`INFO_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name.
    pub name: String,
    /// The instance's id.
    pub id: String,
    /// Its version (SemVer).
    pub version: String,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// What it does (`""` when unset).
    #[serde(default)]
    pub description: String,
    /// Its endpoints.
    #[serde(default)]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint in an INFO answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint's name.
    pub name: String,
    /// The subject it listens on (group prefix included).
    pub subject: String,
    /// Its queue group (`""` when it has none: every instance gets every request).
    #[serde(default)]
    pub queue_group: String,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// The answer to STATS: per-endpoint counters since the instance started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// [`STATS_RESPONSE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The service's name.
    pub name: String,
    /// The instance's id.
    pub id: String,
    /// Its version (SemVer).
    pub version: String,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// When it started, RFC 3339.
    pub started: String,
    /// Its endpoints' statistics.
    #[serde(default)]
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint's statistics in a STATS answer; times in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint's name.
    pub name: String,
    /// The subject it listens on.
    pub subject: String,
    /// Its queue group (`""`: none).
    #[serde(default)]
    pub queue_group: String,
    /// Requests handled.
    pub num_requests: u64,
    /// Requests answered with an error.
    pub num_errors: u64,
    /// The last error, `"<code>:<description>"` here (`""`: none).
    #[serde(default)]
    pub last_error: String,
    /// Total time spent handling requests, in nanoseconds.
    pub processing_time: u64,
    /// `processing_time / num_requests`, in nanoseconds.
    pub average_processing_time: u64,
    /// Extra statistics of the endpoint, when its service publishes some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_subjects_follow_adr32() {
        assert_eq!(Verb::Ping.subject("$SRV", None, None), "$SRV.PING");
        assert_eq!(
            Verb::Info.subject("$SRV", Some("math"), None),
            "$SRV.INFO.math"
        );
        assert_eq!(
            Verb::Stats.subject("$SRV", Some("math"), Some("abc")),
            "$SRV.STATS.math.abc"
        );
        // An id without a name is no subject of the API: the id is ignored.
        assert_eq!(Verb::Ping.subject("$SRV", None, Some("abc")), "$SRV.PING");
        assert_eq!(Verb::Ping.subject("$X.Y", Some("a"), None), "$X.Y.PING.a");
    }

    #[test]
    fn answers_of_other_implementations_parse() {
        // As nats.js sends a STATS answer: no `last_error` until an error, `data` absent.
        let stats: StatsResponse = serde_json::from_value(serde_json::json!({
            "type": STATS_RESPONSE_TYPE, "name": "svc", "id": "X1", "version": "1.0.0",
            "metadata": null, "started": "2026-01-01T00:00:00.000Z",
            "endpoints": [{"name": "e", "subject": "s.e", "queue_group": "q", "num_requests": 2,
                "num_errors": 0, "processing_time": 10, "average_processing_time": 5}]
        }))
        .expect("parses");
        assert_eq!(stats.metadata, None);
        assert_eq!(stats.endpoints[0].last_error, "");
        assert_eq!(stats.endpoints[0].num_requests, 2);
    }
}

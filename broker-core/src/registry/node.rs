//! One node of the cluster as the registry keeps it.

use crate::packet::{ClientInfo, InfoPacket, JsonMap, ServiceInfo};
use crate::util::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) instance_id: String,
    pub(crate) available: bool,
    pub(crate) local: bool,
    pub(crate) last_heartbeat: Instant,
    pub(crate) last_heartbeat_ms: i64,
    pub(crate) offline_since: Option<i64>,
    pub(crate) cpu: Option<f64>,
    pub(crate) cpu_seq: u64,
    /// Average ping round trip, when latency is measured.
    pub(crate) latency: Option<std::time::Duration>,
    /// The last few ping round trips (Moleculer averages 5).
    pub(crate) latency_samples: Vec<std::time::Duration>,
    pub(crate) seq: u64,
    pub(crate) client: ClientInfo,
    pub(crate) ip_list: Vec<String>,
    pub(crate) hostname: String,
    pub(crate) metadata: JsonMap,
    pub(crate) config: JsonMap,
    pub(crate) services: Vec<ServiceInfo>,
}

impl Node {
    pub(crate) fn local(
        id: &str,
        instance_id: &str,
        client: ClientInfo,
        hostname: String,
        ip_list: Vec<String>,
        metadata: JsonMap,
    ) -> Node {
        Node {
            id: id.to_owned(),
            instance_id: instance_id.to_owned(),
            available: true,
            local: true,
            last_heartbeat: Instant::now(),
            last_heartbeat_ms: now_ms(),
            offline_since: None,
            cpu: None,
            cpu_seq: 0,
            latency: None,
            latency_samples: Vec::new(),
            seq: 1,
            client,
            ip_list,
            hostname,
            metadata,
            config: JsonMap::new(),
            services: Vec::new(),
        }
    }

    pub(crate) fn from_info(info: &InfoPacket) -> Node {
        let mut node = Node {
            id: info.sender.clone(),
            instance_id: String::new(),
            available: true,
            local: false,
            last_heartbeat: Instant::now(),
            last_heartbeat_ms: now_ms(),
            offline_since: None,
            cpu: None,
            cpu_seq: 0,
            latency: None,
            latency_samples: Vec::new(),
            seq: 0,
            client: ClientInfo::default(),
            ip_list: Vec::new(),
            hostname: String::new(),
            metadata: JsonMap::new(),
            config: JsonMap::new(),
            services: Vec::new(),
        };
        node.update_from_info(info, true);
        node
    }

    pub(crate) fn update_from_info(&mut self, info: &InfoPacket, revive: bool) {
        if revive && !self.available {
            self.available = true;
            self.offline_since = None;
            self.last_heartbeat = Instant::now();
            self.last_heartbeat_ms = now_ms();
        }
        self.instance_id = info.instance_id.clone();
        self.client = info.client.clone();
        self.ip_list = info.ip_list.clone();
        self.hostname = info.hostname.clone();
        self.metadata = info.metadata.clone();
        self.config = info.config.clone();
    }

    pub(crate) fn heartbeat(&mut self, cpu: Option<f64>) {
        self.last_heartbeat = Instant::now();
        self.last_heartbeat_ms = now_ms();
        if let Some(cpu) = cpu {
            self.cpu = Some(cpu);
            self.cpu_seq += 1;
        }
    }

    pub(crate) fn record_latency(&mut self, sample: std::time::Duration) {
        const KEEP: usize = 5;
        if self.latency_samples.len() == KEEP {
            self.latency_samples.remove(0);
        }
        self.latency_samples.push(sample);
        let total: std::time::Duration = self.latency_samples.iter().sum();
        self.latency = Some(total / self.latency_samples.len() as u32);
    }

    pub(crate) fn mark_offline(&mut self) {
        self.available = false;
        self.offline_since = Some(now_ms());
        self.seq += 1;
        self.services.clear();
    }

    /// This node as `$node.list` shows it.
    pub(crate) fn to_record(&self, with_services: bool) -> NodeRecord {
        NodeRecord {
            id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            available: self.available,
            local: self.local,
            last_heartbeat_time: self.last_heartbeat_ms,
            config: self.config.clone(),
            client: self.client.clone(),
            metadata: self.metadata.clone(),
            ip_list: self.ip_list.clone(),
            port: None,
            hostname: self.hostname.clone(),
            udp_address: None,
            cpu: self.cpu,
            cpu_seq: self.cpu_seq,
            seq: self.seq,
            offline_since: self.offline_since,
            services: with_services.then(|| self.services.clone()),
        }
    }

    /// The JSON `$node.list` returns for a node (and `$node.connected` carries).
    pub(crate) fn to_list_entry(&self, with_services: bool) -> Value {
        serde_json::to_value(self.to_record(with_services)).unwrap_or(Value::Null)
    }
}

/// A node of the cluster as [`Broker::node_list`](crate::Broker::node_list) and `$node.list`
/// give it; it serializes to Moleculer's JSON shape (`instanceID`, `lastHeartbeatTime`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    /// The node ID.
    pub id: String,
    /// The ID of the node's current process (new on every restart).
    #[serde(rename = "instanceID", default)]
    pub instance_id: String,
    /// Whether the node is online.
    pub available: bool,
    /// Whether it is this node.
    pub local: bool,
    /// When its last heartbeat arrived (ms since the epoch).
    #[serde(default)]
    pub last_heartbeat_time: i64,
    /// The configuration it announced.
    #[serde(default)]
    pub config: JsonMap,
    /// Its framework and runtime (`type`, `version`, `langVersion`).
    #[serde(default)]
    pub client: ClientInfo,
    /// Its metadata.
    #[serde(default)]
    pub metadata: JsonMap,
    /// Its IP addresses.
    #[serde(default)]
    pub ip_list: Vec<String>,
    /// Its UDP discovery port (always `null`: no UDP discovery here).
    #[serde(default)]
    pub port: Option<u16>,
    /// Its host name.
    #[serde(default)]
    pub hostname: String,
    /// Its UDP discovery address (always `null`).
    #[serde(default)]
    pub udp_address: Option<String>,
    /// Its last reported CPU usage in percent.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// How many CPU reports came.
    #[serde(default)]
    pub cpu_seq: u64,
    /// The revision of its service list.
    #[serde(default)]
    pub seq: u64,
    /// When it went offline (ms since the epoch), if it is offline.
    #[serde(default)]
    pub offline_since: Option<i64>,
    /// Its services, when asked for (`withServices`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceInfo>>,
}

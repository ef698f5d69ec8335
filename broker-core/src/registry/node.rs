//! One node of the cluster as the registry keeps it.

use crate::packet::{ClientInfo, InfoPacket, JsonMap, ServiceInfo};
use crate::util::now_ms;
use serde_json::{json, Value};
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

    /// The shape `$node.list` returns for a node.
    pub(crate) fn to_list_entry(&self, with_services: bool) -> Value {
        let mut entry = json!({
            "id": self.id,
            "instanceID": self.instance_id,
            "available": self.available,
            "local": self.local,
            "lastHeartbeatTime": self.last_heartbeat_ms,
            "config": self.config,
            "client": self.client,
            "metadata": self.metadata,
            "ipList": self.ip_list,
            "port": null,
            "hostname": self.hostname,
            "udpAddress": null,
            "cpu": self.cpu,
            "cpuSeq": self.cpu_seq,
            "seq": self.seq,
            "offlineSince": self.offline_since,
        });
        if with_services {
            entry["services"] = json!(self.services);
        }
        entry
    }
}

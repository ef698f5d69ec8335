//! `--protocol auto`: before the node joins, a throwaway connection asks the bus who is there
//! and which protocol version they speak ("4": Moleculer.js 0.14, "5": 0.15).
//!
//! A node drops every packet whose `ver` is not its own, and a Moleculer.js node logs each one
//! as a `ProtocolVersionMismatchError`. So the probe asks in stages: a DISCOVER of version 5
//! (the current release) first; only when no node of version 5 answers does it send a DISCOVER
//! of version 4. A 0.15 cluster never sees a packet of the wrong version; a 0.14 cluster sees one
//! per run, which `--protocol 4` avoids. Meanwhile it listens to whatever the bus carries
//! (INFO, HEARTBEAT), so nodes of the other version that speak up are heard too. It reads the
//! `ver` of INFO and HEARTBEAT packets only: a DISCOVER proves nothing, since other probes send
//! them.

use broker_core::packet::PacketType;
use broker_core::transporter::{Bytes, Topic, TransportEvent, TransportSetup};
use broker_core::{Error, ProtocolVersion, Transporter};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The longest the probe listens when nobody answers (both stages together).
pub(crate) const WINDOW: Duration = Duration::from_millis(1500);

/// After the first answer, how much longer the probe listens for nodes of the other version.
const GRACE: Duration = Duration::from_millis(250);

/// What the probe heard: node IDs by the protocol version they spoke.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Heard {
    pub(crate) by_version: BTreeMap<String, BTreeSet<String>>,
}

impl Heard {
    fn nodes_of(&self, version: ProtocolVersion) -> Option<&BTreeSet<String>> {
        self.by_version.get(version.as_str())
    }

    /// The version to speak: the one heard, the newer when both were heard, "5" when none.
    pub(crate) fn choice(&self) -> ProtocolVersion {
        match (
            self.nodes_of(ProtocolVersion::V4),
            self.nodes_of(ProtocolVersion::V5),
        ) {
            (Some(_), None) => ProtocolVersion::V4,
            _ => ProtocolVersion::V5,
        }
    }

    /// A warning for a person when nodes of both versions are on the bus.
    pub(crate) fn mixed_warning(&self) -> Option<String> {
        let old = self.nodes_of(ProtocolVersion::V4)?;
        let new = self.nodes_of(ProtocolVersion::V5)?;
        let list = |nodes: &BTreeSet<String>| nodes.iter().cloned().collect::<Vec<_>>().join(", ");
        Some(format!(
            "warning: nodes of both protocol versions are on the bus: protocol 4 (Moleculer 0.14): \
             {}; protocol 5 (Moleculer 0.15): {}. Speaking 5, the newer; pass --protocol 4 \
             (or MOLECULER_PROTOCOL=4) to reach the others.",
            list(old),
            list(new)
        ))
    }

    fn record(&mut self, payload: &[u8], own_id: &str) -> bool {
        let Ok(packet) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return false;
        };
        let (Some(ver), Some(sender)) = (packet["ver"].as_str(), packet["sender"].as_str()) else {
            return false;
        };
        if sender == own_id || ProtocolVersion::parse(ver).is_none() {
            return false;
        }
        self.by_version
            .entry(ver.to_owned())
            .or_default()
            .insert(sender.to_owned());
        true
    }
}

impl std::fmt::Display for Heard {
    /// `protocol 4: a, b; protocol 5: c`, or `nobody`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.by_version.is_empty() {
            return f.write_str("nobody");
        }
        let parts: Vec<String> = self
            .by_version
            .iter()
            .map(|(ver, nodes)| {
                let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
                format!("protocol {ver}: {}", nodes.join(", "))
            })
            .collect();
        f.write_str(&parts.join("; "))
    }
}

/// A node ID no real node has: the probe must not be mistaken for one.
fn probe_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("broker-cli-probe-{}-{nanos:08x}", std::process::id())
}

/// Connects `transporter` under a throwaway node ID, asks who is there (version 5 first, then
/// version 4 if no node of version 5 answered within half the window), listens for at most
/// `window` (less once someone answered), and disconnects.
pub(crate) async fn listen(
    transporter: Arc<dyn Transporter>,
    namespace: &str,
    window: Duration,
) -> Result<Heard, Error> {
    let setup = TransportSetup {
        namespace: namespace.to_owned(),
        node_id: probe_id(),
    };
    let mut events = transporter.connect(&setup).await?;
    let heard = async {
        transporter
            .subscribe(&[
                Topic::broadcast(PacketType::Info),
                Topic::targeted(PacketType::Info, setup.node_id.clone()),
                Topic::broadcast(PacketType::Heartbeat),
            ])
            .await?;
        let start = Instant::now();
        let mut heard = Heard::default();
        for (version, until) in [
            (ProtocolVersion::V5, start + window / 2),
            (ProtocolVersion::V4, start + window),
        ] {
            if heard.nodes_of(ProtocolVersion::V5).is_some() {
                break;
            }
            let discover = serde_json::json!({"ver": version.as_str(), "sender": setup.node_id});
            transporter.publish(
                &Topic::broadcast(PacketType::Discover),
                Bytes::from(discover.to_string()),
            )?;
            let mut deadline = until;
            loop {
                let event = match tokio::time::timeout_at(deadline, events.recv()).await {
                    Ok(Some(event)) => event,
                    Ok(None) | Err(_) => break,
                };
                if let TransportEvent::Message {
                    packet_type: PacketType::Info | PacketType::Heartbeat,
                    payload,
                } = event
                {
                    let first = heard.by_version.is_empty();
                    if heard.record(&payload, &setup.node_id) && first {
                        deadline = deadline.min(Instant::now() + GRACE);
                    }
                }
            }
        }
        Ok::<_, Error>(heard)
    }
    .await;
    let _ = transporter.disconnect().await;
    heard
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(pairs: &[(&str, &str)]) -> Heard {
        let mut h = Heard::default();
        for (ver, sender) in pairs {
            let packet = serde_json::json!({"ver": ver, "sender": sender}).to_string();
            h.record(packet.as_bytes(), "me");
        }
        h
    }

    #[test]
    fn the_version_heard_is_spoken_and_5_when_in_doubt() {
        assert_eq!(heard(&[]).choice(), ProtocolVersion::V5);
        assert_eq!(heard(&[("4", "a")]).choice(), ProtocolVersion::V4);
        assert_eq!(heard(&[("5", "a")]).choice(), ProtocolVersion::V5);
        let both = heard(&[("4", "old-1"), ("5", "new-1"), ("4", "old-2")]);
        assert_eq!(both.choice(), ProtocolVersion::V5);
        let warning = both.mixed_warning().unwrap_or_default();
        assert!(
            warning.contains("protocol 4 (Moleculer 0.14): old-1, old-2"),
            "{warning}"
        );
        assert!(warning.contains("--protocol 4"), "{warning}");
        assert_eq!(heard(&[("4", "a")]).mixed_warning(), None);
    }

    #[test]
    fn own_packets_and_unknown_versions_are_ignored() {
        assert_eq!(
            heard(&[("4", "me"), ("3", "x"), ("", "y")]),
            Heard::default()
        );
        let mut h = Heard::default();
        assert!(!h.record(b"not json", "me"));
        assert!(!h.record(br#"{"ver":"5"}"#, "me"));
    }
}

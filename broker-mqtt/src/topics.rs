//! Topic names exactly as Moleculer.js's MQTT transporter builds and reads them:
//! `<prefix><sep><TYPE>` and `<prefix><sep><TYPE><sep><nodeID>`, where the prefix is `MOL` or
//! `MOL-<namespace>` and the separator is its `topicSeparator` (`.` by default, `/` the usual
//! override in MQTT).

use broker_core::packet::PacketType;
use broker_core::transporter::Topic;

/// Moleculer's `getTopicName(cmd, nodeID)`.
pub(crate) fn topic_name(prefix: &str, separator: &str, topic: &Topic) -> String {
    let kind = topic.packet_type.as_str();
    match &topic.node_id {
        Some(node) => format!("{prefix}{separator}{kind}{separator}{node}"),
        None => format!("{prefix}{separator}{kind}"),
    }
}

/// The packet type of a topic that arrived, read as Moleculer.js reads it: drop the prefix and
/// one separator, the type is what comes before the next separator.
pub(crate) fn packet_type_of(prefix: &str, separator: &str, topic: &str) -> Option<PacketType> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix(separator)?;
    let kind = rest.split(separator).next()?;
    PacketType::parse(kind)
}

/// Whether MQTT can carry `name` as a topic name (publish) or an exact filter (subscribe):
/// non-empty, no wildcard (`+`, `#`), no NUL, at most 65535 bytes. The server drops a client
/// that publishes to anything else.
pub(crate) fn is_valid_topic(name: &str) -> bool {
    !name.is_empty() && name.len() <= usize::from(u16::MAX) && !name.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_moleculer_with_either_separator() {
        let req = Topic::targeted(PacketType::Request, "node-1");
        assert_eq!(topic_name("MOL-dev", ".", &req), "MOL-dev.REQ.node-1");
        assert_eq!(topic_name("MOL-dev", "/", &req), "MOL-dev/REQ/node-1");
        let hb = Topic::broadcast(PacketType::Heartbeat);
        assert_eq!(topic_name("MOL", ".", &hb), "MOL.HEARTBEAT");
        assert_eq!(topic_name("MOL", "/", &hb), "MOL/HEARTBEAT");
        assert_eq!(topic_name("MOL", "::", &hb), "MOL::HEARTBEAT");
    }

    #[test]
    fn arriving_topics_give_their_type() {
        assert_eq!(
            packet_type_of("MOL-dev", ".", "MOL-dev.RES.a.b.c"),
            Some(PacketType::Response)
        );
        assert_eq!(
            packet_type_of("MOL-dev", "/", "MOL-dev/EVENT/n.1"),
            Some(PacketType::Event)
        );
        assert_eq!(
            packet_type_of("MOL", "/", "MOL/DISCONNECT"),
            Some(PacketType::Disconnect)
        );
        assert_eq!(packet_type_of("MOL-dev", ".", "MOL-devx.RES.a"), None);
        assert_eq!(packet_type_of("MOL", ".", "MOL.NOPE"), None);
        assert_eq!(packet_type_of("MOL", "/", "MOL.INFO"), None);
        assert_eq!(packet_type_of("MOL", ".", "other"), None);
    }

    #[test]
    fn topics_mqtt_cannot_carry() {
        assert!(is_valid_topic("MOL.REQ.n-1"));
        assert!(is_valid_topic("MOL/REQ/a b"));
        for bad in ["", "MOL.REQ.a+b", "MOL.REQ.#", "a\0b"] {
            assert!(!is_valid_topic(bad), "{bad:?}");
        }
        assert!(!is_valid_topic(&"x".repeat(70_000)));
    }
}

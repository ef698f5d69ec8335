//! Redis Cluster addresses: the `redis+cluster://host1:port1,host2:port2` URL form and how a
//! seed list is shown.
//!
//! No cluster client is needed: classic pub/sub in a Redis Cluster is not routed by hash slot.
//! Any node accepts `SUBSCRIBE` and `PUBLISH`, and forwards every published message to all
//! other nodes over the cluster bus, so one plain connection to any node sees everything. What
//! cluster support adds is a list of nodes to fail over between.

use crate::transporter::UrlParts;
use broker_core::Error;
use redis::Client;

/// The seed URLs of a `redis+cluster://` (or `rediss+cluster://`) URL, `None` for any other
/// URL. Credentials, written once before the first host, and a `/db` or `?query` tail apply to
/// every seed.
pub(crate) fn seed_urls(url: &str) -> Result<Option<Vec<String>>, Error> {
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("redis+cluster://") {
        ("redis", &url["redis+cluster://".len()..])
    } else if lower.starts_with("rediss+cluster://") {
        ("rediss", &url["rediss+cluster://".len()..])
    } else {
        return Ok(None);
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let seeds: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}://{credentials}{host}{tail}"))
        .collect();
    if seeds.is_empty() {
        return Err(Error::broker_options(
            "a redis+cluster:// URL needs at least one host:port",
        ));
    }
    Ok(Some(seeds))
}

/// `redis+cluster://user:***@h1:p1,h2:p2/db`: the seeds as one URL, without the password.
pub(crate) fn describe(clients: &[Client]) -> String {
    let parts: Vec<UrlParts> = clients.iter().map(UrlParts::of).collect();
    let Some(first) = parts.first() else {
        return "redis+cluster://".to_owned();
    };
    let hosts: Vec<&str> = parts.iter().map(|p| p.host.as_str()).collect();
    format!(
        "{}+cluster://{}{}{}",
        first.scheme,
        first.credentials,
        hosts.join(","),
        first.db
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisTransporter;
    use broker_core::{ErrorKind, Transporter};

    #[test]
    fn cluster_urls_become_seed_urls() {
        assert_eq!(seed_urls("redis://h:1").expect("plain"), None);
        assert_eq!(
            seed_urls("redis+cluster://a:7000,b:7001").expect("two"),
            Some(vec![
                "redis://a:7000".to_owned(),
                "redis://b:7001".to_owned()
            ])
        );
        assert_eq!(
            seed_urls("rediss+cluster://u:p@a:1, b:2/0").expect("tls"),
            Some(vec![
                "rediss://u:p@a:1/0".to_owned(),
                "rediss://u:p@b:2/0".to_owned()
            ])
        );
        assert_eq!(
            seed_urls("REDIS+CLUSTER://[::1]:7000").expect("v6"),
            Some(vec!["redis://[::1]:7000".to_owned()])
        );
        for bad in [
            "redis+cluster://",
            "redis+cluster://,,",
            "redis+cluster://u:p@",
        ] {
            let err = seed_urls(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::BrokerOptions, "{bad}");
        }
    }

    #[test]
    fn cluster_transporters_describe_their_seeds_without_the_password() {
        let t = RedisTransporter::new("redis+cluster://bob:secret@10.0.0.1:7000,10.0.0.2:7001")
            .expect("cluster url");
        assert_eq!(
            t.describe(),
            "redis+cluster://bob:***@10.0.0.1:7000,10.0.0.2:7001"
        );
        assert!(!format!("{t:?}").contains("secret"));
        let t = RedisTransporter::cluster(["redis://a:1", "redis://b:2"]).expect("seeds");
        assert_eq!(t.describe(), "redis+cluster://a:1,b:2");
        let none: [&str; 0] = [];
        let err = RedisTransporter::cluster(none).expect_err("no seeds");
        assert_eq!(err.kind(), ErrorKind::BrokerOptions);
        let err = RedisTransporter::cluster(["redis://a:1", "http://b"]).expect_err("bad seed");
        assert_eq!(err.kind(), ErrorKind::BrokerOptions);
    }
}

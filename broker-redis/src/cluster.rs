//! Redis Cluster addresses: the `redis+cluster://host1:port1,host2:port2` URL form, how a seed
//! list is shown, and the nodes learnt from `CLUSTER NODES` to fail over to.
//!
//! No cluster client is needed: classic pub/sub in a Redis Cluster is not routed by hash slot.
//! Any node accepts `SUBSCRIBE` and `PUBLISH`, and forwards every published message to all
//! other nodes over the cluster bus, so one plain connection to any node sees everything. What
//! cluster support adds is a list of nodes to fail over between.

use crate::transporter::UrlParts;
use broker_core::Error;
use redis::{Client, ConnectionAddr};

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

/// The `host:port` of every node a `CLUSTER NODES` answer lists as reachable (not failing, not
/// in a handshake, with an address). A node that does not know its own IP shows `:port`; it is
/// `seed_host:port` then.
pub(crate) fn reachable_nodes(answer: &str, seed_host: &str) -> Vec<(String, u16)> {
    answer
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let addr = fields.nth(1)?;
            let flags = fields.next()?;
            if ["fail", "noaddr", "handshake"]
                .iter()
                .any(|bad| flags.contains(bad))
            {
                return None;
            }
            let addr = addr.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
            let host = if host.is_empty() { seed_host } else { host };
            Some((host.to_owned(), port))
        })
        .collect()
}

/// A client for another node of the cluster, with the settings (credentials, TLS) of `seed`.
/// `None` for a Unix-socket seed, which has no host to swap.
pub(crate) fn client_for(seed: &Client, host: &str, port: u16) -> Option<Client> {
    let info = seed.get_connection_info().clone();
    let addr = match info.addr() {
        ConnectionAddr::Tcp(..) => ConnectionAddr::Tcp(host.to_owned(), port),
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => return None,
    };
    Client::open(info.set_addr(addr)).ok()
}

/// The host of a TCP client (`""` otherwise).
pub(crate) fn host_of(client: &Client) -> &str {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host,
        _ => "",
    }
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
    fn cluster_nodes_answers_give_the_reachable_nodes() {
        let answer = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001,node-b.local master - 0 0 2 connected 5461-10922
c3 :7002@17002 master - 0 0 3 connected 10923-16383
d4 127.0.0.1:7003@17003 master,fail - 0 0 4 disconnected
e5 127.0.0.1:7004@17004 slave,fail? b2 0 0 5 connected
f6 :0@0 master,noaddr - 0 0 6 disconnected
g7 127.0.0.1:7006@17006 handshake - 0 0 0 connected
h8 ::1:7007@17007 slave a1 0 0 1 connected
garbage
";
        assert_eq!(
            reachable_nodes(answer, "10.0.0.9"),
            vec![
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001),
                ("10.0.0.9".to_owned(), 7002),
                ("::1".to_owned(), 7007),
            ]
        );
    }

    #[test]
    fn nodes_learnt_keep_the_seeds_settings() {
        let seed = Client::open("redis://bob:pw@10.0.0.1:7000/2").expect("seed");
        let other = client_for(&seed, "10.0.0.2", 7001).expect("tcp seed");
        let info = other.get_connection_info();
        assert_eq!(
            info.addr(),
            &ConnectionAddr::Tcp("10.0.0.2".to_owned(), 7001)
        );
        assert_eq!(info.redis_settings().username(), Some("bob"));
        assert_eq!(info.redis_settings().password(), Some("pw"));
        assert_eq!(host_of(&seed), "10.0.0.1");
        let tls = Client::open("rediss://10.0.0.1:7000").expect("tls seed");
        let other = client_for(&tls, "10.0.0.2", 7001).expect("tls");
        assert!(matches!(
            other.get_connection_info().addr(),
            ConnectionAddr::TcpTls { port: 7001, .. }
        ));
        let unix = Client::open("redis+unix:///tmp/r.sock").expect("unix");
        assert!(client_for(&unix, "h", 1).is_none());
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

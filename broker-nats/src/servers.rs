//! The server list a NATS transporter is given, as Moleculer.js reads it: one URL or several
//! separated by commas (`nats://a:4222,nats://b:4222`), credentials possibly in the first.

use async_nats::ServerAddr;
use broker_core::Error;

/// Who we are to the server, from the URL or the builder.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// No credentials.
    #[default]
    None,
    /// `nats://user:password@host`.
    UserPassword(String, String),
    /// `nats://token@host`: a user name without a password is a token, as in every NATS client.
    Token(String),
}

/// The parsed server list.
#[derive(Clone)]
pub(crate) struct Servers {
    pub(crate) addrs: Vec<ServerAddr>,
    pub(crate) credentials: Credentials,
}

impl Servers {
    /// Parses `nats://…`, `tls://…` or bare `host:port` entries separated by commas. The first
    /// entry that carries credentials gives them, as Moleculer.js does.
    pub(crate) fn parse(urls: &str) -> Result<Servers, Error> {
        let mut addrs = Vec::new();
        let mut credentials = Credentials::None;
        for entry in urls.split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let addr: ServerAddr = entry.parse().map_err(|err| {
                Error::broker_options(format!(
                    "invalid NATS server URL `{}`: {err}",
                    redact(entry)
                ))
            })?;
            if addr.is_websocket() {
                return Err(Error::broker_options(format!(
                    "NATS over WebSocket (`{}`) is not supported; use nats:// or tls://",
                    redact(entry)
                )));
            }
            if addr.host().is_empty() {
                return Err(Error::broker_options(format!(
                    "NATS server URL `{}` has no host",
                    redact(entry)
                )));
            }
            if credentials == Credentials::None {
                credentials = match (addr.username(), addr.password()) {
                    (Some(user), Some(pass)) => {
                        Credentials::UserPassword(decode(user), decode(pass))
                    }
                    (Some(token), None) => Credentials::Token(decode(token)),
                    _ => Credentials::None,
                };
            }
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(Error::broker_options(
                "no NATS server URL given (expected e.g. nats://127.0.0.1:4222)",
            ));
        }
        Ok(Servers { addrs, credentials })
    }

    /// `nats://user:***@host:port,tls://host:port`: what a person may see.
    pub(crate) fn describe(&self) -> String {
        self.addrs
            .iter()
            .map(|addr| {
                let credentials = match (addr.username(), addr.password()) {
                    (Some(user), Some(_)) => format!("{user}:***@"),
                    (Some(_), None) => "***@".to_owned(),
                    _ => String::new(),
                };
                let host = addr.host();
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                format!("{}://{credentials}{host}:{}", addr.scheme(), addr.port())
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Percent-decodes a URL user or password (`p%40ss` → `p@ss`); malformed escapes stay as given.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
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

/// An entry as an error message may show it: anything before `@` hidden.
fn redact(entry: &str) -> String {
    match (entry.split_once("://"), entry.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        (None, Some((_, host))) => format!("***@{host}"),
        _ => entry.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_several_urls_with_credentials_from_the_first() {
        let s = Servers::parse("nats://bob:p%40ss@10.0.0.1:4223, nats://10.0.0.2").expect("ok");
        assert_eq!(s.addrs.len(), 2);
        assert!(
            s.credentials == Credentials::UserPassword("bob".into(), "p@ss".into()),
            "user and password decoded"
        );
        assert_eq!(
            s.describe(),
            "nats://bob:***@10.0.0.1:4223,nats://10.0.0.2:4222"
        );
        let t = Servers::parse("tls://s3cr3t@nats.example:4443").expect("ok");
        assert!(t.credentials == Credentials::Token("s3cr3t".into()));
        assert!(t.addrs[0].tls_required());
        assert_eq!(t.describe(), "tls://***@nats.example:4443");
        let bare = Servers::parse("127.0.0.1:4222").expect("bare host:port");
        assert_eq!(bare.describe(), "nats://127.0.0.1:4222");
        assert!(bare.credentials == Credentials::None);
    }

    #[test]
    fn bad_lists_are_options_errors_without_secrets() {
        for url in ["", " , ", "http://x:4222", "ws://x:80", "nats://:pw@"] {
            let err = Servers::parse(url).err().unwrap_or_else(|| panic!("{url}"));
            assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions, "{url}");
            assert!(!err.message().contains("pw"), "{err}");
        }
    }

    #[test]
    fn decoding_leaves_malformed_escapes() {
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}

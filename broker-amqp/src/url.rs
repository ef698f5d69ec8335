//! The server URLs: Moleculer's `;`-separated list of `amqp://` and `amqps://` URLs.

use broker_core::Error;

/// The URLs, with their credentials, tried in turn.
#[derive(Clone)]
pub(crate) struct Urls {
    list: Vec<String>,
}

impl Urls {
    /// `amqp://…` or `amqps://…`, one or several separated by `;` (empty parts are skipped).
    pub(crate) fn parse(urls: &str) -> Result<Urls, Error> {
        let list: Vec<String> = urls
            .split(';')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if list.is_empty() {
            return Err(Error::broker_options("no AMQP URL given"));
        }
        for url in &list {
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(Error::broker_options(format!(
                    "not an AMQP URL (amqp:// or amqps://): {}",
                    hide_password(url)
                )));
            }
        }
        Ok(Urls { list })
    }

    /// The URL of attempt `n` (0-based), round the list.
    pub(crate) fn pick(&self, n: usize) -> &str {
        &self.list[n % self.list.len()]
    }

    /// The list as a person may see it: passwords replaced by `***`.
    pub(crate) fn describe(&self) -> String {
        self.list
            .iter()
            .map(|u| hide_password(u))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// `amqp://user:secret@host` → `amqp://user:***@host`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_passwords() {
        let urls = Urls::parse("amqp://a:pw@h1:5672;;amqps://h2/vh").expect("valid");
        assert_eq!(urls.pick(0), "amqp://a:pw@h1:5672");
        assert_eq!(urls.pick(3), "amqps://h2/vh");
        assert_eq!(urls.describe(), "amqp://a:***@h1:5672;amqps://h2/vh");
        assert!(Urls::parse("").is_err());
        let err = Urls::parse("redis://x:pw@h").err().expect("not amqp");
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}

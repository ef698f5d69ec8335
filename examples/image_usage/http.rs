//! Just enough HTTP/1.1 to GET an image: `http://` only (no TLS), a bounded body, plain or
//! chunked transfer encoding, and up to three redirects.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response accepted, headers included.
pub(crate) const MAX_RESPONSE: usize = 32 * 1024 * 1024;
const MAX_REDIRECTS: usize = 3;

/// `http://host[:port]/path` split up.
#[derive(Debug, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported, got '{url}'"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let port_of = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port in '{url}'"));
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("bad host in '{url}'"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, port_of(p)?),
                None => (host, 80),
            }
        }
        None => match authority.rsplit_once(':') {
            Some((host, p)) => (host, port_of(p)?),
            None => (authority, 80),
        },
    };
    if host.is_empty() {
        return Err(format!("no host in '{url}'"));
    }
    Ok(Url {
        host: host.to_owned(),
        port,
        path,
    })
}

/// GETs `url` and returns the body of a `200` answer, following redirects; everything is
/// bounded by `timeout`.
pub(crate) async fn get(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    tokio::time::timeout(timeout, get_following(url))
        .await
        .map_err(|_| format!("no answer from {url} within {} s", timeout.as_secs()))?
}

async fn get_following(url: &str) -> Result<Vec<u8>, String> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let response = get_once(&parse_url(&url)?).await?;
        match response.status {
            200 => return Ok(response.body),
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .location
                    .ok_or_else(|| format!("{url} redirects without a Location"))?;
                url = if location.starts_with('/') {
                    let u = parse_url(&url)?;
                    format!("http://{}:{}{location}", u.host, u.port)
                } else {
                    location
                };
            }
            status => return Err(format!("{url} answered HTTP {status}")),
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects from {url}"))
}

struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

async fn get_once(url: &Url) -> Result<Response, String> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", url.host, url.port))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: broker-image-example\r\nAccept: image/*\r\nConnection: close\r\n\r\n",
        url.path, url.host
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut raw = Vec::new();
    let limit = u64::try_from(MAX_RESPONSE + 1).unwrap_or(u64::MAX);
    stream
        .take(limit)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if raw.len() > MAX_RESPONSE {
        return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
    }
    parse_response(raw)
}

fn parse_response(raw: Vec<u8>) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the answer has no status line")?;
    let mut chunked = false;
    let mut length = None;
    let mut location = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            "location" => location = Some(value.to_owned()),
            _ => {}
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or_else(|| format!("the body ended after {} of {n} bytes", body.len()))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        location,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut off")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size '{size_hex}'"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("a chunk is cut off")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("a chunk is cut off")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/a/b.png?x=1"),
            Ok(Url {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/a/b.png?x=1".into()
            })
        );
        assert_eq!(
            parse_url("http://example.org"),
            Ok(Url {
                host: "example.org".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert!(parse_url("https://example.org/x.png").is_err());
        assert!(parse_url("http://:80/").is_err());
    }

    #[test]
    fn chunked_and_sized_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw.to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.status, r.body), (200, b"abcde".to_vec()));
        let raw = b"HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno-extra";
        let r = parse_response(raw.to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.status, r.body), (404, b"no".to_vec()));
        assert!(parse_response(b"garbage".to_vec()).is_err());
    }
}

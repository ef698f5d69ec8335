//! The example's gateway over real HTTP on 127.0.0.1 (a free port): a path param, a JSON
//! body, a refused token, an upload answered with a PNG, and the probes.

use super::*;
use image::{Rgba, RgbaImage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "test-token";
const BOUND: Duration = Duration::from_secs(10);

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One request per connection (`Connection: close`), the answer read to the end; the gateway
/// answers with `Content-Length` bodies here, never chunked ones.
async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = match tokio::time::timeout(BOUND, exchange).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(e)) => panic!("{method} {path}: {e}"),
        Err(_) => panic!("{method} {path}: no answer within {BOUND:?}"),
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no end of head in the answer"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad status line in {head}"));
    Answer {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// A broker with both services and the example's gateway on a free port.
async fn start() -> (Broker, u16) {
    let dir = std::env::temp_dir().join(format!("gateway-example-{}", std::process::id()));
    let broker = Broker::builder().node_id("gateway-test").build();
    let gw = gateway(&broker, "127.0.0.1:0", TOKEN);
    let started = async {
        broker.add_service(Greeter).await?;
        broker.add_service(ImageService { output_dir: dir }).await?;
        broker.add_service(gw.clone()).await?;
        broker.start().await
    };
    if let Err(err) = started.await {
        panic!("{err}");
    }
    let port = gw
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|| panic!("the gateway has no address after start"));
    (broker, port)
}

fn png_bytes(img: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    if let Err(err) = img.write_to(&mut out, image::ImageFormat::Png) {
        panic!("{err}");
    }
    out.into_inner()
}

#[tokio::test]
async fn greeter_routes_answer_over_http() {
    let (broker, port) = start().await;

    let a = send(port, "GET", "/api/hello/Ann", &[], b"").await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!("Hello, Ann!"));

    let json_type = [("Content-Type", "application/json")];
    let body = json!({"name": "Ann", "language": "fr"}).to_string();
    let a = send(port, "POST", "/api/welcome", &json_type, body.as_bytes()).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"greeting": "Bienvenue, Ann!", "language": "fr"})
    );

    let body = json!({"name": "Ann", "language": "xx"}).to_string();
    let a = send(port, "POST", "/api/welcome", &json_type, body.as_bytes()).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["type"], "UNKNOWN_LANGUAGE");

    // Not reachable by its name: the route maps aliases only.
    let a = send(port, "GET", "/api/greeter/hello?name=Ann", &[], b"").await;
    assert_eq!(a.status, 404);

    assert_eq!(send(port, "GET", "/health", &[], b"").await.status, 200);
    assert_eq!(send(port, "GET", "/ready", &[], b"").await.status, 200);
    if let Err(err) = broker.stop().await {
        panic!("{err}");
    }
}

#[tokio::test]
async fn upload_is_pixelated_behind_a_token() {
    let (broker, port) = start().await;
    let picture = RgbaImage::from_fn(40, 24, |x, y| Rgba([x as u8 * 6, y as u8 * 10, 90, 255]));
    let upload = png_bytes(&picture);
    let path = "/api/image/pixelate?blockSize=8";
    let png = [("Content-Type", "image/png")];

    let a = send(port, "POST", path, &png, &upload).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["type"], "NO_TOKEN");
    let wrong = [
        ("Content-Type", "image/png"),
        ("Authorization", "Bearer nope"),
    ];
    let a = send(port, "POST", path, &wrong, &upload).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["type"], "INVALID_TOKEN");

    let bearer = format!("Bearer {TOKEN}");
    let auth = [
        ("Content-Type", "image/png"),
        ("Authorization", bearer.as_str()),
    ];
    let a = send(port, "POST", path, &auth, &upload).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("image/png"));
    let answer = match image::load_from_memory_with_format(&a.body, image::ImageFormat::Png) {
        Ok(img) => img.to_rgba8(),
        Err(err) => panic!("the answer is not a PNG: {err}"),
    };
    assert_eq!(answer.dimensions(), (40, 24));
    assert_eq!(answer, service::pixelate(&picture, 8));

    // Not an image, and a bad block size: 422s that say so.
    let a = send(port, "POST", path, &auth, b"not a picture").await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["type"], "BAD_IMAGE");
    let a = send(
        port,
        "POST",
        "/api/image/pixelate?blockSize=0",
        &auth,
        &upload,
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["type"], "INVALID_BLOCK_SIZE");
    if let Err(err) = broker.stop().await {
        panic!("{err}");
    }
}

/// `curl` (a real multipart client) posting `file` as a form to `path`: status and body.
async fn curl_form(port: u16, path: &str, file: &std::path::Path, token: &str) -> (u16, Vec<u8>) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let out = std::env::temp_dir().join(format!("gateway-upload-{}.out", std::process::id()));
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-o"])
        .arg(&out)
        .args([
            "-w",
            "%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .arg("-F")
        .arg(format!("file=@{};type=image/png", file.display()))
        .args(["-F", "note=from curl", &url]);
    // curl's own --max-time bounds it; the timeout is a second guard.
    let run = tokio::task::spawn_blocking(move || cmd.output());
    let output = match tokio::time::timeout(std::time::Duration::from_secs(20), run).await {
        Ok(Ok(Ok(o))) => o,
        Ok(Ok(Err(err))) => {
            panic!("curl does not run (the test needs it: apt-get install curl): {err}")
        }
        Ok(Err(err)) => panic!("{err}"),
        Err(_) => panic!("curl did not finish"),
    };
    let status = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let body = std::fs::read(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    (status, body)
}

#[tokio::test]
async fn a_form_upload_from_curl_is_pixelated() {
    let (broker, port) = start().await;
    let picture = RgbaImage::from_fn(32, 16, |x, y| Rgba([x as u8 * 7, y as u8 * 12, 40, 255]));
    let file = std::env::temp_dir().join(format!("gateway-upload-{}.png", std::process::id()));
    if let Err(err) = std::fs::write(&file, png_bytes(&picture)) {
        panic!("{err}");
    }
    let (status, body) = curl_form(port, "/api/image/upload?blockSize=4", &file, TOKEN).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer = match image::load_from_memory_with_format(&body, image::ImageFormat::Png) {
        Ok(img) => img.to_rgba8(),
        Err(err) => panic!("the answer is not a PNG: {err}"),
    };
    assert_eq!(answer, service::pixelate(&picture, 4));
    // The token still guards the route, and a form without a file is a 400.
    let (status, _) = curl_form(port, "/api/image/upload", &file, "nope").await;
    assert_eq!(status, 401);
    let bearer = format!("Bearer {TOKEN}");
    let boundary = "XyZ";
    let form_type = format!("multipart/form-data; boundary={boundary}");
    let fields_only =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--{boundary}--\r\n");
    let headers = [
        ("Content-Type", form_type.as_str()),
        ("Authorization", bearer.as_str()),
    ];
    let a = send(
        port,
        "POST",
        "/api/image/upload",
        &headers,
        fields_only.as_bytes(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["message"], "File missing in the request");
    let a = send(port, "POST", "/api/image/upload", &headers, b"--nope").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["name"], "InvalidRequestBodyError");
    let _ = std::fs::remove_file(&file);
    if let Err(err) = broker.stop().await {
        panic!("{err}");
    }
}

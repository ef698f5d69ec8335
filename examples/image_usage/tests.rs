//! `image.pixelate` driven through REPL commands, on a local file and a local HTTP server
//! (127.0.0.1 only, never the internet).

use super::*;
use broker_repl::{run_command, CommandError};
use image::{Rgba, RgbaImage};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("image-usage-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(err) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {err}", dir.display());
        }
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn png_bytes(img: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    if let Err(err) = img.write_to(&mut out, image::ImageFormat::Png) {
        panic!("{err}");
    }
    out.into_inner()
}

async fn node(output: &Path) -> Broker {
    let broker = Broker::builder().node_id("image-test").build();
    let started = async {
        broker
            .add_service(ImageService {
                output_dir: output.to_owned(),
            })
            .await?;
        broker.start().await
    };
    if let Err(err) = started.await {
        panic!("{err}");
    }
    broker
}

async fn pixelate_via_repl(
    broker: &Broker,
    params: serde_json::Value,
) -> Result<Pixelated, CommandError> {
    let out = run_command(broker, &format!("call image.pixelate {params}")).await?;
    serde_json::from_value(out.to_json()).map_err(|e| CommandError::usage(e.to_string()))
}

fn open(path: &str) -> RgbaImage {
    match image::open(path) {
        Ok(img) => img.to_rgba8(),
        Err(err) => panic!("{path}: {err}"),
    }
}

#[test]
fn blocks_become_their_average() {
    let src = RgbaImage::from_fn(5, 3, |x, _| {
        if x < 2 {
            Rgba([0, 0, 0, 255])
        } else {
            Rgba([200, 100, 50, 255])
        }
    });
    let out = pixelate(&src, 2);
    assert_eq!(out.dimensions(), (5, 3));
    assert_eq!(out.get_pixel(1, 1), &Rgba([0, 0, 0, 255]));
    assert_eq!(out.get_pixel(3, 0), &Rgba([200, 100, 50, 255]));
    let mixed = pixelate(&src, 4);
    // The first 4×3 block holds 6 black and 6 coloured pixels.
    assert_eq!(mixed.get_pixel(0, 0), &Rgba([100, 50, 25, 255]));
    assert_eq!(mixed.get_pixel(3, 2), &Rgba([100, 50, 25, 255]));
    assert_eq!(mixed.get_pixel(4, 1), &Rgba([200, 100, 50, 255]));
}

#[test]
fn output_names_come_from_the_source() {
    assert_eq!(output_name("pics/cat.jpg", 8), "cat-pixelated-8.png");
    assert_eq!(
        output_name("http://h:1/a/b%20c.png?x=1", 3),
        "b_20c-pixelated-3.png"
    );
    assert_eq!(output_name("http://h:1/", 3), "image-pixelated-3.png");
}

#[tokio::test]
async fn a_local_file_is_pixelated_and_written() {
    let dir = TempDir::new();
    let input = dir.0.join("gradient.png");
    if let Err(err) = sample_image().save(&input) {
        panic!("{err}");
    }
    let broker = node(&dir.0.join("out")).await;
    let result = pixelate_via_repl(&broker, json!({"source": input, "blockSize": 16})).await;
    let _ = broker.stop().await;
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (result.width, result.height, result.block_size),
        (256, 256, 16)
    );
    assert!(
        result.path.ends_with("gradient-pixelated-16.png"),
        "{}",
        result.path
    );
    let img = open(&result.path);
    for (x, y) in [(0, 0), (15, 15), (100, 37)] {
        let corner = img.get_pixel(x / 16 * 16, y / 16 * 16);
        assert_eq!(img.get_pixel(x, y), corner);
    }
}

/// Serves `body` at `/pic.png` (with a length), `/chunked.png` (chunked), redirects `/moved`,
/// and answers 404 to anything else, for `connections` connections.
async fn serve(body: Vec<u8>, connections: usize) -> String {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(err) => panic!("{err}"),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tokio::spawn(async move {
        for _ in 0..connections {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n]).into_owned();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut reply = Vec::new();
            match path.as_str() {
                "/pic.png" => {
                    reply.extend(format!("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes());
                    reply.extend(&body);
                }
                "/chunked.png" => {
                    reply.extend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                    for chunk in body.chunks(1000) {
                        reply.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
                        reply.extend(chunk);
                        reply.extend(b"\r\n");
                    }
                    reply.extend(b"0\r\n\r\n");
                }
                "/moved" => reply.extend(
                    b"HTTP/1.1 302 Found\r\nLocation: /pic.png\r\nContent-Length: 0\r\n\r\n",
                ),
                _ => reply.extend(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"),
            }
            let _ = socket.write_all(&reply).await;
            let _ = socket.shutdown().await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn urls_on_a_local_server_are_fetched() {
    let dir = TempDir::new();
    let picture = RgbaImage::from_fn(40, 30, |x, y| Rgba([(x * 6) as u8, (y * 8) as u8, 90, 255]));
    let base = serve(png_bytes(&picture), 5).await;
    let broker = node(&dir.0).await;
    let mut results = Vec::new();
    for path in ["/pic.png", "/chunked.png", "/moved"] {
        let params = json!({"url": format!("{base}{path}"), "size": 10});
        results.push(pixelate_via_repl(&broker, params).await);
    }
    let missing = pixelate_via_repl(&broker, json!({"source": format!("{base}/nope.png")})).await;
    let _ = broker.stop().await;
    for result in results {
        let result = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (result.width, result.height, result.block_size),
            (40, 30, 10)
        );
        let img = open(&result.path);
        assert_eq!(img.get_pixel(9, 9), img.get_pixel(0, 0));
        assert_ne!(img.get_pixel(10, 0), img.get_pixel(0, 0));
    }
    let err = missing.err().and_then(|e| e.broker_error().cloned());
    assert_eq!(
        err.as_ref().map(|e| (e.name(), e.code(), e.error_type())),
        Some(("ImageFetchError", 502, Some("FETCH_FAILED")))
    );
    assert!(err.is_some_and(|e| e.message().contains("HTTP 404")));
}

#[tokio::test]
async fn jpeg_input_is_read() {
    let dir = TempDir::new();
    let input = dir.0.join("photo.jpg");
    let rgb = image::DynamicImage::ImageRgba8(sample_image()).to_rgb8();
    if let Err(err) = rgb.save(&input) {
        panic!("{err}");
    }
    let broker = node(&dir.0).await;
    let result = pixelate_via_repl(&broker, json!({"path": input, "block_size": 32})).await;
    let _ = broker.stop().await;
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(result.path.ends_with("photo-pixelated-32.png"));
    assert_eq!((result.width, result.height), (256, 256));
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let dir = TempDir::new();
    let text_file = dir.0.join("notes.txt");
    if let Err(err) = std::fs::write(&text_file, "not a picture") {
        panic!("{err}");
    }
    let broker = node(&dir.0).await;
    let mut seen = Vec::new();
    for params in [
        json!({"source": "https://example.org/cat.png"}),
        json!({"source": dir.0.join("missing.png")}),
        json!({"source": text_file}),
        json!({"source": text_file, "blockSize": 0}),
        json!({"source": text_file, "blockSize": -4}),
        json!({"source": text_file, "blockSize": 5000}),
        json!({"source": dir.0}),
        json!({"blockSize": 3}),
    ] {
        let negative = params["blockSize"] == json!(-4);
        let err = pixelate_via_repl(&broker, params).await.err();
        if negative {
            let message = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("must be positive"), "{message}");
        }
        seen.push(err.and_then(|e| {
            e.broker_error()
                .map(|b| (b.code(), b.error_type().map(str::to_owned)))
        }));
    }
    let _ = broker.stop().await;
    let typed = |code: i64, t: &str| Some((code, Some(t.to_owned())));
    assert_eq!(
        seen,
        vec![
            typed(400, "UNSUPPORTED_SOURCE"),
            typed(404, "FILE_NOT_FOUND"),
            typed(422, "BAD_IMAGE"),
            typed(422, "INVALID_BLOCK_SIZE"),
            typed(422, "INVALID_BLOCK_SIZE"),
            typed(422, "INVALID_BLOCK_SIZE"),
            typed(400, "NOT_A_FILE"),
            typed(422, "VALIDATION_ERROR"),
        ]
    );
}

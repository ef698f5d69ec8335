//! Image usage: an `image.pixelate` action that fetches a picture (an `http://` URL or a file
//! path), pixelates it in square blocks, writes it to an output folder and returns the path;
//! the REPL drives it.
//!
//! ```sh
//! cargo run -p examples --example image_usage                          # in memory
//! cargo run -p examples --example image_usage redis://127.0.0.1:6379   # on Redis
//! ```
//!
//! ```text
//! mol $ call image.pixelate --source output/sample.png --blockSize 16
//! mol $ call image.pixelate {"source": "http://127.0.0.1:8000/cat.jpg", "blockSize": 8}
//! ```
//!
//! On start it writes `sample.png` into the output folder, so there is something to try.
//! Environment: `TRANSPORTER` (or the first argument), `NAMESPACE`, `NODE_ID`,
//! `MOLECULER_PROTOCOL` (`5` by default, `4` for Moleculer.js 0.14), `IMAGE_OUTPUT_DIR` (default
//! `output`) and `RUST_LOG`. PNG and JPEG are read; the result is always PNG.

#[path = "image_usage/http.rs"]
mod http;
#[cfg(test)]
#[path = "image_usage/tests.rs"]
mod tests;

use broker_core::{service, Broker, Error, MemoryTransporter, ProtocolVersion};
use broker_redis::RedisTransporter;
use broker_repl::ReplExt;
use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The largest block size accepted.
const MAX_BLOCK: u32 = 1024;
/// How long fetching a URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

fn default_block_size() -> i64 {
    10
}

/// What `image.pixelate` takes: `{"source": "<http:// URL or path>", "blockSize": 10}`.
#[derive(Debug, Deserialize)]
struct PixelateParams {
    /// An `http://` URL or a file path (`url`, `path` and `file` are accepted too).
    #[serde(alias = "url", alias = "path", alias = "file")]
    source: String,
    /// The side of each square block in pixels (`block_size` and `size` are accepted too).
    #[serde(
        rename = "blockSize",
        alias = "block_size",
        alias = "size",
        default = "default_block_size"
    )]
    /// Signed, so that a negative size is answered with what is wrong rather than a type error.
    block_size: i64,
}

/// What `image.pixelate` returns.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Pixelated {
    /// The written file (absolute).
    path: String,
    width: u32,
    height: u32,
    #[serde(rename = "blockSize")]
    block_size: u32,
}

/// The `image` service: pixelated images go into `output_dir`.
struct ImageService {
    output_dir: PathBuf,
}

#[service(name = "image")]
impl ImageService {
    /// `image.pixelate`: fetch or read, pixelate, write a PNG, return its path.
    #[action]
    async fn pixelate(&self, params: PixelateParams) -> Result<Pixelated, Error> {
        let block = block_size(params.block_size)?;
        let bytes = load(&params.source).await?;
        let out_path = self.output_dir.join(output_name(&params.source, block));
        let written = out_path.clone();
        // Decoding, averaging and encoding are CPU work: keep them off the async workers.
        let (width, height) = tokio::task::spawn_blocking(move || -> Result<(u32, u32), Error> {
            let picture = image::load_from_memory(&bytes).map_err(|e| {
                Error::client(format!("not a PNG or JPEG image: {e}"), 422, "BAD_IMAGE")
            })?;
            let result = pixelate(&picture.to_rgba8(), block);
            if let Some(dir) = written.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_error(dir, &e))?;
            }
            result
                .save(&written)
                .map_err(|e| write_error(&written, &e))?;
            Ok(result.dimensions())
        })
        .await
        .map_err(|e| Error::server(format!("pixelating failed: {e}"), 500, "PIXELATE_FAILED"))??;
        let path = std::fs::canonicalize(&out_path).unwrap_or(out_path);
        Ok(Pixelated {
            path: path.display().to_string(),
            width,
            height,
            block_size: block,
        })
    }
}

/// The block size as pixels, or a 422 saying what is wrong with it.
fn block_size(requested: i64) -> Result<u32, Error> {
    let problem = if requested < 1 {
        "must be positive"
    } else {
        match u32::try_from(requested) {
            Ok(block) if block <= MAX_BLOCK => return Ok(block),
            _ => "is too large",
        }
    };
    Err(Error::client(
        format!("blockSize {problem} (1 to {MAX_BLOCK} pixels), got {requested}"),
        422,
        "INVALID_BLOCK_SIZE",
    )
    .with_data(json!({"blockSize": requested})))
}

fn write_error(path: &Path, err: &dyn std::fmt::Display) -> Error {
    Error::server(
        format!("cannot write {}: {err}", path.display()),
        500,
        "WRITE_FAILED",
    )
}

/// The bytes of an `http://` URL or a file.
async fn load(source: &str) -> Result<Vec<u8>, Error> {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("http://") {
        return http::get(source, FETCH_TIMEOUT).await.map_err(|reason| {
            Error::new("ImageFetchError", reason)
                .with_code(502)
                .with_type("FETCH_FAILED")
                .with_data(json!({"source": source}))
        });
    }
    if lower.contains("://") {
        return Err(Error::client(
            "only http:// URLs and file paths are supported",
            400,
            "UNSUPPORTED_SOURCE",
        )
        .with_data(json!({"source": source})));
    }
    let not_readable = |e: std::io::Error| {
        let (code, kind) = match e.kind() {
            std::io::ErrorKind::NotFound => (404, "FILE_NOT_FOUND"),
            std::io::ErrorKind::PermissionDenied => (403, "FILE_NOT_READABLE"),
            _ => (400, "FILE_NOT_READABLE"),
        };
        Error::client(format!("cannot read {source}: {e}"), code, kind)
            .with_data(json!({"source": source}))
    };
    // A directory exists, so it is not a 404: it is a request for something that is not a file.
    if tokio::fs::metadata(source)
        .await
        .map_err(not_readable)?
        .is_dir()
    {
        return Err(Error::client(
            format!("{source} is a directory, not an image file"),
            400,
            "NOT_A_FILE",
        )
        .with_data(json!({"source": source})));
    }
    tokio::fs::read(source).await.map_err(not_readable)
}

/// `<name>-pixelated-<block>.png`, the name taken from the source's last path segment.
fn output_name(source: &str, block: u32) -> String {
    let last = source
        .split(['?', '#'])
        .next()
        .unwrap_or(source)
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("");
    let stem = Path::new(last)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = if stem.is_empty() {
        "image".to_owned()
    } else {
        stem
    };
    format!("{stem}-pixelated-{block}.png")
}

/// Each `block`×`block` square (smaller at the right and bottom edges) becomes its average
/// colour.
fn pixelate(src: &RgbaImage, block: u32) -> RgbaImage {
    let (width, height) = src.dimensions();
    let block = block.max(1);
    let mut out = RgbaImage::new(width, height);
    for y0 in (0..height).step_by(block as usize) {
        for x0 in (0..width).step_by(block as usize) {
            let (x1, y1) = ((x0 + block).min(width), (y0 + block).min(height));
            let mut sum = [0u64; 4];
            for y in y0..y1 {
                for x in x0..x1 {
                    for (total, channel) in sum.iter_mut().zip(src.get_pixel(x, y).0) {
                        *total += u64::from(channel);
                    }
                }
            }
            let count = u64::from((x1 - x0) * (y1 - y0));
            let avg = sum.map(|total| u8::try_from((total + count / 2) / count).unwrap_or(u8::MAX));
            for y in y0..y1 {
                for x in x0..x1 {
                    out.put_pixel(x, y, Rgba(avg));
                }
            }
        }
    }
    out
}

/// A 256×256 picture to try the action on: a colour gradient with a disc.
fn sample_image() -> RgbaImage {
    RgbaImage::from_fn(256, 256, |x, y| {
        let (dx, dy) = (x as i32 - 128, y as i32 - 128);
        if dx * dx + dy * dy < 60 * 60 {
            Rgba([250, 250, 250, 255])
        } else {
            Rgba([x as u8, y as u8, 255 - (x as u8 / 2 + y as u8 / 2), 255])
        }
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn broker(url: Option<&str>) -> Result<Broker, Error> {
    let mut builder = Broker::builder()
        .namespace(env("NAMESPACE").unwrap_or_default())
        .request_timeout(Duration::from_secs(60));
    if let Some(id) = env("NODE_ID") {
        builder = builder.node_id(id);
    }
    Ok(match url {
        Some(url) => {
            let protocol = match env("MOLECULER_PROTOCOL").as_deref() {
                Some("4") => ProtocolVersion::V4,
                _ => ProtocolVersion::V5,
            };
            builder
                .transporter(RedisTransporter::new(url)?)
                .protocol(protocol)
                .build()
        }
        None => builder.transporter(MemoryTransporter::new()).build(),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    broker_repl::init_logging("warn,broker_core=info,broker_redis=info");
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("image_usage: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).or_else(|| env("TRANSPORTER"));
    let output_dir = PathBuf::from(env("IMAGE_OUTPUT_DIR").unwrap_or_else(|| "output".into()));
    std::fs::create_dir_all(&output_dir)?;
    let sample = output_dir.join("sample.png");
    sample_image().save(&sample)?;

    let broker = broker(url.as_deref())?;
    broker.add_service(ImageService { output_dir }).await?;
    broker.start().await?;
    println!(
        "Try: call image.pixelate --source {} --blockSize 16",
        sample.display()
    );
    // The console until `exit` or Ctrl-D, or a graceful stop on SIGTERM (see simple_usage).
    let signal = tokio::select! {
        biased;
        signal = Broker::wait_for_signal() => Some(signal?),
        done = broker.repl() => {
            done?;
            None
        }
    };
    broker.stop().await?;
    if signal.is_some() {
        std::process::exit(0);
    }
    Ok(())
}

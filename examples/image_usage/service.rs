//! The `image` service of the image examples: `image.pixelate` reads a picture (an `http://`
//! URL or a file path), pixelates it in square blocks and writes a PNG; `image.pixelateUpload`
//! takes the picture's bytes (an HTTP upload through the gateway) and answers with the PNG's.

use base64::Engine as _;
use broker_core::{service, Context, Error};
use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The largest block size accepted.
pub(crate) const MAX_BLOCK: u32 = 1024;
/// How long fetching a URL may take.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) fn default_block_size() -> i64 {
    10
}

/// What `image.pixelate` takes: `{"source": "<http:// URL or path>", "blockSize": 10}`.
#[derive(Debug, Deserialize)]
pub(crate) struct PixelateParams {
    /// An `http://` URL or a file path (`url`, `path` and `file` are accepted too).
    #[serde(alias = "url", alias = "path", alias = "file")]
    pub(crate) source: String,
    /// The side of each square block in pixels (`block_size` and `size` are accepted too).
    #[serde(
        rename = "blockSize",
        alias = "block_size",
        alias = "size",
        default = "default_block_size"
    )]
    /// Signed, so that a negative size is answered with what is wrong rather than a type error.
    pub(crate) block_size: i64,
}

/// What `image.pixelate` returns.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Pixelated {
    /// The written file (absolute).
    pub(crate) path: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    #[serde(rename = "blockSize")]
    pub(crate) block_size: u32,
}

/// The `image` service: pixelated images go into `output_dir`.
pub(crate) struct ImageService {
    pub(crate) output_dir: PathBuf,
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

    /// `image.pixelateUpload`: the picture's bytes in, the pixelated PNG's bytes out. Behind
    /// the gateway's raw-body alias (`stream:image.pixelateUpload`) the upload arrives
    /// base64-encoded in `$body`; the answer is a Node.js Buffer's JSON shape with
    /// `ctx.meta.$responseType` set, which the gateway (ours or moleculer-web) sends as bytes.
    #[action(name = "pixelateUpload")]
    async fn pixelate_upload(&self, ctx: Context, params: UploadParams) -> Result<Value, Error> {
        let block = block_size(params.block_size.value()?)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(params.body.as_bytes())
            .map_err(|e| Error::client(format!("$body is not base64: {e}"), 422, "BAD_UPLOAD"))?;
        if bytes.is_empty() {
            return Err(Error::client(
                "no image in the request body",
                422,
                "BAD_UPLOAD",
            ));
        }
        let png = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Error> {
            let picture = image::load_from_memory(&bytes).map_err(|e| {
                Error::client(format!("not a PNG or JPEG image: {e}"), 422, "BAD_IMAGE")
            })?;
            let result = pixelate(&picture.to_rgba8(), block);
            let mut out = std::io::Cursor::new(Vec::new());
            result
                .write_to(&mut out, image::ImageFormat::Png)
                .map_err(|e| {
                    Error::server(format!("cannot encode PNG: {e}"), 500, "ENCODE_FAILED")
                })?;
            Ok(out.into_inner())
        })
        .await
        .map_err(|e| Error::server(format!("pixelating failed: {e}"), 500, "PIXELATE_FAILED"))??;
        ctx.set_meta("$responseType", json!("image/png"));
        Ok(broker_web::buffer(&png))
    }
}

/// What `image.pixelateUpload` takes: the bytes (base64) and the block size, which comes as
/// a string from a query string (`?blockSize=8`) and as a number from JSON.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadParams {
    /// The picture, base64-encoded (what the gateway's raw-body alias sends).
    #[serde(rename = "$body", default)]
    pub(crate) body: String,
    #[serde(rename = "blockSize", alias = "block_size", alias = "size", default)]
    pub(crate) block_size: BlockSize,
}

/// A block size given as a number or as a decimal string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum BlockSize {
    /// From JSON.
    Number(i64),
    /// From a query string.
    Text(String),
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize::Number(default_block_size())
    }
}

impl BlockSize {
    fn value(&self) -> Result<i64, Error> {
        match self {
            BlockSize::Number(n) => Ok(*n),
            BlockSize::Text(t) => t.trim().parse().map_err(|_| {
                Error::client(
                    format!("blockSize must be a whole number, got {t:?}"),
                    422,
                    "INVALID_BLOCK_SIZE",
                )
                .with_data(json!({"blockSize": t}))
            }),
        }
    }
}

/// The block size as pixels, or a 422 saying what is wrong with it.
pub(crate) fn block_size(requested: i64) -> Result<u32, Error> {
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

pub(crate) fn write_error(path: &Path, err: &dyn std::fmt::Display) -> Error {
    Error::server(
        format!("cannot write {}: {err}", path.display()),
        500,
        "WRITE_FAILED",
    )
}

/// The bytes of an `http://` URL or a file.
pub(crate) async fn load(source: &str) -> Result<Vec<u8>, Error> {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("http://") {
        return crate::http::get(source, FETCH_TIMEOUT)
            .await
            .map_err(|reason| {
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
pub(crate) fn output_name(source: &str, block: u32) -> String {
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
pub(crate) fn pixelate(src: &RgbaImage, block: u32) -> RgbaImage {
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
pub(crate) fn sample_image() -> RgbaImage {
    RgbaImage::from_fn(256, 256, |x, y| {
        let (dx, dy) = (x as i32 - 128, y as i32 - 128);
        if dx * dx + dy * dy < 60 * 60 {
            Rgba([250, 250, 250, 255])
        } else {
            Rgba([x as u8, y as u8, 255 - (x as u8 / 2 + y as u8 / 2), 255])
        }
    })
}

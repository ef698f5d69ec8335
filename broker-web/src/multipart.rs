//! `multipart/form-data` uploads, as moleculer-web's `multipart:` aliases take them: every
//! file part is one call of the action, with the form's plain fields in `ctx.meta.$multipart`
//! and the file's name and type in the call's meta. The body is read whole under the route's
//! limit first (streamed uploads are another matter), then split with `multer`.

use base64::Engine as _;
use broker_core::payload::{to_payload, Payload};
use broker_core::{CallOptions, Context, Error};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::errors;

/// One file part.
#[derive(Debug)]
pub(crate) struct FilePart {
    fieldname: String,
    filename: Option<String>,
    mimetype: String,
    encoding: String,
    bytes: Bytes,
}

/// A parsed form: its plain fields and its files (at most the route's file limit; busboy
/// ignores the parts past it, and so does this).
#[derive(Debug, Default)]
pub(crate) struct Form {
    pub(crate) fields: Map<String, Value>,
    files: Vec<FilePart>,
}

/// Splits `body` (of `content_type`, which names the boundary) into fields and files. A body
/// that is not a well-formed multipart form is a 400 `InvalidRequestBodyError`.
pub(crate) async fn parse(
    content_type: &str,
    body: Bytes,
    max_files: Option<usize>,
) -> Result<Form, Error> {
    let boundary = multer::parse_boundary(content_type).map_err(errors::invalid_body)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(errors::invalid_body)? {
        let name = field.name().unwrap_or_default().to_owned();
        let Some(filename) = field.file_name().map(str::to_owned) else {
            let text = field.text().await.map_err(errors::invalid_body)?;
            form.fields.insert(name, Value::String(text));
            continue;
        };
        let mimetype = field
            .content_type()
            .map_or("application/octet-stream".to_owned(), ToString::to_string);
        let encoding = field
            .headers()
            .get("content-transfer-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("7bit")
            .to_owned();
        let bytes = field.bytes().await.map_err(errors::invalid_body)?;
        if max_files.is_some_and(|max| form.files.len() >= max) {
            continue;
        }
        form.files.push(FilePart {
            fieldname: name,
            filename: Some(filename),
            mimetype,
            encoding,
            bytes,
        });
    }
    Ok(form)
}

/// Calls `action` once per file, in order, as children of `ctx`: params are `params` (the
/// path and query params) with the file's bytes base64-encoded in `$body`, as a raw-body
/// alias gives them; the call's meta has `fieldname`, `filename`, `encoding`, `mimetype`,
/// `$contentType` (the same type) and `$params`. The answer is the array of results, or the
/// one result when the route takes a single file (`max_files == Some(1)`), as moleculer-web
/// unwraps it. No file at all is a 400 `MoleculerClientError`, as moleculer-web answers.
pub(crate) async fn call_each(
    ctx: &Context,
    action: &str,
    params: &Map<String, Value>,
    form: Form,
    options: &CallOptions,
    max_files: Option<usize>,
) -> Result<Payload, Error> {
    if form.files.is_empty() {
        return Err(
            Error::new("MoleculerClientError", "File missing in the request").with_code(400),
        );
    }
    let single = form.files.len() == 1 && max_files == Some(1);
    let mut results: Vec<Payload> = Vec::with_capacity(form.files.len());
    for file in form.files {
        let mut call_params = params.clone();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&file.bytes);
        call_params.insert("$body".into(), Value::String(encoded));
        let mut meta = options.meta.clone().unwrap_or_default();
        meta.extend([
            ("fieldname".to_owned(), json!(file.fieldname)),
            ("filename".to_owned(), json!(file.filename)),
            ("encoding".to_owned(), json!(file.encoding)),
            ("$contentType".to_owned(), json!(file.mimetype)),
            ("mimetype".to_owned(), json!(file.mimetype)),
            ("$params".to_owned(), Value::Object(params.clone())),
        ]);
        let mut call_options = options.clone();
        call_options.meta = Some(meta);
        results.push(ctx.call_with(action, &call_params, call_options).await?);
    }
    if single {
        if let Some(one) = results.pop() {
            return Ok(one);
        }
    }
    to_payload(&results)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body in the shape curl's `-F` sends (CRLF lines, a quoted boundary-free name).
    fn body(boundary: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        b.extend_from_slice(&[0x89, b'P', b'N', b'G', 0, 1, 2]);
        b.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"more\"; filename=\"b.bin\"\r\n\r\nxyz\r\n--{boundary}--\r\n").as_bytes());
        b
    }

    #[tokio::test]
    async fn fields_and_files_are_split_and_the_file_limit_holds() {
        let ct = "multipart/form-data; boundary=------------------------abc123";
        let raw = Bytes::from(body("------------------------abc123"));
        let form = parse(ct, raw.clone(), None).await.expect("parses");
        assert_eq!(form.fields.get("title"), Some(&json!("holiday")));
        assert_eq!(form.files.len(), 2);
        assert_eq!(form.files[0].mimetype, "image/png");
        assert_eq!(&form.files[0].bytes[..], &[0x89, b'P', b'N', b'G', 0, 1, 2]);
        assert_eq!(form.files[1].mimetype, "application/octet-stream");
        let form = parse(ct, raw, Some(1)).await.expect("parses");
        assert_eq!(form.files.len(), 1);
        let err = parse("multipart/form-data", Bytes::from_static(b"x"), None).await;
        assert_eq!(err.map(|_| ()).map_err(|e| e.code()), Err(400));
    }
}

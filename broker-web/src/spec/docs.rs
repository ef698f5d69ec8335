//! The docs page: one self-contained HTML file (no CDN, no external asset) that fetches the
//! OpenAPI document, lists its operations by service, and sends a "try it" request with
//! `fetch()`. `?try=<operationId>&params=<json>` runs one operation on load.

const PAGE: &str = include_str!("docs.html");

/// The page, reading the OpenAPI document from `openapi_path`.
pub(crate) fn page(openapi_path: &str) -> String {
    let escaped = serde_json::to_string(openapi_path).unwrap_or_else(|_| "\"\"".into());
    // `escaped` is a JSON string literal; the page holds it between quotes already.
    let inner = escaped.trim_matches('"').replace("</", "<\\/");
    PAGE.replace("__OPENAPI_URL__", &inner)
}

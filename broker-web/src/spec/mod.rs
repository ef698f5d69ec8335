//! Specs generated from the live gateway and the cluster: OpenAPI 3.1, AsyncAPI 3.0 and an
//! offline docs page that renders the OpenAPI document.

pub(crate) mod asyncapi;
mod components;
pub(crate) mod docs;
mod fastest;
pub(crate) mod openapi;

/// Where the gateway serves its specs; `None` turns one off.
#[derive(Debug, Clone)]
pub(crate) struct SpecPaths {
    pub(crate) openapi: Option<String>,
    pub(crate) asyncapi: Option<String>,
    pub(crate) docs: Option<String>,
}

impl Default for SpecPaths {
    fn default() -> SpecPaths {
        SpecPaths {
            openapi: Some("/openapi.json".into()),
            asyncapi: Some("/asyncapi.json".into()),
            docs: Some("/docs".into()),
        }
    }
}

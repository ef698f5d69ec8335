// `version` as an integer or a string, and `dependencies`.
use broker_core::{service, Error, Service, ServiceVersion};
use std::sync::Arc;

struct Numbered;

#[service(name = "posts", version = 2, dependencies = ["users", "v2.comments"])]
impl Numbered {
    #[action]
    async fn list(&self) -> Result<Vec<u32>, Error> {
        Ok(vec![1, 2])
    }
}

struct Named;

#[service(version = "staging", name = "posts")]
impl Named {}

struct Unversioned;

#[service(name = "plain", dependencies = [])]
impl Unversioned {}

fn main() {
    let numbered = Arc::new(Numbered).schema();
    assert_eq!(numbered.version, Some(ServiceVersion::Number(2)));
    assert_eq!(numbered.full_name(), "v2.posts");
    assert_eq!(numbered.dependencies, ["users", "v2.comments"]);

    let named = Arc::new(Named).schema();
    assert_eq!(named.version, Some(ServiceVersion::Text("staging".into())));
    assert_eq!(named.full_name(), "staging.posts");

    let plain = Arc::new(Unversioned).schema();
    assert_eq!(plain.version, None);
    assert!(plain.dependencies.is_empty());
    assert!(plain.actions.is_empty());
}

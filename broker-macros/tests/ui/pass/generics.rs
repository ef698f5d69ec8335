// Generic impl blocks carry their parameters and bounds to the generated impl.
use broker_core::{service, Error, Service};
use std::sync::Arc;

struct Store<T> {
    items: Vec<T>,
}

#[service(name = "store")]
impl<T> Store<T>
where
    T: serde::Serialize + Clone + Send + Sync + 'static,
{
    #[action]
    async fn all(&self) -> Result<Vec<T>, Error> {
        Ok(self.items.clone())
    }
}

fn main() {
    let schema = Arc::new(Store {
        items: vec![1, 2, 3],
    })
    .schema();
    assert_eq!(schema.actions[0].name, "all");
}

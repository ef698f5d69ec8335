use broker_core::{service, Error};
use std::cell::Cell;

struct Counter {
    count: Cell<u32>,
}

#[service(name = "counter")]
impl Counter {
    #[action]
    async fn next(&self) -> Result<u32, Error> {
        self.count.set(self.count.get() + 1);
        Ok(self.count.get())
    }
}

fn main() {}

use broker_core::{action, Error};

struct Greeter;

impl Greeter {
    #[action]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter", name = "other")]
impl Greeter {
    #[action(timeout = "1s", timeout = "2s")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

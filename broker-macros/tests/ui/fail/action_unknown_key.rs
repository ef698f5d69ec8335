use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(name = "hello", params = "{}")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter", public)]
impl Greeter {
    #[action = "hello"]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(name "x")]
    async fn broken(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(name = "hello")]
    async fn hello_again(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

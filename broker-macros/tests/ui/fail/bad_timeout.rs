use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(timeout = "2 seconds")]
    async fn unit(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(timeout = "0s")]
    async fn zero(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(timeout = 1.5)]
    async fn float(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

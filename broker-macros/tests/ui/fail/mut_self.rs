use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&mut self) -> Result<(), Error> {
        Ok(())
    }

    #[action]
    async fn by_value(self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

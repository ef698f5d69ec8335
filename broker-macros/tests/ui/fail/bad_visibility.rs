use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(visibility = "internal")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

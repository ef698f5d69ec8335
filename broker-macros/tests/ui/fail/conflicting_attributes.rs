use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    #[event(name = "hello")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action]
    const NOT_A_METHOD: u8 = 1;
}

fn main() {}

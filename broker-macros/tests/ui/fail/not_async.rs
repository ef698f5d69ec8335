use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "user.created")]
    fn user_created(&self) {}

    #[started]
    fn started(&self) {}
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "", version = -1, dependencies = "users")]
impl Greeter {
    #[action(name = hello, visibility = 1)]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "", group = 2)]
    async fn user_created(&self) {}

    #[action(description = 3)]
    async fn described(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter", dependecies = ["users"])]
impl Greeter {
    #[action(timout = "2s")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(Name = "hi", strategie = "Random", bulkhed(concurrency = 2))]
    async fn hi(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "user.created", gruop = "mail")]
    async fn user_created(&self) {}

    #[action(bulkhead(max_queue = 2))]
    async fn queued(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

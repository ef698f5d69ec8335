use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(bulkhead(concurency = 2))]
    async fn typo(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead = 2)]
    async fn not_a_list(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead)]
    async fn bare(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead(concurrency = 0, max_queue_size = "10"))]
    async fn bad_values(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(bulkhead(concurrency = 1, concurrency = 2), timeout("1s"))]
    async fn duplicate(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "user.created", bulkhead(queue = 1))]
    async fn user_created(&self) {}
}

fn main() {}

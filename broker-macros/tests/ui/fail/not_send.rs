use broker_core::{service, Error};
use std::rc::Rc;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self) -> Result<u8, Error> {
        let rc = Rc::new(1);
        tokio::task::yield_now().await;
        Ok(*rc)
    }
}

fn main() {}

use broker_core::{service, Error};
use std::rc::Rc;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, params: Rc<u8>) -> Result<u8, Error> {
        Ok(*params)
    }
}

fn main() {}

use broker_core::{service, Error};

struct Users;

#[service(name = "users")]
#[emits(name = "user.created")]
#[emits(name = "user.removed", payload = u64, topic = "x")]
#[emits(payload = u64)]
#[emits(name = "user.updated", payload = u64)]
#[emits(name = "user.updated", payload = u64)]
impl Users {
    #[action]
    async fn get(&self) -> Result<u32, Error> {
        Ok(1)
    }
}

fn main() {}

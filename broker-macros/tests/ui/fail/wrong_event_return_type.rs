use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[event(name = "user.created")]
    async fn user_created(&self) -> u32 {
        1
    }

    #[started]
    async fn started(&self) -> bool {
        true
    }
}

fn main() {}

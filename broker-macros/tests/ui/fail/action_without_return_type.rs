use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self) {}
}

fn main() {}

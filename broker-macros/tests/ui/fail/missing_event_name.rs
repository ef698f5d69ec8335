use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[event]
    async fn user_created(&self) {}

    #[event(group = "mail")]
    async fn user_removed(&self) {}
}

fn main() {}

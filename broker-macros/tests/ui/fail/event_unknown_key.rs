use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[event(name = "user.created", groups = "mail")]
    async fn user_created(&self) {}
}

fn main() {}

use broker_core::service;

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[event(name = "user.created")]
    async fn user_created(&self) {}

    #[event(name = "user.removed")]
    async fn user_removed(&self) {}

    #[event(name = "user.created", group = "mail")]
    async fn user_created_mail(&self) {}
}

fn main() {}

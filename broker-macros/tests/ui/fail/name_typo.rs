use broker_core::service;

struct Greeter;

// One error each: the typo, not also a missing name.
#[service(nmae = "greeter")]
impl Greeter {
    #[event(nmae = "user.created")]
    async fn user_created(&self) {}
}

fn main() {}

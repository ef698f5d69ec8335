use broker_core::event;

struct Greeter;

impl Greeter {
    #[event(name = "user.created")]
    async fn user_created(&self) {}
}

fn main() {}

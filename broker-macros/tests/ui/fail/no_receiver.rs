use broker_core::{service, Context, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello() -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "user.created")]
    async fn user_created(ctx: Context) {
        let _ = ctx;
    }
}

fn main() {}

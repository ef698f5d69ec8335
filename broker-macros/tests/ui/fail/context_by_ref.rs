use broker_core::{service, Context, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, ctx: &Context) -> Result<u32, Error> {
        Ok(ctx.level())
    }
}

fn main() {}

use broker_core::{service, Context, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, ctx: Context, name: String, greeting: String) -> Result<(), Error> {
        let _ = (ctx, name, greeting);
        Ok(())
    }
}

fn main() {}

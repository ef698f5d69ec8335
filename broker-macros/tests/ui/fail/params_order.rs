use broker_core::{service, Context, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn swapped(&self, name: String, ctx: Context) -> Result<(), Error> {
        let _ = (name, ctx);
        Ok(())
    }

    #[action]
    async fn two_params(&self, name: String, greeting: String) -> Result<(), Error> {
        let _ = (name, greeting);
        Ok(())
    }
}

fn main() {}

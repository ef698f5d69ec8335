use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(tracing = "off")]
    async fn not_a_bool(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(tracing(tags(parms = ["id"])))]
    async fn typo(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(tracing(tags(params = "id"), enabled = 1))]
    async fn bad_values(&self) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "user.created", tracing(tags = true))]
    async fn user_created(&self) {}
}

fn main() {}

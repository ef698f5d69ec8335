use broker_core::{service, Error};

struct Greeter;

struct NotSerialize;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn plain(&self) -> String {
        String::new()
    }

    #[action]
    async fn not_serialize(&self) -> Result<NotSerialize, Error> {
        Ok(NotSerialize)
    }
}

fn main() {}

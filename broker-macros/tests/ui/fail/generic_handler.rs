use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello<T: serde::de::DeserializeOwned>(&self, params: T) -> Result<(), Error> {
        let _ = params;
        Ok(())
    }

    #[action]
    unsafe fn dangerous(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

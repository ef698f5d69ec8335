use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn create(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(name = "list")]
    async fn list_all(&self) -> Result<(), Error> {
        Ok(())
    }

    // A typo, next to an unrelated mistake: both are reported.
    #[before("crate")]
    async fn typo(&self) -> Result<(), Error> {
        Ok(())
    }

    #[after("create|list_all|get*")]
    async fn method_name(&self, result: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(result)
    }

    #[started(now)]
    async fn started(&self) {}
}

struct Empty;

#[service(name = "empty")]
impl Empty {
    #[error("fail")]
    async fn recover(&self, err: Error) -> Result<(), Error> {
        Err(err)
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn create(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before("")]
    async fn empty(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before("create||update")]
    async fn empty_part(&self) -> Result<(), Error> {
        Ok(())
    }

    #[before("create | update")]
    async fn spaces(&self) -> Result<(), Error> {
        Ok(())
    }

    #[after("create", "update")]
    async fn two(&self, result: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(result)
    }

    #[after(pattern = "create")]
    async fn keyed(&self, result: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(result)
    }

    #[error(create)]
    async fn ident(&self, err: Error) -> Result<(), Error> {
        Err(err)
    }

    #[error = "create"]
    async fn name_value(&self, err: Error) -> Result<(), Error> {
        Err(err)
    }
}

fn main() {}

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter", rest = "greeter")]
impl Greeter {
    #[action(rest = "FETCH /hello")]
    async fn unknown_method(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = "get /hello")]
    async fn lower_case(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = "REST /hello")]
    async fn rest_method(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = "GET hello")]
    async fn relative_path(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = "GET /a /b")]
    async fn too_many_parts(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = ["GET /ok", "POST nope", 3])]
    async fn array_items(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = [])]
    async fn empty_array(&self) -> Result<(), Error> {
        Ok(())
    }
}

struct Paths;

#[service(name = "paths", rest = ["/a", "b"])]
impl Paths {}

fn main() {}

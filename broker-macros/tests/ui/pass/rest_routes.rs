//! Every route form moleculer-web matches: a method and a path, a path alone (every method),
//! `*`, and arrays; base paths as a string or an array.

use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter", rest = "/")]
impl Greeter {
    #[action(rest = "GET /hello/:name")]
    async fn hello(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = ["POST /a", "PUT /a", "PATCH /a", "DELETE /a", "OPTIONS /a", "HEAD /a"])]
    async fn methods(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = "/any", name = "any")]
    async fn any_method(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(rest = ["* /star"], visibility = "public")]
    async fn star(&self) -> Result<(), Error> {
        Ok(())
    }
}

struct Paths;

#[service(name = "paths", version = 1, rest = ["/a", "/b/c"])]
impl Paths {
    #[action(rest = "GET /x")]
    async fn x(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {
    let _ = (Greeter, Paths);
}

use broker_core::{service, Error};

struct S;

#[service(name = "s", cache(ttl = 0))]
impl S {
    #[action(cache(ttl = "soon", lock = 1, keys = "id"))]
    async fn a(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(cache = 3)]
    async fn b(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(cache(key = ["id"]))]
    async fn c(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

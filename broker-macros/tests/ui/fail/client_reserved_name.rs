use broker_core::{service, Error};

struct Factory;

#[service(name = "factory")]
#[emits(name = "made", payload = u32)]
#[emits(name = "made!", payload = u32)]
impl Factory {
    #[action]
    async fn new(&self) -> Result<u32, Error> {
        Ok(1)
    }

    #[action]
    async fn with_timeout(&self) -> Result<u32, Error> {
        Ok(2)
    }
}

struct Quiet;

// No client: the names are free.
#[service(name = "quiet", client = false)]
impl Quiet {
    #[action]
    async fn new(&self) -> Result<u32, Error> {
        Ok(1)
    }
}

#[service(name = "bad", client = 3)]
impl Bad {}

struct Bad;

fn main() {}

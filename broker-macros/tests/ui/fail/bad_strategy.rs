use broker_core::{service, Error};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action(strategy = "Fastest")]
    async fn unknown(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "shard", shard_key = "id")]
    async fn wrong_case(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Random", shard_key = "id")]
    async fn key_without_shard(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(shard_key = "id")]
    async fn key_alone(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = Shard)]
    async fn not_a_string(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(strategy = "Shard", shard_key = "")]
    async fn empty_key(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

use broker_core::{client, Error};

#[client(name = "math")]
trait Math {
    fn add(&self, a: i64) -> Result<i64, Error>;
    async fn sub(&self, a: i64, b: i64) -> Result<i64, Error>;
    async fn mul<T>(&self, a: T) -> Result<i64, Error>;
    async fn div(a: i64) -> Result<i64, Error>;
    async fn neg(&self, a: i64);
    async fn abs(&self, a: i64) -> Result<i64, Error> {
        Ok(a)
    }
    #[action(nmae = "pow")]
    async fn pow(&self, a: i64) -> Result<i64, Error>;
    const PI: f64;
}

#[client(version = 2)]
trait Nameless {}

#[client(name = "x")]
struct NotATrait;

fn main() {}

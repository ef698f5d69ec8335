use broker_core::{service, Error};

struct Calc;

#[service(name = "calc")]
impl Calc {
    #[action(subject = "calc add")]
    async fn spaces(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "calc..add")]
    async fn empty_token(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "calc.>.add")]
    async fn tail_not_last(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "calc.a*")]
    async fn partial_wildcard(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "$SRV.PING")]
    async fn reserved(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "")]
    async fn empty(&self) -> Result<(), Error> {
        Ok(())
    }

    #[action(subject = "calc.mul")]
    async fn fine(&self) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}

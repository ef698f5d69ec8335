// The shapes a `#[periodic]` method may take, and the keys it accepts.
use broker_core::periodic::{Overlap, RunOn, TaskContext};
use broker_core::{service, Error};
use std::time::Duration;

struct Jobs;

#[derive(Debug)]
struct MyError;

impl From<MyError> for Error {
    fn from(_: MyError) -> Error {
        Error::new("MyError", "failed")
    }
}

#[service(name = "jobs")]
impl Jobs {
    /// No context, no result.
    #[periodic(every = "5s")]
    async fn plain(&self) {}

    /// The context, and an error of the user's own type.
    #[periodic(cron = "*/10 * * * * *", name = "ten", overlap = "concurrent")]
    async fn with_ctx(&self, ctx: TaskContext) -> Result<(), MyError> {
        let _ = ctx.scheduled_time();
        Ok(())
    }

    /// A crontab expression (five fields), an integer period, nicknames, the path form.
    #[broker_core::periodic(cron = "@hourly", once = "cluster", lock_ttl = 60000)]
    async fn hourly(&self, _ctx: TaskContext) -> Result<(), Error> {
        Ok(())
    }

    #[periodic(every = 250, once = "node", overlap = "skip")]
    async fn quick(&self) -> Result<(), Error> {
        Ok(())
    }

    #[periodic(cron = "0 3 * * MON-FRI", overlap = "queue")]
    async fn weekdays(&self) {}

    #[periodic(every = "1d")]
    async fn daily(&self) {}
}

fn main() {
    let schema = broker_core::Service::schema(std::sync::Arc::new(Jobs));
    let names: Vec<&str> = schema.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["plain", "ten", "hourly", "quick", "weekdays", "daily"]);
    let t = &schema.tasks;
    assert_eq!(t[0].schedule.period(), Some(Duration::from_secs(5)));
    assert_eq!(t[1].schedule.expression(), Some("*/10 * * * * *"));
    assert_eq!(t[1].overlap, Overlap::Concurrent);
    assert_eq!(t[2].run_on, RunOn::Cluster);
    assert_eq!(t[2].lock_ttl, Duration::from_secs(60));
    assert_eq!(t[3].schedule.period(), Some(Duration::from_millis(250)));
    assert_eq!(t[3].run_on, RunOn::EveryNode);
    assert_eq!(t[4].overlap, Overlap::Queue);
    assert_eq!(t[5].schedule.to_string(), "every 1d");
}

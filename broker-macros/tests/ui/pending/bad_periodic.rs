use broker_core::periodic::TaskContext;
use broker_core::service;

struct Jobs;

#[service(name = "jobs")]
impl Jobs {
    #[periodic]
    async fn no_schedule(&self) {}

    #[periodic(every = "5s", cron = "0 * * * * *")]
    async fn both(&self) {}

    #[periodic(cron = "0 */5 * * *  * *")]
    async fn bad_cron(&self) {}

    #[periodic(cron = "61 * * * * *")]
    async fn out_of_range(&self) {}

    #[periodic(every = "0s")]
    async fn zero(&self) {}

    #[periodic(every = "5 seconds")]
    async fn bad_period(&self) {}

    #[periodic(every = "5s", once = "everywhere", overlap = "wait")]
    async fn bad_values(&self) {}

    #[periodic(every = "5s", lock_ttl = "30s")]
    async fn ttl_without_cluster(&self) {}

    #[periodic(every = "5s", evrey = "1s")]
    async fn typo(&self) {}

    #[periodic(every = "5s")]
    async fn two_contexts(&self, ctx: TaskContext, other: TaskContext) {}

    #[periodic(every = "5s")]
    async fn by_ref(&self, ctx: &TaskContext) {}

    #[periodic(every = "5s")]
    fn not_async(&self) {}

    #[periodic(every = "5s", name = "plain")]
    async fn first(&self) {}

    #[periodic(every = "1m", name = "plain")]
    async fn second(&self) {}
}

fn main() {}

use broker_core::{service, Context};

struct Jobs;

#[service(name = "jobs")]
impl Jobs {
    // A task gets a `TaskContext`, not a call's `Context`.
    #[periodic(every = "5s")]
    async fn wrong_context(&self, ctx: Context) {
        let _ = ctx;
    }

    // A task returns `()` or `Result<(), E>`.
    #[periodic(every = "5s")]
    async fn returns_value(&self) -> u32 {
        1
    }
}

fn main() {}

use broker_core::periodic;

struct Jobs;

impl Jobs {
    #[periodic(every = "5s")]
    async fn tick(&self) {}
}

fn main() {}

// Event handlers returning `()` or `Result<(), E>`, with a group; lifecycle hooks; settings and
// metadata providers.
use broker_core::{service, Context, Error, Service};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Mailer {
    created: AtomicUsize,
}

#[service(name = "mailer")]
impl Mailer {
    #[event(name = "user.created", group = "mail")]
    async fn user_created(&self, ctx: Context, user: serde_json::Value) {
        let _ = (ctx.event_name(), user);
    }

    #[event(name = "user.*")]
    async fn any_user(&self, _ctx: Context) -> Result<(), Error> {
        Ok(())
    }

    #[created]
    async fn created(&self) {
        self.created.fetch_add(1, Ordering::SeqCst);
    }

    #[started]
    async fn started(&self) -> Result<(), Error> {
        Ok(())
    }

    #[stopped]
    async fn stopped(&self) -> Result<(), Error> {
        Ok(())
    }

    #[settings]
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({ "from": "noreply@example.com" })
    }

    #[metadata]
    fn meta(&self) -> serde_json::Value {
        serde_json::json!({ "region": "eu" })
    }
}

fn main() {
    let schema = Arc::new(Mailer::default()).schema();
    assert_eq!(schema.events[0].name, "user.created");
    assert_eq!(schema.events[0].group.as_deref(), Some("mail"));
    assert_eq!(schema.events[1].name, "user.*");
    assert_eq!(schema.events[1].group, None);
    assert!(schema.created.is_some());
    assert!(schema.started.is_some());
    assert!(schema.stopped.is_some());
    assert_eq!(schema.settings["from"], "noreply@example.com");
    assert_eq!(schema.metadata["region"], "eu");
}

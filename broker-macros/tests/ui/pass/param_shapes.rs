// Every handler parameter shape: (), (ctx), (params), (ctx, params), for actions and events.
use broker_core::{service, Context, Error, Service};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct Params {
    name: String,
}

struct Shapes;

#[service(name = "shapes")]
impl Shapes {
    #[action]
    async fn nothing(&self) -> Result<u32, Error> {
        Ok(1)
    }

    #[action]
    async fn ctx_only(&self, ctx: Context) -> Result<u32, Error> {
        Ok(ctx.level())
    }

    #[action]
    async fn params_only(&self, params: Params) -> Result<String, Error> {
        Ok(params.name)
    }

    #[action]
    async fn both(&self, ctx: Context, params: Params) -> Result<String, Error> {
        Ok(format!("{}@{}", params.name, ctx.level()))
    }

    #[action]
    async fn destructured(&self, Params { name }: Params) -> Result<String, Error> {
        Ok(name)
    }

    #[action]
    async fn full_path_context(&self, _ctx: broker_core::Context) -> Result<(), Error> {
        Ok(())
    }

    #[event(name = "e.nothing")]
    async fn on_nothing(&self) {}

    #[event(name = "e.ctx")]
    async fn on_ctx(&self, _ctx: Context) {}

    #[event(name = "e.params")]
    async fn on_params(&self, _payload: Params) {}

    #[event(name = "e.both")]
    async fn on_both(&self, _ctx: Context, _payload: serde_json::Value) {}

    #[action]
    async fn r#type(&self) -> Result<(), Error> {
        Ok(())
    }

    // Not a handler: left alone.
    fn helper(&self) -> u32 {
        7
    }
}

fn main() {
    let schema = Arc::new(Shapes).schema();
    assert_eq!(schema.name, "shapes");
    let actions: Vec<&str> = schema.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        actions,
        [
            "nothing",
            "ctx_only",
            "params_only",
            "both",
            "destructured",
            "full_path_context",
            "type",
        ]
    );
    let events: Vec<&str> = schema.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(events, ["e.nothing", "e.ctx", "e.params", "e.both"]);
    assert_eq!(Shapes.helper(), 7);
}

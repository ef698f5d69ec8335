//! Typed clients: what the clients `#[service]` and `#[client]` generate are made of.
//!
//! A generated client (`GreeterClient` for `#[service(name = "greeter")] impl Greeter`) has one
//! async method per action, taking the action's params type and returning its result type, so
//! a renamed action or a params value of the wrong type is a compile error at the call site.
//! Each method is a [`Caller::call`]: the typed call path of [`Broker::call_owned`], so a local
//! call moves its params and result without JSON and costs no more than a direct typed call.
//!
//! A client made with `GreeterClient::new(&broker)` calls from the broker; one made with
//! [`Context::client`] (or `GreeterClient::from_context(&ctx)`) calls as a child of that
//! context, as [`Context::call`] does: meta, level, request ID and the remaining timeout carry
//! over.
//!
//! ```
//! use broker_core::{service, Broker, Error};
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! struct AddParams {
//!     a: i64,
//!     b: i64,
//! }
//!
//! struct Math;
//!
//! #[service(name = "math", version = 2)]
//! impl Math {
//!     #[action]
//!     async fn add(&self, p: AddParams) -> Result<i64, Error> {
//!         Ok(p.a + p.b)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder().node_id("client-doc").build();
//! broker.add_service(Math).await?;
//! broker.start().await?;
//! // Calls `v2.math.add`; `add("2 + 3")` would not compile.
//! let math = MathClient::new(&broker).with_timeout(Duration::from_secs(1));
//! assert_eq!(math.add(AddParams { a: 2, b: 3 }).await?, 5);
//! broker.stop().await
//! # }
//! ```

use crate::broker::Broker;
use crate::context::{CallOptions, Context, EmitOptions};
use crate::error::Error;
use crate::packet::JsonMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// What a typed client's calls go through: a broker or a handler's context, and the call
/// options the client adds to every call.
#[derive(Clone)]
pub struct Caller {
    via: Via,
    options: CallOptions,
}

#[derive(Clone)]
enum Via {
    Broker(Broker),
    Context(Context),
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match &self.via {
            Via::Broker(_) => "broker",
            Via::Context(_) => "context",
        };
        f.debug_struct("Caller")
            .field("via", &via)
            .field("options", &self.options)
            .finish()
    }
}

impl Caller {
    /// Calls from `broker` (top-level calls).
    pub fn new(broker: &Broker) -> Caller {
        Caller {
            via: Via::Broker(broker.clone()),
            options: CallOptions::default(),
        }
    }

    /// Calls as children of `ctx`, as [`Context::call`] does.
    pub fn from_context(ctx: &Context) -> Caller {
        Caller {
            via: Via::Context(ctx.clone()),
            options: CallOptions::default(),
        }
    }

    /// The options added to every call.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The options added to every call, to change.
    pub fn options_mut(&mut self) -> &mut CallOptions {
        &mut self.options
    }

    /// Replaces the options added to every call.
    pub fn with_options(mut self, options: CallOptions) -> Caller {
        self.options = options;
        self
    }

    /// Sets the timeout of every call (a parent context's remaining budget still applies).
    pub fn with_timeout(mut self, timeout: Duration) -> Caller {
        self.options.timeout = Some(timeout);
        self
    }

    /// Sends every call to this node, bypassing balancing.
    pub fn with_node(mut self, node_id: impl Into<String>) -> Caller {
        self.options.node_id = Some(node_id.into());
        self
    }

    /// Adds this meta (a JSON object; anything else is ignored) to every call and emit.
    pub fn with_meta(mut self, meta: Value) -> Caller {
        if let Value::Object(map) = meta {
            self.options.meta = Some(map);
        }
        self
    }

    /// Sends these headers (a JSON object; anything else is ignored) with every call and
    /// emit (protocol 5).
    pub fn with_headers(mut self, headers: Value) -> Caller {
        if let Value::Object(map) = headers {
            self.options.headers = Some(map);
        }
        self
    }

    /// Retries failed calls this many times (errors the broker's retry policy accepts).
    pub fn with_retries(mut self, retries: u32) -> Caller {
        self.options.retries = Some(retries);
        self
    }

    /// Calls `action` (a full name, `v2.math.add`) with params it owns: see
    /// [`Broker::call_owned`].
    pub async fn call<P: ClientParams, R: ClientReply>(
        &self,
        action: &str,
        params: P,
    ) -> Result<R, Error> {
        let options = self.options.clone();
        match &self.via {
            Via::Broker(broker) => broker.call_owned_with(action, params, options).await,
            Via::Context(ctx) => ctx.call_owned_with(action, params, options).await,
        }
    }

    /// Calls an action that takes no params (it gets `{}`).
    pub async fn call_without_params<R: ClientReply>(&self, action: &str) -> Result<R, Error> {
        self.call(action, JsonMap::new()).await
    }

    /// Emits `event` (one handler per group), with the meta and headers of the options.
    pub async fn emit<T: ClientPayload>(&self, event: &str, payload: T) -> Result<(), Error> {
        let options = self.emit_options();
        match &self.via {
            Via::Broker(broker) => broker.emit_with(event, payload, options).await,
            Via::Context(ctx) => ctx.emit_with(event, payload, options).await,
        }
    }

    /// Broadcasts `event` (every handler on every node), with the meta and headers of the
    /// options.
    pub async fn broadcast<T: ClientPayload>(&self, event: &str, payload: T) -> Result<(), Error> {
        let options = self.emit_options();
        match &self.via {
            Via::Broker(broker) => broker.broadcast_with(event, payload, options).await,
            Via::Context(ctx) => ctx.broadcast_with(event, payload, options).await,
        }
    }

    fn emit_options(&self) -> EmitOptions {
        EmitOptions {
            meta: self.options.meta.clone(),
            headers: self.options.headers.clone(),
            ..EmitOptions::default()
        }
    }
}

/// A typed client, as `#[service]` and `#[client]` generate them; [`Context::client`] and
/// [`Broker::client`] make one.
pub trait Client: Sized {
    /// The full name of the service it calls (`v2.math`).
    const SERVICE: &'static str;

    /// The client calling through `caller`.
    fn from_caller(caller: Caller) -> Self;
}

/// What a typed client can send as an action's params: a value it can move to a local
/// handler or serialize for a remote one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the params of a typed client call: it must be `Serialize + Send + 'static`",
    label = "not `Serialize + Send + 'static`",
    note = "derive `Serialize` on the action's params type (next to `Deserialize`) to call it through its client"
)]
pub trait ClientParams: Serialize + Send + 'static {}

impl<T: Serialize + Send + 'static> ClientParams for T {}

/// What a typed client can return as an action's result.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a typed client call: it must be `DeserializeOwned + 'static`",
    label = "not `DeserializeOwned + 'static`",
    note = "derive `Deserialize` on the action's result type (next to `Serialize`) to call it through its client"
)]
pub trait ClientReply: DeserializeOwned + 'static {}

impl<T: DeserializeOwned + 'static> ClientReply for T {}

/// What a typed client can emit as an event's payload.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be emitted by a typed client: it must be `Serialize`",
    label = "not `Serialize`",
    note = "derive `Serialize` on the event's payload type"
)]
pub trait ClientPayload: Serialize {}

impl<T: Serialize> ClientPayload for T {}

/// The `T` of an action's `Result<T, E>` return type, for return types written through an
/// alias of `Result`.
#[doc(hidden)]
pub trait ActionOk {
    /// `T`.
    type Ok;
}

impl<T, E> ActionOk for Result<T, E> {
    type Ok = T;
}

impl Context {
    /// A typed client calling as children of this context (see [`Context::call`]):
    /// `ctx.client::<GreeterClient>().hello(params).await?`.
    pub fn client<C: Client>(&self) -> C {
        C::from_caller(Caller::from_context(self))
    }
}

impl Broker {
    /// A typed client calling from this broker: the same as `GreeterClient::new(&broker)`.
    pub fn client<C: Client>(&self) -> C {
        C::from_caller(Caller::new(self))
    }
}

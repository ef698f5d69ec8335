//! Values that move between a caller and a handler in one process.
//!
//! A call whose caller and handler share a process has no need of JSON: the params value can
//! move from the caller to the handler, and the handler's result back. [`TypedValue`] carries
//! such a value beside the means to serialize it, so that anything that does need JSON (a
//! middleware reading `ctx.params()`, a call that turns out to go to another node, a handler or
//! caller expecting another type) still gets it, serialized on demand. A handler whose
//! parameter type is the value's type takes it as it is; the generated code of `#[action]`
//! does that, and hands its typed result back through the context when the caller asked for
//! it (see [`Context`]'s reply slot and [`ReplyProbe`]).

use crate::context::Context;
use crate::error::Error;
use crate::payload::{from_payload, to_payload, Payload};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;

/// What a moved value must offer: itself, as `Any`, and its JSON on demand.
trait Movable: Send {
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn to_payload(&self) -> Result<Payload, Error>;
}

impl<T: Serialize + Send + 'static> Movable for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn to_payload(&self) -> Result<Payload, Error> {
        to_payload(self)
    }
}

/// A value of some serializable type, moving between caller and handler without JSON.
pub(crate) struct TypedValue(Box<dyn Movable>);

impl fmt::Debug for TypedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypedValue")
    }
}

impl TypedValue {
    /// Wraps a value.
    pub(crate) fn new<T: Serialize + Send + 'static>(value: T) -> TypedValue {
        TypedValue(Box::new(value))
    }

    /// Whether it holds a `T`.
    pub(crate) fn is<T: 'static>(&self) -> bool {
        self.0.as_any().is::<T>()
    }

    /// The value as a `T`, moved out, or itself when it holds another type.
    pub(crate) fn downcast<T: 'static>(self) -> Result<T, TypedValue> {
        if !self.is::<T>() {
            return Err(self);
        }
        match self.0.into_any().downcast::<T>() {
            Ok(value) => Ok(*value),
            // Unreachable after the check above; an error keeps the signature honest.
            Err(_) => unreachable_mismatch(),
        }
    }

    /// Its JSON text.
    pub(crate) fn to_payload(&self) -> Result<Payload, Error> {
        self.0.to_payload()
    }

    /// As a `T`: moved when it is one, else through its JSON.
    pub(crate) fn into_type<T: DeserializeOwned + 'static>(self) -> Result<T, Error> {
        match self.downcast::<T>() {
            Ok(value) => Ok(value),
            Err(other) => from_payload(other.to_payload()?),
        }
    }
}

#[cold]
fn unreachable_mismatch<T>() -> T {
    // `is::<T>()` and `downcast::<T>()` agree; a failure here would be a bug in `Any`.
    panic!("TypedValue: downcast failed after a successful type check")
}

/// A call's result as it comes back to the caller: JSON text, or the handler's value moved.
#[derive(Debug)]
pub(crate) enum Reply {
    /// JSON text (from another node, or a handler whose result was serialized).
    Json(Payload),
    /// The value a local handler returned, not serialized.
    Typed(TypedValue),
}

impl Reply {
    /// As JSON text (serializing a moved value).
    pub(crate) fn into_payload(self) -> Result<Payload, Error> {
        match self {
            Reply::Json(payload) => Ok(payload),
            Reply::Typed(value) => value.to_payload(),
        }
    }

    /// As the caller's type: a moved value of that type as it is, anything else through JSON.
    pub(crate) fn into_type<R: DeserializeOwned + 'static>(self) -> Result<R, Error> {
        match self {
            Reply::Json(payload) => from_payload(payload),
            Reply::Typed(value) => value.into_type(),
        }
    }
}

/// Moves an action's typed result into its context's reply slot (the caller takes it from
/// there) and returns the placeholder the handler chain carries instead.
fn move_reply<T: Serialize + Send + 'static, E: Into<Error>>(
    out: Result<T, E>,
    ctx: &Context,
) -> Result<Payload, Error> {
    match out {
        Ok(value) => {
            ctx.set_typed_reply(TypedValue::new(value));
            Ok(crate::payload::null_payload())
        }
        Err(err) => Err(err.into()),
    }
}

/// Picks, in the code `#[action]` generates, how a result of type `R` goes back:
/// `(&&ReplyProbe::<R>::new()).mover()` resolves to [`MovesReply`] when `R` is
/// `Result<T, E>` with a `T` that can move (`Send + 'static`), else (one auto-deref further)
/// to [`SerializesReply`], which gives `None`: the result is serialized as before. The traits
/// must be in scope.
#[doc(hidden)]
pub struct ReplyProbe<R>(PhantomData<fn() -> R>);

impl<R> fmt::Debug for ReplyProbe<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyProbe")
    }
}

impl<R> ReplyProbe<R> {
    /// A probe for `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> ReplyProbe<R> {
        ReplyProbe(PhantomData)
    }
}

/// The function that moves a result into the reply slot of a context.
#[doc(hidden)]
pub type Mover<R> = fn(R, &Context) -> Result<Payload, Error>;

/// The probe's choice for a result that can move to the caller.
#[doc(hidden)]
pub trait MovesReply<R> {
    /// The function moving the result.
    fn mover(&self) -> Option<Mover<R>>;
}

impl<T: Serialize + Send + 'static, E: Into<Error>> MovesReply<Result<T, E>>
    for &ReplyProbe<Result<T, E>>
{
    fn mover(&self) -> Option<Mover<Result<T, E>>> {
        Some(move_reply::<T, E>)
    }
}

/// The probe's choice for any other result: none, it is serialized.
#[doc(hidden)]
pub trait SerializesReply<R> {
    /// `None`.
    fn mover(&self) -> Option<Mover<R>> {
        None
    }
}

impl<R> SerializesReply<R> for ReplyProbe<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    #[test]
    fn a_value_moves_to_its_own_type_and_converts_through_json_to_others() {
        let moved: Point = TypedValue::new(Point { x: 1, y: 2 })
            .into_type()
            .expect("same type");
        assert_eq!(moved, Point { x: 1, y: 2 });

        let value: serde_json::Value = TypedValue::new(Point { x: 1, y: 2 })
            .into_type()
            .expect("through JSON");
        assert_eq!(value, serde_json::json!({"x": 1, "y": 2}));

        let err = TypedValue::new(Point { x: 1, y: 2 })
            .into_type::<Vec<u8>>()
            .expect_err("an object is not a list");
        assert!(err.message().contains("does not fit"), "{err}");

        let text = Reply::Typed(TypedValue::new(Point { x: 3, y: 4 }))
            .into_payload()
            .expect("serializes");
        assert_eq!(text.get(), r#"{"x":3,"y":4}"#);
    }

    #[test]
    // The two borrows are how the probe picks, written as the generated code writes them.
    #[allow(clippy::needless_borrow)]
    fn the_probe_moves_only_results_that_can_move() {
        #[allow(unused_imports)]
        use super::{MovesReply as _, SerializesReply as _};
        assert!((&&ReplyProbe::<Result<Point, Error>>::new())
            .mover()
            .is_some());
        // Not `Send`: serialized.
        struct NotSend(PhantomData<*const ()>);
        impl Serialize for NotSend {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_unit()
            }
        }
        assert!((&&ReplyProbe::<Result<NotSend, Error>>::new())
            .mover()
            .is_none());
        // Not a `Result`: left to the `ActionResult` check.
        assert!((&&ReplyProbe::<u8>::new()).mover().is_none());
    }
}

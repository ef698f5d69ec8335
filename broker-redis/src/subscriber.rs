//! The subscriber connection. On a plain TCP or Unix socket it is our own: the socket is read
//! into one buffer, every complete frame in it is parsed at once (see [`crate::resp`]), and
//! each message's payload is handed on as a slice of that buffer. That is one task fewer per
//! message than redis-rs's pub/sub (whose connection runs its own task and sends each parsed
//! message over a channel), no copy of the payload, and no allocation per channel name.
//! Over TLS the subscriber stays redis-rs's `PubSub`, which brings the TLS set-up.

use crate::conn::{self, Conn};
use crate::resp::{self, Frame};
use crate::supervisor::bounded;
use crate::transporter::Options;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use redis::aio::{PubSubSink, PubSubStream};
use redis::{Client, RedisError, Value};
use std::ops::Range;

/// A message as it arrived: its channel name and its payload.
pub(crate) type Message = (Bytes, Bytes);

/// The subscriber connection.
pub(crate) enum Subscriber {
    /// Ours, on a TCP or Unix socket.
    Lean(Box<Lean>),
    /// redis-rs's `PubSub`, split (for TLS).
    RedisRs(PubSubSink, PubSubStream),
}

/// The state of our own subscriber connection.
pub(crate) struct Lean {
    conn: Conn,
    /// Messages that arrived while waiting for the answer to a command.
    pending: Vec<Message>,
    /// Where the messages of the frames being taken lie in the buffer (reused).
    spans: Vec<(Range<usize>, Range<usize>)>,
}

impl Subscriber {
    /// Opens the subscriber connection (and authenticates it) within the command timeout.
    pub(crate) async fn open(client: &Client, options: &Options) -> Result<Subscriber, RedisError> {
        match Conn::open(client, options).await? {
            Some(conn) => Ok(Subscriber::Lean(Box::new(Lean {
                conn,
                pending: Vec::new(),
                spans: Vec::new(),
            }))),
            None => {
                let pubsub = bounded(options.command_timeout, client.get_async_pubsub()).await?;
                let (sink, stream) = pubsub.split();
                Ok(Subscriber::RedisRs(sink, stream))
            }
        }
    }

    /// Waits for messages, then appends every one available now to `into`. Cancel-safe. An
    /// error means the connection is gone.
    pub(crate) async fn recv(&mut self, into: &mut Vec<Message>) -> Result<(), RedisError> {
        match self {
            Subscriber::Lean(lean) => lean.recv(into).await,
            Subscriber::RedisRs(_, stream) => {
                let Some(msg) = stream.next().await else {
                    return Err(conn::closed());
                };
                into.push(copy_msg(&msg));
                while let Some(Some(msg)) = stream.next().now_or_never() {
                    into.push(copy_msg(&msg));
                }
                Ok(())
            }
        }
    }

    /// Subscribes the channels and waits for Redis to confirm each. A refusal (an ACL without
    /// them) is an error of kind `Extension`; anything else means the connection failed.
    pub(crate) async fn subscribe<S: AsRef<str>>(
        &mut self,
        channels: &[S],
    ) -> Result<(), RedisError> {
        match self {
            Subscriber::Lean(lean) => lean.subscribe(channels).await,
            Subscriber::RedisRs(sink, _) => {
                let channels: Vec<&str> = channels.iter().map(AsRef::as_ref).collect();
                sink.subscribe(&channels).await
            }
        }
    }

    /// Sends a `PING` and waits for the answer.
    pub(crate) async fn ping(&mut self) -> Result<(), RedisError> {
        match self {
            Subscriber::Lean(lean) => match lean.call(&[b"PING"]).await? {
                Frame::Error(text) => Err(conn::refused("Redis refused PING", text)),
                _ => Ok(()),
            },
            Subscriber::RedisRs(sink, _) => sink.ping::<Value>().await.map(drop),
        }
    }
}

impl Lean {
    async fn recv(&mut self, into: &mut Vec<Message>) -> Result<(), RedisError> {
        loop {
            into.append(&mut self.pending);
            if let Some(frame) = self.take_frames(into, false)? {
                tracing::debug!(
                    ?frame,
                    "unexpected frame on the Redis subscriber connection"
                );
            }
            if !into.is_empty() {
                return Ok(());
            }
            self.conn.fill().await?;
        }
    }

    async fn subscribe<S: AsRef<str>>(&mut self, channels: &[S]) -> Result<(), RedisError> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(channels.len() + 1);
        args.push(b"SUBSCRIBE");
        args.extend(channels.iter().map(|c| c.as_ref().as_bytes()));
        self.conn.queue(&args);
        self.conn.flush().await?;
        let mut confirmed = 0;
        while confirmed < channels.len() {
            match self.reply().await? {
                Frame::Subscribed => confirmed += 1,
                Frame::Error(text) => return Err(conn::refused("Redis refused SUBSCRIBE", text)),
                other => tracing::debug!(frame = ?other, "unexpected answer to SUBSCRIBE"),
            }
        }
        Ok(())
    }

    /// Sends a command and returns its answer (messages arriving meanwhile are kept).
    async fn call(&mut self, args: &[&[u8]]) -> Result<Frame, RedisError> {
        self.conn.queue(args);
        self.conn.flush().await?;
        self.reply().await
    }

    /// The next frame that is not a message; messages before it go to `pending`.
    async fn reply(&mut self) -> Result<Frame, RedisError> {
        loop {
            let mut pending = std::mem::take(&mut self.pending);
            let found = self.take_frames(&mut pending, true);
            self.pending = pending;
            if let Some(frame) = found? {
                return Ok(frame);
            }
            self.conn.fill().await?;
        }
    }

    /// Takes the complete frames at the start of the buffer: messages are appended to `into`
    /// (as slices of one frozen piece of the buffer); with `stop_at_reply`, the first other
    /// frame ends the walk and is returned, otherwise other frames are skipped.
    fn take_frames(
        &mut self,
        into: &mut Vec<Message>,
        stop_at_reply: bool,
    ) -> Result<Option<Frame>, RedisError> {
        let mut at = 0;
        let mut reply = None;
        self.spans.clear();
        while let Some((frame, len)) =
            resp::parse(&self.conn.buf[at..]).map_err(conn::protocol_error)?
        {
            let base = at;
            at += len;
            match frame {
                Frame::Message { channel, payload } => self.spans.push((
                    base + channel.start..base + channel.end,
                    base + payload.start..base + payload.end,
                )),
                other if stop_at_reply => {
                    reply = Some(other);
                    break;
                }
                other => {
                    tracing::debug!(frame = ?other, "unexpected frame on the Redis subscriber connection")
                }
            }
        }
        if at > 0 {
            let taken = self.conn.buf.split_to(at).freeze();
            into.extend(
                self.spans
                    .drain(..)
                    .map(|(channel, payload)| (taken.slice(channel), taken.slice(payload))),
            );
        }
        Ok(reply)
    }
}

/// redis-rs lends a message's bytes: copied here.
fn copy_msg(msg: &redis::Msg) -> Message {
    (
        Bytes::copy_from_slice(msg.get_channel_name().as_bytes()),
        Bytes::copy_from_slice(msg.get_payload_bytes()),
    )
}

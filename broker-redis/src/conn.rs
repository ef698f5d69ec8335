//! Our own connection to Redis on a plain TCP or Unix socket: opened and authenticated here,
//! read into one buffer whose complete frames are parsed in place (see [`crate::resp`]).
//! Both the subscriber and the publisher use it, each from the one task that owns it, so no
//! message crosses a task to reach the socket. Over TLS, redis-rs's connections are used
//! instead (they bring the TLS set-up): [`Conn::open`] says so by returning `None`.

use crate::resp::{self, Frame};
use crate::supervisor::bounded;
use crate::transporter::Options;
use bytes::BytesMut;
use redis::{Client, ConnectionAddr, ErrorKind, RedisError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The read buffer grows by at least this much when it runs low.
const READ_CHUNK: usize = 64 * 1024;

/// A socket of either kind.
trait Socket: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Socket for T {}

/// An open, authenticated connection.
pub(crate) struct Conn {
    socket: Box<dyn Socket>,
    /// What was read and not taken yet.
    pub(crate) buf: BytesMut,
    /// Commands being written (reused).
    out: Vec<u8>,
    /// The longest wait for an answer (the transporter's command timeout), for the users of
    /// the connection to bound their exchanges with.
    pub(crate) timeout: Duration,
}

impl Conn {
    /// Opens a connection to the client's server and authenticates it (`AUTH` with the URL's
    /// user and password), within the command timeout. `Ok(None)` for a TLS server.
    pub(crate) async fn open(
        client: &Client,
        options: &Options,
    ) -> Result<Option<Conn>, RedisError> {
        let info = client.get_connection_info();
        let socket: Box<dyn Socket> = match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let stream = bounded(options.command_timeout, async {
                    Ok(tokio::net::TcpStream::connect((host.as_str(), *port)).await?)
                })
                .await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Box::new(
                bounded(options.command_timeout, async {
                    Ok(tokio::net::UnixStream::connect(path).await?)
                })
                .await?,
            ),
            _ => return Ok(None),
        };
        let mut conn = Conn {
            socket,
            buf: BytesMut::with_capacity(READ_CHUNK),
            out: Vec::new(),
            timeout: options.command_timeout,
        };
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = settings.username() {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            conn.queue(&args);
            let reply = bounded(options.command_timeout, async {
                conn.flush().await?;
                conn.next_frame().await
            })
            .await?;
            if let Frame::Error(text) = reply {
                return Err(RedisError::from((
                    ErrorKind::AuthenticationFailed,
                    "Redis refused AUTH",
                    text,
                )));
            }
        }
        Ok(Some(conn))
    }

    /// Adds a command to those [`Conn::flush`] writes.
    pub(crate) fn queue(&mut self, args: &[&[u8]]) {
        resp::command(&mut self.out, args.iter().copied());
    }

    /// Adds `PUBLISH channel payload` to what [`Conn::flush`] writes.
    pub(crate) fn queue_publish(&mut self, channel: &str, payload: &[u8]) {
        resp::command(
            &mut self.out,
            [&b"PUBLISH"[..], channel.as_bytes(), payload].into_iter(),
        );
    }

    /// Writes the queued commands in one go.
    pub(crate) async fn flush(&mut self) -> Result<(), RedisError> {
        if !self.out.is_empty() {
            self.socket.write_all(&self.out).await?;
            self.out.clear();
            // A large batch should not keep its buffer for ever.
            if self.out.capacity() > 4 * READ_CHUNK {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// Reads what the socket has into the buffer. Cancel-safe.
    pub(crate) async fn fill(&mut self) -> Result<(), RedisError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        match self.socket.read_buf(&mut self.buf).await? {
            0 => Err(closed()),
            _ => Ok(()),
        }
    }

    /// The next frame, read as needed and removed from the buffer (for answers, not for
    /// messages: their slices would point into bytes given back).
    pub(crate) async fn next_frame(&mut self) -> Result<Frame, RedisError> {
        loop {
            if let Some((frame, len)) = resp::parse(&self.buf).map_err(protocol_error)? {
                let frame = match frame {
                    // Copied out before the bytes go.
                    Frame::Bulk(range) => {
                        Frame::Text(String::from_utf8_lossy(&self.buf[range]).into_owned())
                    }
                    other => other,
                };
                let _ = self.buf.split_to(len);
                return Ok(frame);
            }
            self.fill().await?;
        }
    }
}

/// Input that is not RESP, as a connection error (the connection is replaced).
pub(crate) fn protocol_error(err: resp::ProtocolError) -> RedisError {
    RedisError::from((
        ErrorKind::Parse,
        "invalid data from Redis",
        err.0.to_owned(),
    ))
}

/// The connection was closed by the other side.
pub(crate) fn closed() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "Redis closed the connection",
    ))
}

/// A command Redis answered with an error: not a connection failure.
pub(crate) fn refused(what: &'static str, text: String) -> RedisError {
    RedisError::from((ErrorKind::Extension, what, text))
}

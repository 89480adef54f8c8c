//! One framed connection: a writer task that batches outgoing frames, a
//! reader task that routes responses by `id` and forwards pushes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use coliseum_protocol::{
    ErrorBody, Op, Push, Request, ServerMessage, decode_server_message, frame_codec,
};
use futures::{SinkExt as _, StreamExt as _};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

use crate::error::ClientError;

/// Pushes from the server, in arrival order. Yields `None` once the
/// connection has closed. Unbounded so that a caller that never reads pushes
/// cannot stall responses; the server disconnects clients that fall far behind.
pub type Pushes = mpsc::UnboundedReceiver<Push>;

/// How long [`Client::connect`] waits for the server's first frame.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's `welcome` push, received on connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// Server name (`"coliseum"`).
    pub server: String,
    /// Protocol version the server speaks.
    pub protocol: u32,
    /// Clients connected when this one was accepted (itself included).
    pub online: u64,
}

type Reply = Result<Value, ErrorBody>;

/// How [`Client::connect_with`] reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS 1.2+ (rustls), the server's default, trusting the server as
    /// [`coliseum_tls::Trust`] says.
    Tls(coliseum_tls::Trust),
    /// Unencrypted TCP, only for servers run with `--insecure-plaintext`
    /// (tests, load generation on loopback).
    Plaintext,
}

/// The host part of `host:port` (without IPv6 brackets), used as the TLS
/// server name.
fn server_name(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _port)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Requests waiting for their response; `None` once the connection closed.
type Pending = Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>;

struct Inner {
    next_id: AtomicU64,
    outgoing: mpsc::UnboundedSender<Bytes>,
    pending: Arc<Pending>,
    welcome: Welcome,
}

/// A connection to a Coliseum server. Cheap to clone; all clones share the
/// connection, which closes when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("welcome", &self.inner.welcome)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects over plain TCP and waits (≤ [`HANDSHAKE_TIMEOUT`]) for the
    /// server's `welcome`.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the connection fails,
    /// [`ClientError::ServerFull`] when the server is at its cap,
    /// [`ClientError::Protocol`] when the first frame is not a welcome.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<(Self, Pushes), ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Self::connect_stream(stream).await
    }

    /// Connects to `addr` (`host:port`, IPv6 as `[::1]:7878`) with the given
    /// transport: TLS (the server's default) verified as `Trust` says, or
    /// plaintext for servers started with `--insecure-plaintext`.
    ///
    /// # Errors
    /// As [`Client::connect`], plus [`ClientError::Tls`] when the handshake
    /// fails or the certificate is not trusted — for trust on first use,
    /// `TlsError::UnknownHost` carries the fingerprint to show the user.
    pub async fn connect_with(
        addr: &str,
        transport: &Transport,
    ) -> Result<(Self, Pushes), ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        match transport {
            Transport::Plaintext => Self::connect_stream(stream).await,
            Transport::Tls(trust) => {
                let tls = coliseum_tls::connect(stream, server_name(addr), trust).await?;
                Self::connect_stream(tls).await
            }
        }
    }

    /// Runs the protocol over an already-established byte stream (a TLS
    /// stream, an in-memory duplex, ...). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect_stream<S>(stream: S) -> Result<(Self, Pushes), ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut framed = Framed::new(stream, frame_codec());
        let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next())
            .await
            .map_err(|_| ClientError::Protocol("no welcome from the server".into()))?
            .ok_or(ClientError::Closed)??;
        let welcome = match decode_server_message(&first).map_err(ClientError::Protocol)? {
            ServerMessage::Push(Push::Welcome {
                server,
                protocol,
                online,
            }) => Welcome {
                server,
                protocol,
                online,
            },
            ServerMessage::Push(Push::ServerFull { limit }) => {
                return Err(ClientError::ServerFull { limit });
            }
            // Refused before the welcome (e.g. the per-address connection cap).
            ServerMessage::Response {
                id: None,
                result: Err(body),
            } => return Err(ClientError::Server(body)),
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected welcome, got {other:?}"
                )));
            }
        };

        let (mut sink, mut stream) = framed.split();
        let (outgoing, mut outgoing_rx) = mpsc::unbounded_channel::<Bytes>();
        let (push_tx, pushes) = mpsc::unbounded_channel();
        let pending: Arc<Pending> = Arc::new(Mutex::new(Some(HashMap::new())));

        // Writer: feed every frame already queued, then flush once.
        tokio::spawn(async move {
            while let Some(frame) = outgoing_rx.recv().await {
                if sink.feed(frame).await.is_err() {
                    return;
                }
                while let Ok(frame) = outgoing_rx.try_recv() {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            // Every Client handle is gone: close our half of the connection.
            let _ = sink.close().await;
        });

        // Reader: route responses by id, forward pushes.
        let reader_pending = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                match decode_server_message(&frame) {
                    Ok(ServerMessage::Response {
                        id: Some(id),
                        result,
                    }) => {
                        let waiter = lock(&reader_pending)
                            .as_mut()
                            .and_then(|map| map.remove(&id));
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(result);
                        }
                    }
                    Ok(ServerMessage::Response { id: None, result }) => {
                        tracing::warn!(?result, "server answered a request it could not read");
                    }
                    Ok(ServerMessage::Push(push)) => {
                        let _ = push_tx.send(push);
                    }
                    Ok(ServerMessage::UnknownPush(name)) => {
                        tracing::debug!(%name, "ignoring unknown push");
                    }
                    Err(e) => tracing::warn!(error = %e, "undecodable frame from server"),
                }
            }
            // Closed: fail every waiter (dropping the senders) and refuse new ones.
            lock(&reader_pending).take();
        });

        let client = Self {
            inner: Arc::new(Inner {
                next_id: AtomicU64::new(1),
                outgoing,
                pending,
                welcome,
            }),
        };
        Ok((client, pushes))
    }

    /// The server's welcome.
    #[must_use]
    pub fn welcome(&self) -> &Welcome {
        &self.inner.welcome
    }

    /// True once the connection has closed (requests then fail with `Closed`).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.pending).is_none()
    }

    /// Sends `op` and waits for its response's `data`.
    ///
    /// # Errors
    /// [`ClientError::Server`] for an error response, [`ClientError::Closed`]
    /// when the connection closes first.
    pub async fn request(&self, op: Op) -> Result<Value, ClientError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = serde_json::to_vec(&Request { id, op })
            .map_err(|e| ClientError::Protocol(format!("cannot encode request: {e}")))?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.inner.pending);
            let map = pending.as_mut().ok_or(ClientError::Closed)?;
            map.insert(id, tx);
        }
        if self.inner.outgoing.send(Bytes::from(frame)).is_err() {
            if let Some(map) = lock(&self.inner.pending).as_mut() {
                map.remove(&id);
            }
            return Err(ClientError::Closed);
        }
        match rx.await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(body)) => Err(ClientError::Server(body)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Sends `op` and decodes its response's `data` as `T`.
    ///
    /// # Errors
    /// As [`Client::request`], plus [`ClientError::Protocol`] when `data`
    /// does not have the shape of `T`.
    pub async fn call<T: DeserializeOwned>(&self, op: Op) -> Result<T, ClientError> {
        let name = op.name();
        let data = self.request(op).await?;
        serde_json::from_value(data)
            .map_err(|e| ClientError::Protocol(format!("unexpected data for {name}: {e}")))
    }
}

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, Option<HashMap<u64, oneshot::Sender<Reply>>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use coliseum_protocol::response::ChatSendData;
    use coliseum_protocol::{encode_ok, encode_push, parse_request};

    /// A scripted server on an in-memory duplex: welcome, then answers every
    /// request in reverse order of arrival for two requests, to prove
    /// responses are routed by id, and sends one push.
    #[tokio::test]
    async fn routes_out_of_order_responses_by_id_and_forwards_pushes() {
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut framed = Framed::new(server_end, frame_codec());
            framed
                .send(encode_push(&Push::Welcome {
                    server: "coliseum".into(),
                    protocol: 1,
                    online: 1,
                }))
                .await
                .expect("welcome");
            let a = parse_request(&framed.next().await.expect("a").expect("a")).expect("a");
            let b = parse_request(&framed.next().await.expect("b").expect("b")).expect("b");
            framed
                .send(encode_ok(b.id, &ChatSendData { seq: 2 }))
                .await
                .expect("b");
            framed
                .send(encode_push(&Push::Shutdown {
                    reason: "bye".into(),
                }))
                .await
                .expect("push");
            framed
                .send(encode_ok(a.id, &ChatSendData { seq: 1 }))
                .await
                .expect("a");
        });
        let (client, mut pushes) = Client::connect_stream(client_end).await.expect("connect");
        assert_eq!(client.welcome().online, 1);
        let c2 = client.clone();
        let first = tokio::spawn(async move { c2.chat_send(None, "first").await });
        // Make sure "first" is written before "second".
        tokio::task::yield_now().await;
        let (first, second) = tokio::join!(first, client.chat_send(None, "second"));
        let mut seqs = [
            first.expect("join").expect("first"),
            second.expect("second"),
        ];
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(
            pushes.recv().await,
            Some(Push::Shutdown {
                reason: "bye".into()
            })
        );
        server.await.expect("server");
        // The scripted server is gone: pushes end and requests fail with Closed.
        assert_eq!(pushes.recv().await, None);
        assert!(matches!(client.online().await, Err(ClientError::Closed)));
        assert!(client.is_closed());
    }

    #[test]
    fn server_name_strips_port_and_brackets() {
        assert_eq!(server_name("example.org:7878"), "example.org");
        assert_eq!(server_name("127.0.0.1:7878"), "127.0.0.1");
        assert_eq!(server_name("[::1]:7878"), "::1");
        assert_eq!(server_name("localhost"), "localhost");
    }

    #[tokio::test]
    async fn an_error_frame_instead_of_welcome_is_a_server_error() {
        let (client_end, server_end) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut framed = Framed::new(server_end, frame_codec());
            let _ = framed
                .send(coliseum_protocol::encode_error(
                    None,
                    &ErrorBody::new(coliseum_protocol::ErrorCode::RateLimited, "too many"),
                ))
                .await;
        });
        let err = Client::connect_stream(client_end)
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Some(coliseum_protocol::ErrorCode::RateLimited));
    }

    #[tokio::test]
    async fn server_full_is_reported_as_such() {
        let (client_end, server_end) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut framed = Framed::new(server_end, frame_codec());
            let _ = framed
                .send(encode_push(&Push::ServerFull { limit: 3 }))
                .await;
        });
        let err = Client::connect_stream(client_end).await.expect_err("full");
        assert!(matches!(err, ClientError::ServerFull { limit: 3 }));
        assert_eq!(err.code(), Some(coliseum_protocol::ErrorCode::ServerFull));
    }
}

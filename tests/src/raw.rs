//! A raw framed connection: send arbitrary bytes or JSON, read frames as
//! JSON values. For the malformed-input tests the typed client cannot send.

use std::net::SocketAddr;

use bytes::Bytes;
use coliseum_protocol::frame_codec;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

use crate::WAIT;

/// A TCP connection speaking frames, with no protocol logic.
pub struct RawConn {
    framed: Framed<TcpStream, LengthDelimitedCodec>,
}

impl RawConn {
    /// Connects and returns the connection with the server's first frame
    /// (the welcome or `server_full`).
    ///
    /// # Panics
    /// If connecting or reading fails.
    pub async fn connect(addr: SocketAddr) -> (Self, Value) {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::start(stream).await
    }

    /// As [`RawConn::connect`], with the socket's receive buffer shrunk to
    /// about `bytes`, so that a client that stops reading backs up quickly.
    ///
    /// # Panics
    /// If connecting or reading fails.
    pub async fn connect_with_recv_buffer(addr: SocketAddr, bytes: u32) -> (Self, Value) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        Self::start(stream).await
    }

    async fn start(stream: TcpStream) -> (Self, Value) {
        let mut conn = Self {
            framed: Framed::new(stream, frame_codec()),
        };
        let first = conn.recv().await.expect("first frame");
        (conn, first)
    }

    /// Sends one frame with `body` as its bytes.
    ///
    /// # Panics
    /// If writing fails.
    pub async fn send_bytes(&mut self, body: &[u8]) {
        self.framed
            .send(Bytes::copy_from_slice(body))
            .await
            .expect("send frame");
    }

    /// Sends one frame holding `value` as JSON.
    ///
    /// # Panics
    /// If writing fails.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_bytes(value.to_string().as_bytes()).await;
    }

    /// Writes `bytes` to the socket as they are (no framing).
    ///
    /// # Panics
    /// If writing fails.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let stream = self.framed.get_mut();
        stream.write_all(bytes).await.expect("write");
        stream.flush().await.expect("flush");
    }

    /// The next frame as JSON, `None` when the server closed the
    /// connection. Waits at most [`WAIT`].
    ///
    /// # Panics
    /// On timeout, a read error, or a frame that is not JSON.
    pub async fn recv(&mut self) -> Option<Value> {
        let next = tokio::time::timeout(WAIT, self.framed.next())
            .await
            .expect("timed out waiting for a frame");
        match next {
            None => None,
            Some(Ok(frame)) => Some(serde_json::from_slice(&frame).expect("server sent JSON")),
            Some(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionReset => None,
            Some(Err(err)) => panic!("read failed: {err}"),
        }
    }

    /// Every frame still to come until the server closes the connection.
    /// A reset, or a last frame cut off by the close (the server drops a
    /// slow reader mid-write), ends the list.
    ///
    /// # Panics
    /// If a frame takes longer than [`WAIT`], or is not JSON.
    pub async fn frames_until_closed(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("timed out waiting for a frame or the close");
            match next {
                Some(Ok(frame)) => {
                    frames.push(serde_json::from_slice(&frame).expect("server sent JSON"));
                }
                None | Some(Err(_)) => return frames,
            }
        }
    }

    /// The next frame that is not a push (a response).
    ///
    /// # Panics
    /// As [`RawConn::recv`], or if the connection closes first.
    pub async fn response(&mut self) -> Value {
        loop {
            let frame = self.recv().await.expect("connection closed");
            if frame.get("push").is_none() {
                return frame;
            }
        }
    }
}

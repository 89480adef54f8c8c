//! The network side of the app: a dedicated thread that owns a tokio runtime,
//! the connection to the server, the in-process server when hosting, and the
//! file dialogs.
//!
//! The UI thread never does I/O. It sends [`NetCommand`]s through an unbounded
//! channel (sending never blocks) and drains [`NetEvent`]s once per frame
//! with [`Network::drain`]; every event sent wakes the UI with
//! `egui::Context::request_repaint`.
//!
//! # Layout
//! - this file: the [`Network`] handle.
//! - [`api`]: the command and event vocabularies and the types they carry.
//! - [`addresses`]: the server address list (comma-separated, names with
//!   several addresses) and the order its targets are tried in.
//! - `connect`: [`Security`] and the one function that opens a connection.
//! - `worker`: the command loop, which hands each command to one of:
//! - `link`: the state shared by the supervisor and the requests (the
//!   current client, session token, pending bookings) and the event sink.
//! - `supervisor`: keeps one server connected (reconnect with back-off,
//!   moving on to the next address of the list, session resume, chat gap
//!   filling, booking retries, `resync` pushes).
//! - `requests`: one task per request, so a slow one never holds up the next.
//! - `host`: "Host on this computer": the server library on the embedded store.
//! - `files`: export of "My tickets" and import of events through rfd's
//!   asynchronous file dialogs, and the file writes behind them.
//! - `ticketing`: waiting list, offers, partial cancels, event management,
//!   attendees, check-in (typed or from a QR image), saving ticket files.

pub mod addresses;
pub mod api;
mod connect;
mod files;
mod host;
mod link;
mod requests;
mod rooms;
mod supervisor;
mod ticketing;
mod worker;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

pub use addresses::{AddressError, Entry, parse_servers};
pub use api::{
    CheckInRefusal, ConnectionStatus, FormError, HostRequest, ImportOutcome, NetCommand, NetEvent,
    SaveRequest, ServerChoice,
};
pub use connect::{Security, connect};

/// Handle to the network thread, owned by the app. Dropping it stops the
/// thread (and a hosted server) and waits for that, at most two seconds.
pub struct Network {
    commands: tokio::sync::mpsc::UnboundedSender<NetCommand>,
    events: mpsc::Receiver<NetEvent>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: mpsc::Receiver<()>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// Starts the network thread with its own multi-threaded tokio runtime.
    /// Every event it sends calls `ctx.request_repaint()`. `pins` is the
    /// trust-on-first-use pin store file (normally
    /// `PinStore::default_path()`; tests pass a temporary file); with `None`
    /// trust on first use fails with a message.
    ///
    /// # Errors
    /// When the runtime or the thread cannot be created.
    pub fn start(ctx: egui::Context, pins: Option<PathBuf>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("coliseum-net")
            .enable_all()
            .build()?;
        let (command_tx, command_rx) = tokio::sync::mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::channel();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let sink = link::Sink::new(event_tx, ctx);
        let thread = std::thread::Builder::new()
            .name("coliseum-network".into())
            .spawn(move || {
                runtime.block_on(worker::run(command_rx, sink, pins));
                // Tasks still running (e.g. a file dialog) are dropped here.
                runtime.shutdown_timeout(Duration::from_millis(500));
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            commands: command_tx,
            events: event_rx,
            thread: Some(thread),
            stopped: stopped_rx,
        })
    }

    /// Queues a command; never blocks. Ignored once the thread has stopped.
    pub fn send(&self, command: NetCommand) {
        let _ = self.commands.send(command);
    }

    /// Every event that arrived since the last call, oldest first.
    pub fn drain(&self) -> impl Iterator<Item = NetEvent> + '_ {
        self.events.try_iter()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.commands.send(NetCommand::Quit);
        if self.stopped.recv_timeout(Duration::from_secs(2)).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

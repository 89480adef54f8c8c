//! Coliseum desktop app (binary `coliseum`): log in, see the events with live
//! seat counts, book and cancel tickets, and chat in the lobby, in one window.
//! Built on eframe/egui (glow renderer: works on real GPUs and on a software
//! GL stack such as Xvfb + Mesa).
//!
//! The UI thread never does I/O. A network thread with its own tokio runtime
//! ([`network`]) receives commands and sends events back, calling
//! `request_repaint()`; the UI drains them once per frame into the [`model`],
//! which the [`views`] read.
//!
//! # Layout
//! - [`app`]: the eframe app — state, screen choice, running view actions.
//! - [`settings`]: what is remembered between runs.
//! - [`model`]: the UI's mirror of the server state and in-flight requests,
//!   one slice per area (connection, session, events, chat, notices).
//! - [`network`]: the network thread: command loop, connection supervisor
//!   (reconnects), request tasks, hosting, file dialogs.
//! - [`views`]: one file per screen or panel.
//! - [`transfer`]: CSV/JSON export of tickets and import of events.
//! - [`ticket_files`]: a ticket's QR code (PNG), calendar entry (.ics),
//!   the attendees CSV, and reading a QR code from an image.
//! - [`style`]: text sizes, theme, icon.

pub mod app;
pub mod model;
pub mod network;
pub mod settings;
pub mod style;
pub mod ticket_files;
pub mod transfer;
pub mod views;

pub use app::{AppOptions, ColiseumApp};

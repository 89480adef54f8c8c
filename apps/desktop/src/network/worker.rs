//! The network thread's command loop: each [`NetCommand`] becomes a call on
//! the pin store, a start or stop of the [`supervisor`](super::supervisor),
//! a hosted server, a request task or a file dialog.

use std::path::PathBuf;
use std::sync::Arc;

use coliseum_client::{PinStore, TlsError};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use super::api::{ConnectionStatus, HostRequest, NetCommand, NetEvent};
use super::connect::Security;
use super::host::HostedServer;
use super::link::{Link, PendingBook, Sink};
use super::requests::{self, attempt_book, request_key};
use super::{files, rooms, supervisor, ticketing};

/// The command loop; returns after [`NetCommand::Quit`] or when the UI is gone.
pub async fn run(mut commands: UnboundedReceiver<NetCommand>, sink: Sink, pins: Option<PathBuf>) {
    let mut worker = Worker {
        sink,
        pins,
        link: Arc::new(Link::default()),
        supervisor: None,
        host: None,
    };
    while let Some(command) = commands.recv().await {
        if matches!(command, NetCommand::Quit) {
            break;
        }
        worker.handle(command).await;
    }
    worker.stop().await;
}

struct Worker {
    sink: Sink,
    /// The trust-on-first-use pin store file.
    pins: Option<PathBuf>,
    link: Arc<Link>,
    supervisor: Option<JoinHandle<()>>,
    host: Option<HostedServer>,
}

impl Worker {
    async fn handle(&mut self, command: NetCommand) {
        match command {
            NetCommand::Connect { addr, security } => {
                self.stop().await;
                self.supervise(addr, security);
            }
            NetCommand::TrustServer { host, fingerprint } => {
                let event = match self.pin_store().and_then(|s| s.pin(&host, fingerprint)) {
                    Ok(()) => NetEvent::ServerTrusted { host },
                    Err(error) => NetEvent::PinStoreFailed(error.to_string()),
                };
                self.sink.emit(event);
            }
            NetCommand::ForgetServer { host } => {
                let event = match self.pin_store().and_then(|s| s.remove(&host)) {
                    Ok(_) => NetEvent::ServerForgotten { host },
                    Err(error) => NetEvent::PinStoreFailed(error.to_string()),
                };
                self.sink.emit(event);
            }
            NetCommand::PickCaFile => {
                tokio::spawn(files::pick_ca_file(self.sink.clone()));
            }
            NetCommand::Host(request) => self.host(request).await,
            NetCommand::Disconnect => {
                self.stop().await;
                self.sink.emit(NetEvent::Status(ConnectionStatus::Offline));
                self.sink.emit(NetEvent::Disconnected);
            }
            NetCommand::Register {
                username,
                password,
                email,
            } => self
                .spawn(move |link, sink| requests::register(link, sink, username, password, email)),
            NetCommand::Login { username, password } => {
                self.spawn(move |link, sink| requests::login(link, sink, username, password));
            }
            NetCommand::Logout => self.spawn(requests::logout),
            NetCommand::RefreshEvents => self.spawn(requests::refresh_events),
            NetCommand::RefreshTickets => self.spawn(requests::refresh_tickets),
            NetCommand::CreateEvent(event) => {
                self.spawn(move |link, sink| requests::create_event(link, sink, event));
            }
            NetCommand::Book { event_id, quantity } => {
                let key = request_key();
                self.link.lock().books.insert(
                    key.clone(),
                    PendingBook {
                        event_id,
                        quantity,
                        in_flight: false,
                    },
                );
                self.spawn(move |link, sink| attempt_book(link, sink, key));
            }
            NetCommand::CancelTicket {
                ticket_id,
                quantity,
            } => self.spawn(move |link, sink| ticketing::cancel(link, sink, ticket_id, quantity)),
            NetCommand::JoinWaitlist { event_id, quantity } => self
                .spawn(move |link, sink| ticketing::join_waitlist(link, sink, event_id, quantity)),
            NetCommand::LeaveWaitlist { event_id } => {
                self.spawn(move |link, sink| ticketing::leave_waitlist(link, sink, event_id));
            }
            NetCommand::RefreshWaitlist => self.spawn(ticketing::refresh_waitlist),
            NetCommand::AcceptOffer { offer_id } => {
                self.spawn(move |link, sink| ticketing::accept_offer(link, sink, offer_id));
            }
            NetCommand::DeclineOffer { offer_id } => {
                self.spawn(move |link, sink| ticketing::decline_offer(link, sink, offer_id));
            }
            NetCommand::UpdateEvent(update) => {
                self.spawn(move |link, sink| ticketing::update_event(link, sink, update));
            }
            NetCommand::CancelEvent { event_id, reason } => {
                self.spawn(move |link, sink| ticketing::cancel_event(link, sink, event_id, reason))
            }
            NetCommand::LoadAttendees { event_id } => {
                self.spawn(move |link, sink| ticketing::attendees(link, sink, event_id));
            }
            NetCommand::CheckIn { code } => {
                self.spawn(move |link, sink| ticketing::check_in(link, sink, code));
            }
            NetCommand::CheckInImage => self.spawn(ticketing::check_in_image),
            NetCommand::CheckInImageFile(path) => {
                self.spawn(move |link, sink| ticketing::check_in_image_file(link, sink, path));
            }
            NetCommand::SaveFile(request) => {
                tokio::spawn(ticketing::save_file(self.sink.clone(), request));
            }
            NetCommand::SaveToDownloads(request) => {
                tokio::spawn(ticketing::save_to_downloads(self.sink.clone(), request));
            }
            NetCommand::ChatSend { room, text } => {
                self.spawn(move |link, sink| requests::chat_send(link, sink, room, text));
            }
            NetCommand::ChatOlder { room, before_seq } => {
                self.spawn(move |link, sink| rooms::older(link, sink, room, before_seq));
            }
            NetCommand::RefreshRooms => self.spawn(rooms::refresh_rooms),
            NetCommand::OpenRoom { room } => {
                self.spawn(move |link, sink| rooms::open_room(link, sink, room));
            }
            NetCommand::CreateRoom { room, topic } => {
                self.spawn(move |link, sink| rooms::create(link, sink, room, topic));
            }
            NetCommand::JoinRoom { room } => {
                self.spawn(move |link, sink| rooms::join(link, sink, room));
            }
            NetCommand::LeaveRoom { room } => {
                self.spawn(move |link, sink| rooms::leave(link, sink, room));
            }
            NetCommand::Discuss { event_id } => {
                self.spawn(move |link, sink| rooms::discuss(link, sink, event_id));
            }
            NetCommand::DirectMessage { to, text } => {
                self.spawn(move |link, sink| rooms::direct(link, sink, to, text));
            }
            NetCommand::MarkRead { room, seq } => {
                self.spawn(move |link, _| rooms::mark_read(link, room, seq));
            }
            NetCommand::EditMessage { room, seq, text } => {
                self.spawn(move |link, sink| rooms::edit(link, sink, room, seq, text));
            }
            NetCommand::DeleteMessage { room, seq } => {
                self.spawn(move |link, sink| rooms::delete(link, sink, room, seq));
            }
            NetCommand::Typing { room } => self.spawn(move |link, _| rooms::typing(link, room)),
            NetCommand::Mute {
                room,
                user,
                minutes,
            } => self.spawn(move |link, sink| rooms::mute(link, sink, room, user, minutes)),
            NetCommand::Kick { room, user } => {
                self.spawn(move |link, sink| rooms::kick(link, sink, room, user));
            }
            NetCommand::ExportTickets { format, tickets } => {
                let sink = self.sink.clone();
                tokio::spawn(files::export_tickets(sink, format, tickets));
            }
            NetCommand::ExportTicketsToDownloads { format, tickets } => {
                let sink = self.sink.clone();
                tokio::spawn(files::export_tickets_to_downloads(sink, format, tickets));
            }
            NetCommand::ImportEvents => self.spawn(files::import_events),
            NetCommand::ReconnectNow => self.link.wake.notify_one(),
            NetCommand::UpdateAccount {
                current_password,
                new_username,
                new_email,
                new_password,
            } => self.spawn(move |link, sink| {
                requests::update_account(
                    link,
                    sink,
                    requests::AccountChange {
                        current_password,
                        new_username,
                        new_email,
                        new_password,
                    },
                )
            }),
            NetCommand::Quit => {}
        }
    }

    /// Runs `job` as its own task.
    fn spawn<F, Fut>(&self, job: F)
    where
        F: FnOnce(Arc<Link>, Sink) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(job(Arc::clone(&self.link), self.sink.clone()));
    }

    fn pin_store(&self) -> Result<PinStore, TlsError> {
        PinStore::open(self.pins.as_ref().ok_or(TlsError::NoConfigDir)?)
    }

    fn supervise(&mut self, addr: String, security: Security) {
        let link = Arc::clone(&self.link);
        let sink = self.sink.clone();
        let pins = self.pins.clone();
        self.supervisor = Some(tokio::spawn(supervisor::supervise(
            link, sink, addr, security, pins,
        )));
    }

    async fn host(&mut self, request: HostRequest) {
        self.stop().await;
        match HostedServer::start(&request).await {
            Ok(server) => {
                let addr = server.connect_addr().to_string();
                let fingerprint = server.fingerprint();
                self.sink.emit(NetEvent::HostStarted {
                    addr: server.local_addr(),
                    data_dir: request.data_dir,
                    fingerprint,
                });
                self.host = Some(server);
                // Its own server: the certificate is known, no question.
                self.supervise(addr, Security::Pinned(fingerprint));
            }
            Err(message) => self.sink.emit(NetEvent::HostFailed(message)),
        }
    }

    /// Stops the supervisor, drops the connection and stops a hosted server.
    async fn stop(&mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
            let _ = supervisor.await;
        }
        for book in self.link.clear() {
            self.sink.emit(NetEvent::BookFailed {
                event_id: book.event_id,
                message: "disconnected before the server answered".into(),
            });
        }
        if let Some(server) = self.host.take() {
            server.stop().await;
        }
    }
}

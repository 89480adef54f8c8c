//! The eframe app: owns the settings, the network handle, the model and the
//! views; each frame it drains network events (in `logic`), draws the screen
//! for the current state (in `ui`), then runs the actions the views returned.

use std::time::{Duration, Instant};

use eframe::Storage;
use egui::{RichText, Ui};

use crate::model::Model;
use crate::network::{NetCommand, NetEvent, Network};
use crate::settings::{STORAGE_KEY, Settings};
use crate::views::account::AccountView;
use crate::views::admin::AdminView;
use crate::views::chat::ChatView;
use crate::views::check_in::CheckInView;
use crate::views::connect::ConnectView;
use crate::views::events::EventsView;
use crate::views::login::LoginView;
use crate::views::tickets::TicketsView;
use crate::views::{Action, Tab, status};

/// How the app starts; the defaults are those of a normal desktop run.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Start from these settings instead of the persisted ones.
    pub settings: Option<Settings>,
    /// Do not read or write eframe's storage (tests, smoke runs).
    pub ephemeral: bool,
    /// A command to run at start (e.g. connect, or host, from the command line).
    pub start: Option<NetCommand>,
    /// Close the window after this many frames (the `--smoke-test` run).
    pub smoke_frames: Option<u32>,
    /// Force this theme and turn animations off (UI tests).
    pub fixed_theme: Option<egui::Theme>,
    /// Data directory proposed for "Host on this computer"; `None` means the
    /// server's default.
    pub default_data_dir: Option<std::path::PathBuf>,
    /// The trust-on-first-use pin store file; `None` means
    /// `PinStore::default_path()` (tests pass a temporary file).
    pub pin_store: Option<std::path::PathBuf>,
    /// When the process started, to log the time to the first frame
    /// (`RUST_LOG=coliseum_desktop::app=debug`); `None` counts from
    /// [`ColiseumApp::new`].
    pub started_at: Option<Instant>,
}

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Screen {
    Connect,
    Login,
    Main,
}

#[derive(Debug)]
struct Views {
    connect: ConnectView,
    login: LoginView,
    events: EventsView,
    tickets: TicketsView,
    admin: AdminView,
    account: AccountView,
    chat: ChatView,
    check_in: CheckInView,
}

/// The Coliseum desktop app.
pub struct ColiseumApp {
    settings: Settings,
    ephemeral: bool,
    net: Network,
    model: Model,
    views: Views,
    tab: Tab,
    /// The chat panel is shown (the user can hide it on small screens).
    chat_open: bool,
    /// Frames left before closing, in a smoke run.
    smoke_frames: Option<u32>,
    /// The app icon as a texture, for the top bar.
    logo: Option<egui::TextureHandle>,
    /// Frames drawn and network events received, logged every
    /// [`STATS_PERIOD`] at debug level (the cost figures in docs/desktop.md).
    stats: FrameStats,
}

/// Narrowest chat panel, in points.
const CHAT_MIN_WIDTH: f32 = 200.0;
/// Width the events table needs for all its columns at their narrowest
/// (name 90, date 84, seats 150, Qty 52, Book / "Join waiting list" 128,
/// spacing and margins).
const MAIN_MIN_WIDTH: f32 = 560.0;

/// Below this window width the top bar drops the "Coliseum" title.
const NARROW_WIDTH: f32 = 900.0;

/// How often [`FrameStats`] are logged.
const STATS_PERIOD: Duration = Duration::from_secs(10);

/// Counters behind the "frames per incoming batch" figure.
#[derive(Debug)]
struct FrameStats {
    started: Instant,
    first_frame_logged: bool,
    since: Instant,
    frames: u64,
    events: u64,
}

impl FrameStats {
    fn new(started: Instant) -> Self {
        Self {
            started,
            first_frame_logged: false,
            since: Instant::now(),
            frames: 0,
            events: 0,
        }
    }

    /// Counts a frame that applied `events` network events; logs the first
    /// frame's delay and, every [`STATS_PERIOD`], the counts.
    fn frame(&mut self, events: usize, now: Instant) {
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            tracing::debug!(
                ms = now.duration_since(self.started).as_millis(),
                "first frame"
            );
        }
        self.frames += 1;
        self.events += events as u64;
        let elapsed = now.duration_since(self.since);
        if elapsed >= STATS_PERIOD {
            tracing::debug!(
                frames = self.frames,
                events = self.events,
                secs = elapsed.as_secs_f32(),
                "frames drawn / network events applied"
            );
            self.since = now;
            self.frames = 0;
            self.events = 0;
        }
    }
}

impl std::fmt::Debug for ColiseumApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColiseumApp")
            .field("settings", &self.settings)
            .field("model", &self.model)
            .field("tab", &self.tab)
            .finish_non_exhaustive()
    }
}

impl ColiseumApp {
    /// Builds the app: loads the settings, applies theme and style, and starts
    /// the network thread.
    ///
    /// # Errors
    /// When the network thread or its runtime cannot be started.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> std::io::Result<Self> {
        let settings = options.settings.clone().unwrap_or_else(|| {
            cc.storage
                .filter(|_| !options.ephemeral)
                .and_then(|storage| eframe::get_value(storage, STORAGE_KEY))
                .unwrap_or_default()
        });
        crate::style::apply(&cc.egui_ctx, settings.theme, options.fixed_theme);
        let pins = options.pin_store.clone().or_else(|| {
            coliseum_client::PinStore::default_path()
                .inspect_err(|error| tracing::warn!(%error, "no pin store"))
                .ok()
        });
        let net = Network::start(cc.egui_ctx.clone(), pins)?;
        let data_dir = options
            .default_data_dir
            .clone()
            .unwrap_or_else(coliseum_server::default_data_dir);
        let mut app = Self {
            views: Views {
                connect: ConnectView::new(&settings, data_dir),
                login: LoginView::new(&settings.last_username),
                events: EventsView::default(),
                tickets: TicketsView::default(),
                admin: AdminView::default(),
                account: AccountView::default(),
                chat: ChatView::default(),
                check_in: CheckInView::default(),
            },
            settings,
            ephemeral: options.ephemeral,
            net,
            model: Model::default(),
            tab: Tab::default(),
            chat_open: true,
            smoke_frames: options.smoke_frames,
            logo: crate::style::logo(&cc.egui_ctx),
            stats: FrameStats::new(options.started_at.unwrap_or_else(Instant::now)),
        };
        if let Some(command) = options.start {
            app.run(&cc.egui_ctx, Action::Net(command));
        }
        Ok(app)
    }

    /// What the UI currently knows (for tests and diagnostics).
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The current settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn screen(&self) -> Screen {
        if self.model.session.user.is_some() {
            Screen::Main
        } else if self.model.connection.server.is_some() && !self.model.connection.busy {
            Screen::Login
        } else {
            Screen::Connect
        }
    }

    /// Applies one network event, with the few reactions that belong to the
    /// app rather than the model (remembering the username, forgetting the
    /// password).
    fn receive(&mut self, event: NetEvent, now: Instant) {
        match &event {
            NetEvent::LoggedIn {
                session,
                resumed: false,
            } => {
                self.settings.last_username.clone_from(&session.username);
                self.views.login.clear_secret();
                self.views.events.reset();
                self.views.account.reset();
                self.tab = Tab::Events;
            }
            NetEvent::LoggedOut | NetEvent::SessionExpired(_) => {
                self.views.login.clear_secret();
                self.views.account.reset();
                self.tab = Tab::Events;
            }
            NetEvent::AccountUpdated { username, .. } => {
                self.settings.last_username.clone_from(username);
            }
            NetEvent::CaFilePicked(path) => self.views.connect.set_ca_file(path),
            _ => {}
        }
        self.model.apply(&event, now);
        // A message for a room the list does not have (a new direct
        // message, a room joined elsewhere): read the list again.
        if std::mem::take(&mut self.model.chat.rooms_stale) {
            self.net.send(NetCommand::RefreshRooms);
        }
    }

    fn run(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::Net(command) => {
                if self.model.begin(&command) {
                    self.net.send(command);
                }
            }
            Action::Show(tab) => self.tab = tab,
            Action::Dismiss(index) => {
                self.model.notices.dismiss(index);
            }
            Action::Theme(choice) => {
                self.settings.theme = choice;
                ctx.set_theme(choice.preference());
            }
            Action::Remember(settings) => self.settings = *settings,
            Action::ClosePrompt => self.model.connection.security_prompt = None,
            Action::ToggleChat => self.chat_open = !self.chat_open,
            Action::ComposeDirect(user) => {
                self.chat_open = true;
                self.model.chat.dm_to = Some(user);
            }
        }
    }

    fn main_screen(&mut self, ui: &mut Ui, actions: &mut Vec<Action>) {
        let is_admin = self.model.session.is_admin();
        let is_door = self.model.session.is_door();
        if (self.tab == Tab::Admin && !is_admin) || (self.tab == Tab::CheckIn && !is_door) {
            self.tab = Tab::Events;
        }
        egui::Panel::top("nav").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                if let Some(logo) = &self.logo {
                    ui.add(egui::Image::new(logo).fit_to_exact_size(egui::vec2(22.0, 22.0)));
                }
                // In a narrow window the tabs need the title's room (an
                // admin has five tabs; 760 points must hold them all).
                if ui.ctx().content_rect().width() >= NARROW_WIDTH {
                    ui.label(RichText::new("Coliseum").strong().size(18.0));
                }
                ui.separator();
                let tickets = format!("My tickets ({})", self.model.events.tickets.len());
                let mut tabs = vec![(Tab::Events, "Events".to_owned()), (Tab::Tickets, tickets)];
                if is_admin {
                    tabs.push((Tab::Admin, "New event".to_owned()));
                }
                if is_door {
                    tabs.push((Tab::CheckIn, "Check-in".to_owned()));
                }
                tabs.push((Tab::Account, "Account".to_owned()));
                for (tab, text) in tabs {
                    if crate::views::tab(ui, self.tab == tab, &text) {
                        actions.push(Action::Show(tab));
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let busy = self.model.session.busy.logout;
                    if ui
                        .add_enabled(!busy, egui::Button::new("Log out"))
                        .clicked()
                    {
                        actions.push(Action::Net(NetCommand::Logout));
                    }
                    if let Some(session) = &self.model.session.user {
                        ui.label(RichText::new(&session.username).strong());
                    }
                    let chat = if self.chat_open {
                        "Hide chat"
                    } else {
                        "Show chat"
                    };
                    if ui
                        .button(chat)
                        .on_hover_text("Show or hide the lobby panel")
                        .clicked()
                    {
                        actions.push(Action::ToggleChat);
                    }
                });
            });
            ui.add_space(2.0);
        });
        if !self.model.connection.is_connected() {
            egui::Panel::top("connection-lost").show(ui, |ui| {
                actions.extend(status::connection_banner(ui, &self.model, Instant::now()));
            });
        }
        if self.chat_open {
            // Never wider than what leaves the events table room for every
            // column (also after the window shrank, or with a width
            // remembered from a larger window).
            let width = ui.ctx().content_rect().width();
            egui::Panel::right("chat")
                .resizable(true)
                .default_size((width * 0.38).clamp(220.0, 460.0))
                .min_size(CHAT_MIN_WIDTH)
                .max_size((width - MAIN_MIN_WIDTH).max(CHAT_MIN_WIDTH))
                .show(ui, |ui| actions.extend(self.views.chat.ui(ui, &self.model)));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            // Seats held for the user lapse in minutes: shown on every tab.
            actions.extend(crate::views::offers::banner(
                ui,
                &self.model,
                chrono::Utc::now(),
            ));
            actions.extend(crate::views::tickets::save_fallback(ui, &self.model));
            let view_actions = match self.tab {
                Tab::Events => self.views.events.ui(ui, &self.model),
                Tab::CheckIn => {
                    // An image of a QR code dropped on the window is read
                    // and checked in.
                    let dropped: Vec<_> = ui.input(|i| {
                        i.raw
                            .dropped_files
                            .iter()
                            .map(|f| f.path().to_path_buf())
                            .filter(|p| !p.as_os_str().is_empty())
                            .collect()
                    });
                    for path in dropped {
                        actions.push(Action::Net(NetCommand::CheckInImageFile(path)));
                    }
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| self.views.check_in.ui(ui, &self.model))
                        .inner
                }
                Tab::Tickets => self.views.tickets.ui(ui, &self.model),
                Tab::Admin => {
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| self.views.admin.ui(ui, &self.model))
                        .inner
                }
                Tab::Account => {
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| self.views.account.ui(ui, &self.model))
                        .inner
                }
            };
            actions.extend(view_actions);
        });
    }
}

impl eframe::App for ColiseumApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        let events: Vec<NetEvent> = self.net.drain().collect();
        self.stats.frame(events.len(), now);
        if events.is_empty() {
            tracing::trace!(causes = ?ctx.repaint_causes(), "frame without network events");
        }
        for event in events {
            self.receive(event, now);
        }
        if let Some(next) = self.model.notices.expire(now) {
            ctx.request_repaint_after(next);
        }
        if self.model.connection.reconnect_at().is_some() {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        let mut actions = Vec::new();
        egui::Panel::bottom("status").show(ui, |ui| {
            actions.extend(status::status_bar(
                ui,
                &self.model,
                self.settings.theme,
                now,
            ));
        });
        match self.screen() {
            Screen::Connect => {
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        actions.extend(self.views.connect.ui(ui, &self.model, &self.settings));
                    });
                });
            }
            Screen::Login => {
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        actions.extend(self.views.login.ui(ui, &self.model));
                    });
                });
            }
            Screen::Main => self.main_screen(ui, &mut actions),
        }
        let ctx = ui.ctx().clone();
        // A direct message or a mention while the window is in the
        // background: ask the desktop to draw the user's attention.
        if std::mem::take(&mut self.model.chat.attention) && !ctx.input(|i| i.focused) {
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Informational,
            ));
        }
        actions.extend(status::toasts(&ctx, &self.model));
        for action in actions {
            self.run(&ctx, action);
        }
        match self.smoke_frames {
            Some(1) => {
                println!("smoke test: frames rendered, closing");
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                self.smoke_frames = Some(0);
            }
            Some(n) if n > 1 => {
                self.smoke_frames = Some(n - 1);
                ctx.request_repaint();
            }
            _ => {}
        }
    }

    fn save(&mut self, storage: &mut dyn Storage) {
        if !self.ephemeral {
            eframe::set_value(storage, STORAGE_KEY, &self.settings);
        }
    }

    fn persist_egui_memory(&self) -> bool {
        !self.ephemeral
    }
}

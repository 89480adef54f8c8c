//! The events table: name, date, location, seats left with a bar, a quantity
//! and a Book button per row ("Join waiting list" when sold out); sortable by
//! name or date; filtered by a search box. Seat counts come from the model,
//! which `event_update` and `event_changed` pushes keep live. A click on an
//! event's name opens its [details](super::event_details).

use std::collections::HashMap;

use coliseum_protocol::{Event, EventStatus};
use egui::{Align, Layout, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::event_details::EventDetails;
use super::{Action, error_color};
use crate::model::{Model, seats};
use crate::network::NetCommand;

/// Sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By date, then name (the server's order).
    #[default]
    Date,
    /// By name, then date.
    Name,
}

/// UI state of the events table.
#[derive(Debug, Clone, Default)]
pub struct EventsView {
    filter: String,
    sort: SortKey,
    descending: bool,
    /// Quantity chosen per event id (default 1); cleared at every login.
    quantities: HashMap<String, u32>,
    /// The booking awaiting confirmation.
    confirm: Option<PendingBooking>,
    /// The event whose details are shown instead of the table.
    details: Option<EventDetails>,
}

/// What the confirmation dialog shows and sends.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingBooking {
    event_id: String,
    quantity: u32,
}

/// Height of a table row, in points (two lines: name over venue, seats over
/// the per-user limit).
const ROW_HEIGHT: f32 = 40.0;

impl EventsView {
    /// Forgets the chosen quantities and any open confirmation (at login:
    /// another user, perhaps another server).
    pub fn reset(&mut self) {
        self.quantities.clear();
        self.confirm = None;
        self.details = None;
    }

    /// Shows the details of `event_id` (e.g. from an offer or a ticket).
    pub fn open(&mut self, event_id: &str) {
        if self.details.as_ref().is_none_or(|d| d.event_id != event_id) {
            self.details = Some(EventDetails::new(event_id.to_owned()));
        }
    }

    /// Draws the table.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        // Before the table: a dialog opened by a click in this frame shows
        // from the next one.
        if let Some(action) = self.confirmation(ui, model) {
            actions.push(action);
        }
        if let Some(details) = &mut self.details {
            let out = details.ui(ui, model);
            actions.extend(out.actions);
            if let Some(quantity) = out.book {
                self.confirm = Some(PendingBooking {
                    event_id: details.event_id.clone(),
                    quantity,
                });
            }
            if out.back {
                self.details = None;
            }
            return actions;
        }
        ui.horizontal(|ui| {
            ui.heading("Events");
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                if ui.button("⟳ Refresh").clicked() {
                    actions.push(Action::Net(NetCommand::RefreshEvents));
                    actions.push(Action::Net(NetCommand::RefreshWaitlist));
                }
                ui.add(
                    egui::TextEdit::singleline(&mut self.filter)
                        .hint_text("name or venue")
                        .desired_width(ui.available_width().clamp(80.0, 180.0) - 30.0),
                )
                .accessible_name("Filter events");
                ui.label("🔍");
            });
        });
        ui.add_space(4.0);
        let rows = self.rows(&model.events.list);
        if model.events.list.is_empty() {
            ui.label(RichText::new("No events yet.").weak());
            return actions;
        }
        if rows.is_empty() {
            ui.label(RichText::new(format!("No event matches \"{}\".", self.filter.trim())).weak());
            return actions;
        }
        let online = model.connection.is_connected();
        let mut open = None;
        // Columns shrink with the window; the name column gives way first
        // (clipped, full text on hover), so Qty and Book always stay visible.
        TableBuilder::new(ui)
            .id_salt("events-table")
            .striped(true)
            .cell_layout(Layout::left_to_right(Align::Center))
            .column(Column::remainder().at_least(90.0).clip(true))
            .column(Column::auto().at_least(84.0))
            .column(Column::auto().at_least(150.0).clip(true))
            .column(Column::exact(52.0))
            .column(Column::exact(BOOK_WIDTH))
            .header(24.0, |mut header| {
                header.col(|ui| self.sort_header(ui, "Name", SortKey::Name));
                header.col(|ui| self.sort_header(ui, "Date", SortKey::Date));
                header.col(|ui| {
                    ui.strong("Seats left");
                });
                header.col(|ui| {
                    ui.strong("Qty");
                });
                header.col(|_| {});
            })
            .body(|mut body| {
                for event in rows {
                    let held = model.events.held(&event.id);
                    // Sold out: the quantity is what to wait for.
                    let bookable = if event.available == 0 {
                        event.max_per_user.saturating_sub(held)
                    } else {
                        model.events.bookable(event)
                    };
                    body.row(ROW_HEIGHT, |mut row| {
                        row.col(|ui| {
                            ui.vertical(|ui| {
                                ui.spacing_mut().item_spacing.y = 0.0;
                                let name = ui
                                    .add(
                                        egui::Label::new(RichText::new(&event.name).strong())
                                            .sense(egui::Sense::click()),
                                    )
                                    .on_hover_cursor(egui::CursorIcon::PointingHand)
                                    .on_hover_text(format!(
                                        "{} · {} — show details",
                                        event.name, event.location
                                    ));
                                if name.clicked() {
                                    open = Some(event.id.clone());
                                }
                                ui.horizontal(|ui| {
                                    let discuss = ui
                                        .small_button("Discuss")
                                        .on_hover_text("Open this event's chat room")
                                        .accessible_name(format!("Discuss {}", event.name));
                                    if discuss.clicked() {
                                        actions.push(Action::Net(NetCommand::Discuss {
                                            event_id: event.id.clone(),
                                        }));
                                    }
                                    ui.label(RichText::new(&event.location).weak().small());
                                });
                            });
                        });
                        row.col(|ui| {
                            ui.label(event.date.format("%d %b %Y").to_string())
                                .on_hover_text(event.date.format("%A %d %B %Y").to_string());
                        });
                        row.col(|ui| {
                            ui.vertical(|ui| {
                                ui.spacing_mut().item_spacing.y = 0.0;
                                ui.horizontal(|ui| seats_cell(ui, event));
                                ui.label(
                                    RichText::new(format!(
                                        "max {} per user (you hold {held})",
                                        event.max_per_user
                                    ))
                                    .weak()
                                    .small(),
                                );
                            });
                        });
                        let quantity = self.quantities.entry(event.id.clone()).or_insert(1);
                        *quantity = (*quantity).clamp(1, bookable.max(1));
                        row.col(|ui| {
                            ui.add_enabled(
                                bookable > 1,
                                egui::DragValue::new(quantity)
                                    .range(1..=bookable.max(1))
                                    .speed(0.1),
                            )
                            .on_hover_text(format!("You can book up to {bookable} now"))
                            .accessible_name(format!("Quantity for {}", event.name));
                        });
                        let quantity = *quantity;
                        row.col(|ui| {
                            if event.available == 0 || !is_open(event) {
                                match waitlist_cell(ui, model, event, bookable, online) {
                                    WaitlistClick::Join => {
                                        actions.push(Action::Net(NetCommand::JoinWaitlist {
                                            event_id: event.id.clone(),
                                            quantity,
                                        }));
                                    }
                                    WaitlistClick::Details => open = Some(event.id.clone()),
                                    WaitlistClick::None => {}
                                }
                            } else if book_cell(ui, model, event, bookable, online) {
                                self.confirm = Some(PendingBooking {
                                    event_id: event.id.clone(),
                                    quantity,
                                });
                            }
                        });
                    });
                }
            });
        if let Some(event_id) = open {
            self.open(&event_id);
        }
        actions
    }

    /// "Book 3 seats for Jazz Night, Sat 02 Oct?": names the event, date,
    /// quantity and seats left; Enter confirms, Escape cancels.
    fn confirmation(&mut self, ui: &mut Ui, model: &Model) -> Option<Action> {
        let pending = self.confirm.clone()?;
        let Some(event) = model.events.event(&pending.event_id) else {
            self.confirm = None;
            return None;
        };
        let mut action = None;
        let mut close = false;
        let confirm = |action: &mut Option<Action>| {
            *action = Some(Action::Net(NetCommand::Book {
                event_id: pending.event_id.clone(),
                quantity: pending.quantity,
            }));
        };
        let modal = egui::Modal::new(egui::Id::unique("confirm-booking")).show(ui.ctx(), |ui| {
            ui.set_max_width(380.0);
            ui.add(
                egui::Label::new(
                    RichText::new(format!(
                        "Book {} {} for {}, {}?",
                        pending.quantity,
                        seats(pending.quantity),
                        event.name,
                        event.date.format("%a %d %b")
                    ))
                    .heading(),
                )
                .wrap(),
            );
            ui.label(format!(
                "{} · {} · {} {} left",
                event.date.format("%A %d %B %Y"),
                event.location,
                event.available,
                seats(event.available)
            ));
            if pending.quantity > event.available {
                ui.label(
                    RichText::new(format!(
                        "Fewer seats are left now than the {} you asked for.",
                        pending.quantity
                    ))
                    .color(error_color(ui)),
                );
            }
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                let book = ui.button("Confirm booking");
                if book.clicked() || ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    confirm(&mut action);
                    close = true;
                }
                if ui.button("Don't book").clicked() {
                    close = true;
                }
            });
            ui.label(RichText::new("Enter confirms · Esc cancels").weak().small());
        });
        if close || modal.should_close() {
            self.confirm = None;
        }
        action
    }

    fn sort_header(&mut self, ui: &mut Ui, text: &str, key: SortKey) {
        let arrow = match (self.sort == key, self.descending) {
            (false, _) => "",
            (true, false) => " ⏶",
            (true, true) => " ⏷",
        };
        let button =
            egui::Button::new(RichText::new(format!("{text}{arrow}")).strong()).frame(false);
        if ui
            .add(button)
            .on_hover_text(format!("Sort by {}", text.to_lowercase()))
            .clicked()
        {
            if self.sort == key {
                self.descending = !self.descending;
            } else {
                self.sort = key;
                self.descending = false;
            }
        }
    }

    /// The events to show: filtered by name or venue (case-insensitive),
    /// sorted by the chosen column.
    fn rows<'a>(&self, events: &'a [Event]) -> Vec<&'a Event> {
        let needle = self.filter.trim().to_lowercase();
        let mut rows: Vec<&Event> = events
            .iter()
            .filter(|e| {
                needle.is_empty()
                    || e.name.to_lowercase().contains(&needle)
                    || e.location.to_lowercase().contains(&needle)
            })
            .collect();
        match self.sort {
            SortKey::Date => rows.sort_by(|a, b| (a.date, &a.name).cmp(&(b.date, &b.name))),
            SortKey::Name => rows.sort_by(|a, b| {
                (a.name.to_lowercase(), a.date).cmp(&(b.name.to_lowercase(), b.date))
            }),
        }
        if self.descending {
            rows.reverse();
        }
        rows
    }
}

/// Width of the last column: fits "Join waiting list".
pub const BOOK_WIDTH: f32 = 128.0;

/// On sale or sold out (not cancelled, not started).
fn is_open(event: &Event) -> bool {
    matches!(event.status, EventStatus::OnSale | EventStatus::SoldOut)
}

/// What a click in the last cell of a sold-out or closed row asks for.
enum WaitlistClick {
    None,
    Join,
    Details,
}

/// The last cell of a sold-out or closed row: "Join waiting list", the
/// user's place in line, an offer waiting, or why nothing can be done.
fn waitlist_cell(
    ui: &mut Ui,
    model: &Model,
    event: &Event,
    allowance: u32,
    online: bool,
) -> WaitlistClick {
    if !is_open(event) {
        let text = if event.status == EventStatus::Cancelled {
            "Cancelled"
        } else {
            "Closed"
        };
        ui.label(RichText::new(text).weak());
        return WaitlistClick::None;
    }
    let now = chrono::Utc::now();
    if model
        .ticketing
        .open_offers(now)
        .any(|o| o.event_id == event.id)
    {
        let offer = ui
            .button(RichText::new("Offer for you").strong())
            .accessible_name(format!("Offer for {}", event.name));
        return if offer.clicked() {
            WaitlistClick::Details
        } else {
            WaitlistClick::None
        };
    }
    if let Some(place) = model.ticketing.place(&event.id) {
        let place = ui
            .button(format!("#{} in line", place.position))
            .on_hover_text(format!(
                "You wait for {} {}; click for details or to leave the list",
                place.quantity,
                seats(place.quantity)
            ))
            .accessible_name(format!("Place in line for {}", event.name));
        return if place.clicked() {
            WaitlistClick::Details
        } else {
            WaitlistClick::None
        };
    }
    let busy = model.ticketing.busy.waitlist.contains(&event.id);
    let enabled = online && !busy && allowance > 0;
    let join = ui
        .add_enabled(enabled, egui::Button::new("Join waiting list"))
        .on_hover_text("Sold out: get an offer when seats come back")
        .accessible_name(format!("Join waiting list for {}", event.name));
    let join = if allowance == 0 {
        join.on_disabled_hover_text("You hold the most seats one user may book")
    } else {
        join
    };
    if busy {
        ui.add(egui::Spinner::new());
    } else if let Some(error) = model.ticketing.waitlist_errors.get(&event.id) {
        ui.label(RichText::new("⚠").color(error_color(ui)))
            .on_hover_text(error);
    }
    if join.clicked() && enabled {
        WaitlistClick::Join
    } else {
        WaitlistClick::None
    }
}

/// "148 / 150" with a small bar, or "Sold out", "Cancelled", "Past".
fn seats_cell(ui: &mut Ui, event: &Event) {
    let fraction = if event.capacity == 0 {
        0.0
    } else {
        f64::from(event.available) / f64::from(event.capacity)
    };
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a fraction in 0..=1 fits f32"
    )]
    seats_bar(ui, fraction as f32);
    if event.status == EventStatus::Cancelled {
        ui.label(RichText::new("Cancelled").color(error_color(ui)).strong());
    } else if event.status == EventStatus::Past {
        ui.label(RichText::new("Past").weak());
    } else if event.available == 0 {
        let text = if event.waitlist > 0 {
            format!("Sold out · {} waiting", event.waitlist)
        } else {
            "Sold out".to_owned()
        };
        ui.label(RichText::new(text).color(error_color(ui)).strong());
    } else {
        ui.label(format!("{} / {}", event.available, event.capacity));
    }
}

/// A 40×8 bar filled by `fraction` of seats left: the selection colour, or
/// amber below a fifth; empty when sold out.
fn seats_bar(ui: &mut Ui, fraction: f32) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(40.0, 8.0), egui::Sense::hover());
    let visuals = ui.visuals();
    let painter = ui.painter();
    painter.rect_filled(rect, 4.0, visuals.extreme_bg_color);
    if fraction > 0.0 {
        let mut filled = rect;
        filled.set_width((rect.width() * fraction.min(1.0)).max(rect.height()));
        let color = if fraction < 0.2 {
            visuals.warn_fg_color
        } else {
            visuals.selection.bg_fill
        };
        painter.rect_filled(filled, 4.0, color);
    }
}

/// The Book button (a spinner while booking, "waiting" while the booking
/// waits for the connection; disabled when nothing can be booked or while
/// offline). Returns `true` when clicked.
fn book_cell(ui: &mut Ui, model: &Model, event: &Event, bookable: u32, online: bool) -> bool {
    let booking = model.events.busy.books.contains(&event.id);
    let enabled = !booking && bookable > 0 && online;
    let button = ui
        .add_enabled(enabled, egui::Button::new("Book"))
        .accessible_name(format!("Book {}", event.name));
    let button = if !online && !booking {
        button.on_disabled_hover_text("Offline: booking resumes when the connection is back")
    } else if bookable == 0 && event.available > 0 {
        button.on_disabled_hover_text("You hold the most seats one user may book")
    } else {
        button
    };
    let clicked = button.clicked() && enabled;
    if booking {
        if model.events.busy.books_waiting.contains(&event.id) {
            ui.label(RichText::new("waiting").weak().small())
                .on_hover_text("Connection lost: the booking is sent again when it is back");
        } else {
            ui.add(egui::Spinner::new());
        }
    } else if let Some(error) = model.events.book_errors.get(&event.id) {
        ui.label(RichText::new("⚠").color(error_color(ui)))
            .on_hover_text(error);
    }
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn event(id: &str, name: &str, location: &str, day: u32) -> Event {
        Event {
            id: id.into(),
            name: name.into(),
            date: NaiveDate::from_ymd_opt(2027, 6, day).expect("date"),
            location: location.into(),
            capacity: 10,
            available: 10,
            max_per_user: 4,
            description: String::new(),
            starts_at: coliseum_protocol::validate::evening_of(
                NaiveDate::from_ymd_opt(2027, 6, day).expect("date"),
            ),
            status: coliseum_protocol::EventStatus::OnSale,
            room: String::new(),
            waitlist: 0,
            held: 0,
        }
    }

    #[test]
    fn filters_by_name_or_venue_and_sorts() {
        let events = [
            event("1", "Concerto Rock", "Stadio", 12),
            event("2", "Aria", "Teatro", 20),
            event("3", "Zebra", "stadio nuovo", 1),
        ];
        let mut view = EventsView::default();
        let ids = |rows: Vec<&Event>| rows.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(view.rows(&events)), ["3", "1", "2"]);
        view.sort = SortKey::Name;
        assert_eq!(ids(view.rows(&events)), ["2", "1", "3"]);
        view.descending = true;
        assert_eq!(ids(view.rows(&events)), ["3", "1", "2"]);
        view.filter = " STADIO ".into();
        assert_eq!(ids(view.rows(&events)), ["3", "1"]);
    }
}

//! One event in full: description, start time, venue, seats, people
//! waiting, the user's tickets and place in line, with Book or "Join waiting
//! list", and "Discuss" to its room. Admins edit and cancel it here; admins
//! and staff see its attendees (CSV export).

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveTime, TimeZone as _};
use coliseum_protocol::request::UpdateEvent;
use coliseum_protocol::validate;
use coliseum_protocol::{Event, EventStatus};
use egui::{Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};

use super::{Action, action_button, error_color, field_error, text_field};
use crate::model::{Model, seats};
use crate::network::{NetCommand, SaveRequest};
use crate::ticket_files;

/// UI state of the details of one event.
#[derive(Debug, Clone)]
pub struct EventDetails {
    /// The event shown.
    pub event_id: String,
    /// Seats to book or wait for.
    quantity: u32,
    /// The admin's edit form, while open.
    edit: Option<EditForm>,
    /// The cancellation reason being typed, while the dialog is open.
    cancel_reason: Option<String>,
    /// `model.ticketing.updated` when the edit form was opened: a higher
    /// count means it was saved, and the form closes.
    updates_seen: u32,
    /// Attendees were asked for once (door users, on opening).
    attendees_asked: bool,
}

/// What the details ask of the events view.
#[derive(Debug, Default)]
pub struct DetailsOutput {
    /// Actions for the app.
    pub actions: Vec<Action>,
    /// "⏴ All events" was clicked.
    pub back: bool,
    /// Book this many seats (after the events view's confirmation).
    pub book: Option<u32>,
}

impl EventDetails {
    /// Details of `event_id`.
    #[must_use]
    pub fn new(event_id: String) -> Self {
        Self {
            event_id,
            quantity: 1,
            edit: None,
            cancel_reason: None,
            updates_seen: 0,
            attendees_asked: false,
        }
    }

    /// Draws the details.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> DetailsOutput {
        let mut out = DetailsOutput::default();
        let Some(event) = model.events.event(&self.event_id) else {
            ui.label(RichText::new("This event is no longer listed.").weak());
            out.back = ui.button("⏴ All events").clicked();
            return out;
        };
        if let Some(action) = self.cancel_dialog(ui, model, event) {
            out.actions.push(action);
        }
        if self.edit.is_some() && model.ticketing.updated != self.updates_seen {
            self.edit = None;
        }
        ui.horizontal(|ui| {
            out.back = ui.button("⏴ All events").clicked();
            let discuss = ui
                .button("Discuss")
                .on_hover_text("Open this event's chat room")
                .accessible_name(format!("Discuss {}", event.name));
            if discuss.clicked() {
                out.actions.push(Action::Net(NetCommand::Discuss {
                    event_id: event.id.clone(),
                }));
            }
        });
        ui.add_space(6.0);
        egui::ScrollArea::vertical()
            .id_salt("event-details")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.summary(ui, model, event, &mut out);
                if model.session.is_admin() {
                    ui.add_space(12.0);
                    ui.separator();
                    self.admin(ui, model, event, &mut out.actions);
                }
                if model.session.is_door() {
                    ui.add_space(12.0);
                    ui.separator();
                    self.attendees(ui, model, event, &mut out.actions);
                }
            });
        out
    }

    fn summary(&mut self, ui: &mut Ui, model: &Model, event: &Event, out: &mut DetailsOutput) {
        ui.horizontal_wrapped(|ui| {
            ui.heading(RichText::new(&event.name).strong());
            status_badge(ui, event.status);
        });
        ui.label(RichText::new(start_text(event.starts_at)).strong())
            .on_hover_text("Start time at the venue");
        ui.label(format!("Venue: {}", event.location));
        ui.add_space(6.0);
        if event.description.is_empty() {
            ui.label(RichText::new("No description.").weak());
        } else {
            ui.add(egui::Label::new(&event.description).wrap());
        }
        ui.add_space(8.0);
        egui::Grid::new("event-facts")
            .num_columns(2)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.label("Seats left");
                ui.label(format!("{} of {}", event.available, event.capacity));
                ui.end_row();
                if event.held > 0 {
                    ui.label("Held for the waiting list");
                    ui.label(format!("{} {}", event.held, seats(event.held)));
                    ui.end_row();
                }
                ui.label("People waiting");
                ui.label(event.waitlist.to_string());
                ui.end_row();
                ui.label("Per person");
                ui.label(format!("at most {}", event.max_per_user));
                ui.end_row();
                ui.label("Your seats");
                ui.label(model.events.held(&event.id).to_string());
                ui.end_row();
            });
        ui.add_space(8.0);
        self.booking(ui, model, event, out);
    }

    /// Book, or the waiting list when sold out, or why neither.
    fn booking(&mut self, ui: &mut Ui, model: &Model, event: &Event, out: &mut DetailsOutput) {
        let online = model.connection.is_connected();
        match event.status {
            EventStatus::Cancelled => {
                ui.label(
                    RichText::new("This event was cancelled; every ticket was refunded.")
                        .color(error_color(ui)),
                );
                return;
            }
            EventStatus::Past => {
                ui.label(RichText::new("This event has started: booking is closed.").weak());
                return;
            }
            EventStatus::OnSale | EventStatus::SoldOut => {}
        }
        let held = model.events.held(&event.id);
        let allowance = event.max_per_user.saturating_sub(held);
        if event.available > 0 {
            let bookable = model.events.bookable(event);
            if bookable == 0 {
                ui.label(RichText::new("You hold the most seats one person may book.").weak());
                return;
            }
            ui.horizontal(|ui| {
                self.quantity = self.quantity.clamp(1, bookable);
                quantity_field(ui, &mut self.quantity, bookable, &event.name);
                let booking = model.events.busy.books.contains(&event.id);
                if action_button(ui, "Book", booking, online) {
                    out.book = Some(self.quantity);
                }
            });
            return;
        }
        if let Some(offer) = model
            .ticketing
            .open_offers(chrono::Utc::now())
            .find(|o| o.event_id == event.id)
        {
            ui.label(
                RichText::new(format!(
                    "{}: accept or decline above.",
                    crate::model::ticketing::held_for_you(offer.quantity, None)
                ))
                .strong(),
            );
            return;
        }
        let busy = model.ticketing.busy.waitlist.contains(&event.id);
        if let Some(place) = model.ticketing.place(&event.id) {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!(
                    "You are number {} in line for {} {}.",
                    place.position,
                    place.quantity,
                    seats(place.quantity)
                ));
                if action_button(ui, "Leave waiting list", busy, online) {
                    out.actions.push(Action::Net(NetCommand::LeaveWaitlist {
                        event_id: event.id.clone(),
                    }));
                }
            });
        } else if allowance == 0 {
            ui.label(RichText::new("You hold the most seats one person may book.").weak());
        } else {
            ui.label(
                "Sold out. Join the waiting list: when seats come back they are held for the \
                 first in line, and you get an offer here and in chat.",
            );
            ui.horizontal(|ui| {
                self.quantity = self.quantity.clamp(1, allowance);
                quantity_field(ui, &mut self.quantity, allowance, &event.name);
                if action_button(ui, "Join waiting list", busy, online) {
                    out.actions.push(Action::Net(NetCommand::JoinWaitlist {
                        event_id: event.id.clone(),
                        quantity: self.quantity,
                    }));
                }
            });
        }
        if let Some(error) = model.ticketing.waitlist_errors.get(&event.id) {
            ui.label(RichText::new(error).color(error_color(ui)));
        }
    }

    /// Edit and cancel (admins).
    fn admin(&mut self, ui: &mut Ui, model: &Model, event: &Event, actions: &mut Vec<Action>) {
        ui.heading("Manage");
        let open = matches!(event.status, EventStatus::OnSale | EventStatus::SoldOut);
        if !open {
            ui.label(RichText::new("A cancelled or started event can no longer change.").weak());
            return;
        }
        if self.edit.is_none() {
            ui.horizontal(|ui| {
                if ui.button("Edit event…").clicked() {
                    self.edit = Some(EditForm::from_event(event));
                    self.updates_seen = model.ticketing.updated;
                }
                let cancelling = model.ticketing.busy.cancels.contains(&event.id);
                if action_button(ui, "Cancel event…", cancelling, true) {
                    self.cancel_reason = Some(String::new());
                }
            });
            if let Some(error) = model.ticketing.cancel_errors.get(&event.id) {
                ui.label(RichText::new(error).color(error_color(ui)));
            }
            return;
        }
        let busy = model.ticketing.busy.updates.contains(&event.id);
        let server = model.ticketing.update_errors.get(&event.id);
        let mut close = false;
        if let Some(form) = &mut self.edit {
            match form.ui(ui, event, server, busy) {
                FormResult::Save(update) => {
                    actions.push(Action::Net(NetCommand::UpdateEvent(*update)))
                }
                FormResult::Discard => close = true,
                FormResult::None => {}
            }
        }
        if close {
            self.edit = None;
        }
    }

    /// The attendees table and its CSV export (admins and staff).
    fn attendees(&mut self, ui: &mut Ui, model: &Model, event: &Event, actions: &mut Vec<Action>) {
        let loading = model.ticketing.busy.attendees.contains(&event.id);
        if !self.attendees_asked {
            self.attendees_asked = true;
            actions.push(Action::Net(NetCommand::LoadAttendees {
                event_id: event.id.clone(),
            }));
        }
        let rows = model.ticketing.attendees.get(&event.id);
        ui.horizontal(|ui| {
            ui.heading("Attendees");
            if let Some(rows) = rows {
                let inside = rows.iter().filter(|a| a.checked_in_at.is_some()).count();
                ui.label(format!(
                    "{} {} · {inside} checked in",
                    rows.len(),
                    crate::model::plural(rows.len(), "ticket")
                ));
            }
        });
        ui.horizontal(|ui| {
            if action_button(ui, "⟳ Refresh attendees", loading, true) {
                actions.push(Action::Net(NetCommand::LoadAttendees {
                    event_id: event.id.clone(),
                }));
            }
            let saving = model.ticketing.busy.save;
            let export = ui.add_enabled(
                rows.is_some_and(|r| !r.is_empty()) && !saving,
                egui::Button::new("Export CSV…"),
            );
            if export.clicked()
                && let Some(rows) = rows
            {
                match ticket_files::attendees_csv(event, rows) {
                    Ok(bytes) => actions.push(Action::Net(NetCommand::SaveFile(SaveRequest {
                        what: "Attendees list".into(),
                        file_name: ticket_files::file_name("attendees", &event.name, "csv"),
                        bytes,
                    }))),
                    Err(message) => {
                        ui.label(RichText::new(message).color(error_color(ui)));
                    }
                }
            }
        });
        if let Some(error) = model.ticketing.attendees_errors.get(&event.id) {
            ui.label(RichText::new(error).color(error_color(ui)));
        }
        let Some(rows) = rows else { return };
        if rows.is_empty() {
            ui.label(RichText::new("No tickets booked yet.").weak());
            return;
        }
        TableBuilder::new(ui)
            .id_salt("attendees-table")
            .striped(true)
            .max_scroll_height(320.0)
            .column(Column::remainder().at_least(100.0).clip(true))
            .column(Column::auto().at_least(44.0))
            .column(Column::auto().at_least(60.0))
            .column(Column::auto().at_least(120.0))
            .header(22.0, |mut header| {
                for title in ["Holder", "Seats", "Ticket", "Checked in"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(24.0, rows.len(), |mut row| {
                    let attendee = &rows[row.index()];
                    row.col(|ui| {
                        ui.label(&attendee.holder);
                    });
                    row.col(|ui| {
                        ui.label(attendee.quantity.to_string());
                    });
                    row.col(|ui| {
                        ui.label(&attendee.ticket_id);
                    });
                    row.col(|ui| match attendee.checked_in_at {
                        Some(at) => {
                            ui.label(
                                RichText::new(format!(
                                    "✔ {}",
                                    at.with_timezone(&Local).format("%H:%M")
                                ))
                                .color(ADMITTED),
                            );
                        }
                        None => {
                            ui.label(RichText::new("not yet").weak());
                        }
                    });
                });
            });
    }

    /// "Cancel <event>?" with a reason every holder will read.
    fn cancel_dialog(&mut self, ui: &mut Ui, model: &Model, event: &Event) -> Option<Action> {
        let reason = self.cancel_reason.as_mut()?;
        let mut action = None;
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("cancel-event")).show(ui.ctx(), |ui| {
            ui.set_max_width(420.0);
            ui.heading(format!("Cancel {}?", event.name));
            let sold = event
                .capacity
                .saturating_sub(event.available)
                .saturating_sub(event.held);
            ui.label(format!(
                "Every ticket is refunded ({sold} {} sold) and every holder gets your reason \
                 in a notice and in chat. This cannot be undone.",
                seats(sold)
            ));
            ui.add_space(6.0);
            let label = ui.label("Reason");
            ui.add(
                egui::TextEdit::multiline(reason)
                    .desired_rows(3)
                    .desired_width(f32::INFINITY)
                    .hint_text("e.g. The band is ill; we hope to see you at the new date."),
            )
            .labelled_by(label.id);
            let trimmed = reason.trim();
            let valid = !trimmed.is_empty() && trimmed.chars().count() <= 500;
            field_error(
                ui,
                (trimmed.chars().count() > 500).then_some("at most 500 characters"),
            );
            ui.horizontal(|ui| {
                let busy = model.ticketing.busy.cancels.contains(&event.id);
                if ui
                    .add_enabled(valid && !busy, egui::Button::new("Cancel event"))
                    .on_disabled_hover_text("Give a reason first")
                    .clicked()
                {
                    action = Some(Action::Net(NetCommand::CancelEvent {
                        event_id: event.id.clone(),
                        reason: trimmed.to_owned(),
                    }));
                    close = true;
                }
                if ui.button("Keep event").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.cancel_reason = None;
        }
        action
    }
}

/// Green of an admitted ticket (readable on light and dark themes).
pub const ADMITTED: Color32 = Color32::from_rgb(0x1e, 0x9e, 0x4a);

/// "On sale", "Sold out", "Cancelled" or "Past" as a small coloured badge.
pub fn status_badge(ui: &mut Ui, status: EventStatus) {
    let (text, color) = match status {
        EventStatus::OnSale => ("On sale", ADMITTED),
        EventStatus::SoldOut => ("Sold out", ui.visuals().warn_fg_color),
        EventStatus::Cancelled => ("Cancelled", ui.visuals().error_fg_color),
        EventStatus::Past => ("Past", ui.visuals().weak_text_color()),
    };
    ui.label(RichText::new(text).color(color).strong());
}

/// "Sat 12 Jun 2027, 20:00", with the offset when it is not the viewer's.
#[must_use]
pub fn start_text(starts_at: DateTime<FixedOffset>) -> String {
    let local_offset = *Local.from_utc_datetime(&starts_at.naive_utc()).offset();
    let text = starts_at.format("%a %d %b %Y, %H:%M").to_string();
    if *starts_at.offset() == local_offset {
        text
    } else {
        format!(
            "{text} (UTC{}; {} your time)",
            starts_at.format("%:z"),
            starts_at.with_timezone(&Local).format("%H:%M")
        )
    }
}

/// A quantity picker, 1..=`max`.
fn quantity_field(ui: &mut Ui, quantity: &mut u32, max: u32, event: &str) {
    ui.label("Seats");
    ui.add_enabled(
        max > 1,
        egui::DragValue::new(quantity)
            .range(1..=max.max(1))
            .speed(0.1),
    )
    .on_hover_text(format!("Up to {max}"))
    .accessible_name(format!("Seats for {event}"));
}

/// What the edit form asks for.
enum FormResult {
    None,
    Save(Box<UpdateEvent>),
    Discard,
}

/// The admin's edit form, filled from the event.
#[derive(Debug, Clone)]
struct EditForm {
    name: String,
    date: jiff::civil::Date,
    time: String,
    location: String,
    description: String,
    capacity: String,
    max_per_user: String,
}

impl EditForm {
    fn from_event(event: &Event) -> Self {
        let local = event.starts_at.with_timezone(&Local);
        Self {
            name: event.name.clone(),
            date: super::admin::to_jiff(local.date_naive()),
            time: local.format("%H:%M").to_string(),
            location: event.location.clone(),
            description: event.description.clone(),
            capacity: event.capacity.to_string(),
            max_per_user: event.max_per_user.to_string(),
        }
    }

    fn ui(
        &mut self,
        ui: &mut Ui,
        event: &Event,
        server: Option<&crate::network::FormError>,
        busy: bool,
    ) -> FormResult {
        let mut result = FormResult::None;
        let server_says = |field: &str| server.and_then(|e| e.for_field(field));
        ui.scope(|ui| {
            ui.set_max_width(460.0);
            text_field(ui, "Event name", &mut self.name, false);
            field_error(
                ui,
                validate::event_text("name", &self.name)
                    .err()
                    .as_deref()
                    .or_else(|| server_says("name")),
            );
            let starts = self.starts_at();
            ui.horizontal(|ui| {
                let label = ui.label("Starts");
                ui.add(
                    egui_extras::DatePickerButton::new(&mut self.date)
                        .id_salt("edit-event-date")
                        .calendar_week(false),
                )
                .labelled_by(label.id);
                let time = ui.add(
                    egui::TextEdit::singleline(&mut self.time)
                        .id_salt("edit-event-time")
                        .desired_width(56.0)
                        .hint_text("20:00"),
                );
                time.labelled_by(label.id);
                ui.label(RichText::new("local time").weak().small());
            });
            field_error(
                ui,
                starts
                    .as_ref()
                    .err()
                    .map(String::as_str)
                    .or_else(|| server_says("starts_at")),
            );
            text_field(ui, "Event venue", &mut self.location, false);
            field_error(
                ui,
                validate::event_text("venue", &self.location)
                    .err()
                    .as_deref()
                    .or_else(|| server_says("location")),
            );
            super::text_area(
                ui,
                "Description",
                "edit-event-description",
                &mut self.description,
                4,
            );
            field_error(
                ui,
                validate::description(&self.description)
                    .err()
                    .as_deref()
                    .or_else(|| server_says("description")),
            );
            ui.columns(2, |columns| {
                text_field(&mut columns[0], "Event capacity", &mut self.capacity, false);
                text_field(
                    &mut columns[1],
                    "Event max per user",
                    &mut self.max_per_user,
                    false,
                );
            });
            let update = self.update(event);
            field_error(
                ui,
                update
                    .as_ref()
                    .err()
                    .map(String::as_str)
                    .or_else(|| server_says("capacity"))
                    .or_else(|| server_says("max_per_user")),
            );
            if let Some(error) = server.filter(|e| e.field.is_none()) {
                ui.label(RichText::new(&error.message).color(error_color(ui)));
            }
            ui.horizontal(|ui| {
                let changed = matches!(&update, Ok(Some(_)));
                if action_button(ui, "Save changes", busy, changed)
                    && let Ok(Some(update)) = update
                {
                    result = FormResult::Save(Box::new(update));
                }
                if ui.button("Discard").clicked() {
                    result = FormResult::Discard;
                }
            });
        });
        result
    }

    fn starts_at(&self) -> Result<DateTime<FixedOffset>, String> {
        let date = NaiveDate::from_ymd_opt(
            i32::from(self.date.year()),
            u32::try_from(self.date.month()).unwrap_or(1),
            u32::try_from(self.date.day()).unwrap_or(1),
        )
        .ok_or("not a date")?;
        local_start(date, &self.time)
    }

    /// The `update_event` request carrying only what changed; `Ok(None)`
    /// when nothing did; `Err` naming the first rule broken.
    fn update(&self, event: &Event) -> Result<Option<UpdateEvent>, String> {
        validate::event_text("name", &self.name)?;
        validate::event_text("venue", &self.location)?;
        validate::description(&self.description)?;
        let starts = self.starts_at()?;
        let capacity = super::parse_count("capacity", &self.capacity)?;
        let max_per_user = super::parse_count("max per user", &self.max_per_user)?;
        let taken = event.capacity.saturating_sub(event.available);
        if capacity < taken {
            return Err(format!(
                "capacity cannot go below the {taken} seats sold or held"
            ));
        }
        validate::capacity(capacity, max_per_user)?;
        let name = self.name.trim();
        let location = self.location.trim();
        let update = UpdateEvent {
            event_id: event.id.clone(),
            name: (name != event.name).then(|| name.to_owned()),
            starts_at: (starts != event.starts_at).then(|| starts.to_rfc3339()),
            location: (location != event.location).then(|| location.to_owned()),
            description: (self.description != event.description).then(|| self.description.clone()),
            capacity: (capacity != event.capacity).then_some(capacity),
            max_per_user: (max_per_user != event.max_per_user).then_some(max_per_user),
        };
        let unchanged = update.name.is_none()
            && update.starts_at.is_none()
            && update.location.is_none()
            && update.description.is_none()
            && update.capacity.is_none()
            && update.max_per_user.is_none();
        Ok((!unchanged).then_some(update))
    }
}

/// `date` at `time` (`HH:MM`, 24-hour) in this computer's time zone, not in
/// the past.
///
/// # Errors
/// "time must be HH:MM" or "the start must be in the future".
pub fn local_start(date: NaiveDate, time: &str) -> Result<DateTime<FixedOffset>, String> {
    let time = NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| "time must be HH:MM (24-hour), e.g. 20:00".to_owned())?;
    let at = Local
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .ok_or("this time does not exist on that day (clock change)")?
        .fixed_offset();
    if at <= chrono::Utc::now() {
        return Err("the start must be in the future".to_owned());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        let starts = local_start(NaiveDate::from_ymd_opt(2031, 5, 10).expect("date"), "21:30")
            .expect("start");
        Event {
            id: "4".into(),
            name: "Jazz Night".into(),
            date: starts.date_naive(),
            location: "Blue Room".into(),
            capacity: 80,
            available: 70,
            max_per_user: 4,
            description: "Doors 19:30".into(),
            starts_at: starts,
            status: EventStatus::OnSale,
            room: "event-4".into(),
            waitlist: 0,
            held: 2,
        }
    }

    #[test]
    fn the_edit_form_sends_only_what_changed() {
        let event = event();
        let mut form = EditForm::from_event(&event);
        assert_eq!(form.time, "21:30");
        assert_eq!(form.update(&event), Ok(None), "nothing changed yet");
        form.capacity = "100".into();
        form.time = "20:00".into();
        let update = form.update(&event).expect("valid").expect("changed");
        assert_eq!(update.capacity, Some(100));
        assert!(update.starts_at.is_some_and(|s| s.contains("T20:00:00")));
        assert_eq!(
            (update.name, update.location, update.max_per_user),
            (None, None, None)
        );
        form.capacity = "9".into();
        assert_eq!(
            form.update(&event),
            Err("capacity cannot go below the 10 seats sold or held".into())
        );
        form.capacity = "80".into();
        form.time = "25:00".into();
        assert!(
            form.update(&event)
                .is_err_and(|e| e.starts_with("time must be HH:MM"))
        );
    }

    #[test]
    fn a_start_in_the_past_is_refused() {
        let yesterday = Local::now().date_naive() - chrono::Days::new(1);
        assert_eq!(
            local_start(yesterday, "20:00"),
            Err("the start must be in the future".into())
        );
    }
}

//! Admins only: the "New event" form (validated with the server's rules) and
//! the events import from a CSV or JSON file.

use chrono::{Datelike as _, Days, Local, NaiveDate};
use coliseum_protocol::validate::{self, DEFAULT_MAX_PER_USER};
use egui::{RichText, Ui};

use super::{Action, action_button, error_color, field_error, parse_count, submitted, text_field};
use crate::model::Model;
use crate::network::{ImportOutcome, NetCommand};
use crate::transfer::{NewEvent, not_in_the_past};

/// Form state of "New event".
#[derive(Debug, Clone)]
pub struct AdminView {
    name: String,
    date: jiff::civil::Date,
    location: String,
    capacity: String,
    max_per_user: String,
    /// Start time, `HH:MM` local.
    time: String,
    /// Optional description.
    description: String,
    tried: bool,
    /// The form was cleared after creating this event (by name).
    handled_created: Option<String>,
    /// The first field has had the focus.
    focused: bool,
}

impl Default for AdminView {
    fn default() -> Self {
        let today = Local::now().date_naive();
        let date = today.checked_add_days(Days::new(30)).unwrap_or(today);
        Self {
            name: String::new(),
            date: to_jiff(date),
            location: String::new(),
            capacity: String::new(),
            max_per_user: DEFAULT_MAX_PER_USER.to_string(),
            time: "20:00".to_owned(),
            description: String::new(),
            tried: false,
            handled_created: None,
            focused: false,
        }
    }
}

/// The form's values checked one by one; every field's problem is kept so
/// each can be shown beside its field.
struct Checked {
    name: Result<(), String>,
    location: Result<(), String>,
    date: Result<NaiveDate, String>,
    capacity: Result<u32, String>,
    max_per_user: Result<u32, String>,
    /// The rule tying capacity and max per user together.
    limits: Result<(), String>,
    /// Date and time together, in the future.
    starts_at: Result<chrono::DateTime<chrono::FixedOffset>, String>,
    description: Result<(), String>,
}

impl Checked {
    fn event(&self, name: &str, location: &str, description: &str) -> Option<NewEvent> {
        self.name.as_ref().ok()?;
        self.location.as_ref().ok()?;
        self.limits.as_ref().ok()?;
        self.description.as_ref().ok()?;
        Some(NewEvent {
            name: name.trim().to_owned(),
            date: *self.date.as_ref().ok()?,
            location: location.trim().to_owned(),
            capacity: *self.capacity.as_ref().ok()?,
            max_per_user: *self.max_per_user.as_ref().ok()?,
            starts_at: Some(*self.starts_at.as_ref().ok()?),
            description: description.trim().to_owned(),
        })
    }
}

impl AdminView {
    /// Draws the form and the import section.
    pub fn ui(&mut self, ui: &mut Ui, model: &Model) -> Vec<Action> {
        let mut actions = Vec::new();
        if model.events.created.is_some() && self.handled_created != model.events.created {
            let handled = model.events.created.clone();
            *self = Self {
                handled_created: handled,
                ..Self::default()
            };
        }
        ui.heading("New event");
        ui.label(RichText::new("The event appears for everyone at once.").weak());
        ui.add_space(8.0);
        let server = model.events.create_error.as_ref();
        let show = |result: Result<(), String>, field: &str, touched: bool| {
            result
                .err()
                .filter(|_| touched)
                .or_else(|| server.and_then(|e| e.for_field(field)).map(str::to_owned))
        };
        let tried = self.tried;
        let mut enter = false;
        ui.scope(|ui| {
            ui.set_max_width(420.0);
            let field = text_field(ui, "Name", &mut self.name, false);
            if !self.focused {
                self.focused = true;
                field.request_focus();
            }
            enter |= submitted(ui, &field);
            field_error(
                ui,
                show(
                    validate::event_text("name", &self.name),
                    "name",
                    tried || !self.name.is_empty(),
                )
                .as_deref(),
            );

            ui.columns(2, |columns| {
                let label = columns[0].label("Date");
                columns[0]
                    .add(
                        egui_extras::DatePickerButton::new(&mut self.date)
                            .id_salt("new-event-date")
                            .calendar_week(false),
                    )
                    .labelled_by(label.id);
                let field = text_field(&mut columns[1], "Start time", &mut self.time, false);
                enter |= submitted(&columns[1], &field);
            });
            let date_error = show(
                validate::event_date(&self.date.to_string())
                    .and_then(|date| not_in_the_past(date, Local::now().date_naive()))
                    .map(drop),
                "date",
                true,
            )
            .or_else(|| show(self.check().starts_at.map(drop), "starts_at", true));
            field_error(ui, date_error.as_deref());

            let field = text_field(ui, "Venue", &mut self.location, false);
            enter |= submitted(ui, &field);
            field_error(
                ui,
                show(
                    validate::event_text("venue", &self.location),
                    "location",
                    tried || !self.location.is_empty(),
                )
                .as_deref(),
            );
            super::text_area(
                ui,
                "Description (optional)",
                "new-event-description",
                &mut self.description,
                3,
            );
            field_error(
                ui,
                show(
                    validate::description(&self.description),
                    "description",
                    true,
                )
                .as_deref(),
            );

            ui.columns(2, |columns| {
                let field = text_field(&mut columns[0], "Capacity", &mut self.capacity, false);
                enter |= submitted(&columns[0], &field);
                field_error(
                    &mut columns[0],
                    show(
                        parse_count("capacity", &self.capacity).map(drop),
                        "capacity",
                        tried || !self.capacity.is_empty(),
                    )
                    .as_deref(),
                );
                let field = text_field(
                    &mut columns[1],
                    "Max per user",
                    &mut self.max_per_user,
                    false,
                );
                enter |= submitted(&columns[1], &field);
                field_error(
                    &mut columns[1],
                    show(
                        parse_count("max per user", &self.max_per_user).map(drop),
                        "max_per_user",
                        true,
                    )
                    .as_deref(),
                );
            });
            // Checked after every field is drawn, so each message matches
            // the text shown in this frame.
            let checked = self.check();
            let touched = tried || !self.capacity.is_empty();
            field_error(
                ui,
                checked.limits.clone().err().filter(|_| touched).as_deref(),
            );
            if let Some(error) = server.filter(|e| {
                !matches!(
                    e.field.as_deref(),
                    Some(
                        "name"
                            | "date"
                            | "starts_at"
                            | "location"
                            | "description"
                            | "capacity"
                            | "max_per_user"
                    )
                )
            }) {
                ui.label(RichText::new(&error.message).color(error_color(ui)));
            }
            ui.add_space(8.0);
            let busy = model.events.busy.create_event;
            if action_button(ui, "Create event", busy, true) || (enter && !busy) {
                self.tried = true;
                if let Some(event) = checked.event(&self.name, &self.location, &self.description) {
                    actions.push(Action::Net(NetCommand::CreateEvent(event)));
                }
            }
        });
        ui.add_space(16.0);
        ui.separator();
        ui.heading("Import events");
        ui.label(
            RichText::new(
                "A CSV file with the columns name, date (YYYY-MM-DD), location, capacity \
                 and optionally max_per_user — or a JSON array of such objects. \
                 Every row is checked first: if any row is invalid, nothing is imported.",
            )
            .weak(),
        );
        if action_button(ui, "Import from file…", model.events.busy.import, true) {
            actions.push(Action::Net(NetCommand::ImportEvents));
        }
        import_report(ui, model.events.import.as_ref());
        actions
    }

    fn check(&self) -> Checked {
        let capacity = parse_count("capacity", &self.capacity);
        let max_per_user = parse_count("max per user", &self.max_per_user);
        let limits = match (&capacity, &max_per_user) {
            (Ok(c), Ok(m)) => validate::capacity(*c, *m),
            _ => Ok(()),
        };
        let date = validate::event_date(&self.date.to_string())
            .and_then(|date| not_in_the_past(date, Local::now().date_naive()));
        Checked {
            name: validate::event_text("name", &self.name),
            location: validate::event_text("venue", &self.location),
            starts_at: date
                .clone()
                .and_then(|date| super::event_details::local_start(date, &self.time)),
            description: validate::description(&self.description),
            date,
            capacity,
            max_per_user,
            limits,
        }
    }
}

fn import_report(ui: &mut Ui, outcome: Option<&ImportOutcome>) {
    let Some(outcome) = outcome else { return };
    let error = error_color(ui);
    match outcome {
        ImportOutcome::Imported { count } => {
            ui.label(format!("Imported {count} events."));
        }
        ImportOutcome::Unreadable(message) => {
            ui.label(RichText::new(format!("Nothing imported: {message}")).color(error));
        }
        ImportOutcome::Invalid(rows) => {
            ui.label(
                RichText::new(format!(
                    "Nothing imported: {} rows are invalid. Fix them and import again.",
                    rows.len()
                ))
                .color(error),
            );
            egui::ScrollArea::vertical()
                .id_salt("import-failures")
                .max_height(160.0)
                .show(ui, |ui| {
                    for row in rows {
                        ui.label(row.to_string());
                    }
                });
        }
        ImportOutcome::Interrupted {
            created,
            row,
            message,
        } => {
            ui.label(
                RichText::new(format!(
                    "The server refused row {row} ({message}); rows before it ({created}) were created."
                ))
                .color(error),
            );
        }
    }
}

/// A chrono date as the date picker's (jiff) date.
pub(super) fn to_jiff(date: NaiveDate) -> jiff::civil::Date {
    let fallback = jiff::civil::Date::constant(2030, 1, 1);
    let (Ok(year), Ok(month), Ok(day)) = (
        i16::try_from(date.year()),
        i8::try_from(date.month()),
        i8::try_from(date.day()),
    ) else {
        return fallback;
    };
    jiff::civil::Date::new(year, month, day).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_form_makes_an_event_and_rules_are_the_servers() {
        let mut view = AdminView {
            name: " Jazz Night ".into(),
            location: "Blue Room".into(),
            capacity: "80".into(),
            max_per_user: "4".into(),
            date: jiff::civil::Date::constant(2027, 10, 2),
            ..AdminView::default()
        };
        let event = view
            .check()
            .event(&view.name, &view.location, "")
            .expect("valid");
        assert_eq!(
            event
                .starts_at
                .map(|at| at.format("%Y-%m-%d %H:%M").to_string()),
            Some("2027-10-02 20:00".to_owned())
        );
        assert_eq!(event.name, "Jazz Night");
        assert_eq!(
            event.date,
            NaiveDate::from_ymd_opt(2027, 10, 2).expect("date")
        );
        assert_eq!((event.capacity, event.max_per_user), (80, 4));

        view.time = "8pm".into();
        assert!(view.check().starts_at.is_err());
        view.max_per_user = "81".into();
        assert!(view.check().limits.is_err());
        view.capacity = "many".into();
        assert!(view.check().capacity.is_err());
        view.name = "  ".into();
        assert!(view.check().name.is_err());
        view.date = to_jiff(Local::now().date_naive() - Days::new(1));
        assert!(
            view.check().date.is_err_and(|e| e.contains("in the past")),
            "an event cannot be dated in the past"
        );
    }

    #[test]
    fn chrono_dates_convert_to_the_picker() {
        let date = NaiveDate::from_ymd_opt(2027, 2, 28).expect("date");
        assert_eq!(to_jiff(date).to_string(), "2027-02-28");
    }
}

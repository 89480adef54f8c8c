//! What a ticket becomes outside the app, as pure functions (no I/O, no
//! dialogs): its QR code (drawn in the UI, saved as PNG), the calendar entry
//! of its event (`.ics`, RFC 5545), the attendees list as CSV, and reading a
//! ticket code back from a photo or screenshot of its QR code at the door.
//!
//! The QR code holds the ticket's `code` exactly (`C1.<ticket>.<event>.<sig>`,
//! docs/protocol.md "Ticketing"), so any QR reader gives the text a door app
//! sends to `check_in`.

use chrono::{DateTime, Duration, Utc};
use coliseum_protocol::{Attendee, Event, Ticket};
use icalendar::{Calendar, Component as _, EventLike as _};

/// The modules of a QR code: `width` × `width` squares, dark or light,
/// without the quiet zone (draw [`QUIET_ZONE`] light modules around it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    /// Modules per side (21 for version 1, +4 per version).
    pub width: usize,
    /// Row-major, `true` = dark.
    dark: Vec<bool>,
}

/// Light modules around a QR code that readers need to find it (the
/// standard's quiet zone is 4 modules).
pub const QUIET_ZONE: usize = 4;

impl QrMatrix {
    /// Whether the module at column `x`, row `y` is dark (`false` outside).
    #[must_use]
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }
}

/// Encodes `code` as a QR code with error correction level M (15 % of the
/// code may be damaged or covered and it still reads).
///
/// # Errors
/// When `code` is too long for any QR version (more than ~2,300 bytes).
pub fn qr_matrix(code: &str) -> Result<QrMatrix, String> {
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| format!("this ticket code cannot be drawn as a QR code: {e}"))?;
    Ok(QrMatrix {
        width: qr.width(),
        dark: qr
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect(),
    })
}

/// A PNG of `code`'s QR code, black on white, `scale` pixels per module,
/// with the quiet zone, and `caption` below it: one line each, the first
/// larger (the event's name), centred, shortened with "…" when wider than
/// the image. `scale` 8 gives ~ 300–450 px of code, readable by phones and
/// door scanners from a screen or a print; the image is at least
/// [`MIN_PNG_WIDTH`] wide so the caption has room.
///
/// # Errors
/// As [`qr_matrix`], or when the PNG encoder fails.
pub fn ticket_png(code: &str, caption: &[String], scale: u32) -> Result<Vec<u8>, String> {
    let matrix = qr_matrix(code)?;
    let scale = scale.max(1);
    let modules = u32::try_from(matrix.width + 2 * QUIET_ZONE).map_err(|e| e.to_string())?;
    let side = modules * scale;
    let width = side.max(MIN_PNG_WIDTH);
    let lines: Vec<(&str, f32)> = caption
        .iter()
        .enumerate()
        .map(|(i, line)| (line.as_str(), if i == 0 { 30.0 } else { 22.0 }))
        .collect();
    let caption_height: f32 = lines.iter().map(|(_, size)| size * 1.5).sum::<f32>();
    // Whole pixels: the caption's height is a few hundred at most.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let height = side + caption_height.ceil() as u32 + if lines.is_empty() { 0 } else { scale * 2 };
    let left = (width - side) / 2;
    let mut image = image::GrayImage::from_fn(width, height, |px, py| {
        let module = |p: u32| (p / scale) as usize;
        let inside = px >= left && px < left + side && py < side;
        let dark = inside && {
            let (mx, my) = (module(px - left), module(py));
            mx >= QUIET_ZONE && my >= QUIET_ZONE && matrix.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE)
        };
        image::Luma([if dark { 0 } else { 255 }])
    });
    #[allow(clippy::cast_precision_loss)]
    let mut baseline_top = side as f32;
    for (text, size) in lines {
        draw_line(&mut image, text, size, baseline_top);
        baseline_top += size * 1.5;
    }
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| format!("could not encode the PNG: {e}"))?;
    Ok(bytes)
}

/// The lines under a saved ticket's QR code: the event's name; its start
/// at the venue's own time and the venue (when the event is loaded); the
/// seats and the ticket number.
#[must_use]
pub fn ticket_caption(ticket: &Ticket, event: Option<&Event>) -> Vec<String> {
    let mut lines = vec![ticket.event_name.clone()];
    if let Some(event) = event {
        let when = event.starts_at.format("%a %d %b %Y, %H:%M").to_string();
        lines.push(if event.location.is_empty() {
            when
        } else {
            format!("{when} · {}", event.location)
        });
    }
    let seats = if ticket.quantity == 1 {
        "seat"
    } else {
        "seats"
    };
    lines.push(format!(
        "{} {seats} · ticket #{}",
        ticket.quantity, ticket.id
    ));
    lines
}

/// The narrowest saved ticket image, in pixels (room for its caption).
pub const MIN_PNG_WIDTH: u32 = 480;

/// Draws `text` at `size` pixels, centred in `image`, in a line whose top
/// is `top` (egui's default proportional font, Ubuntu Light; characters it
/// lacks show as its empty box).
fn draw_line(image: &mut image::GrayImage, text: &str, size: f32, top: f32) {
    use ab_glyph::{Font as _, FontRef, PxScale, ScaleFont as _, point};
    let Ok(font) = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT) else {
        return;
    };
    let scaled = font.as_scaled(PxScale::from(size));
    #[allow(clippy::cast_precision_loss)]
    let room = image.width() as f32 - 2.0 * size;
    // Each glyph with its pen position from the line's start (kerning
    // included), and the line's width.
    let layout = |text: &str| -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
        let mut caret = 0.0;
        let mut previous = None;
        let mut glyphs = Vec::new();
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            glyphs.push((id, caret));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret)
    };
    // Shortened a character at a time (captions are a few dozen).
    let mut line = layout(text);
    let mut kept: Vec<char> = text.chars().collect();
    while line.1 > room && !kept.is_empty() {
        kept.pop();
        let head: String = kept.iter().collect();
        line = layout(&format!("{}…", head.trim_end()));
    }
    let (glyphs, width) = line;
    #[allow(clippy::cast_precision_loss)]
    let left = (image.width() as f32 - width) / 2.0;
    let baseline = top + size * 0.25 + scaled.ascent();
    for (id, x) in glyphs {
        let glyph = id.with_scale_and_position(size, point(left + x, baseline));
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|x, y, coverage| {
            // Pixel positions: glyph bounds are within the image or skipped.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let (px, py) = (
                (bounds.min.x + x as f32) as i64,
                (bounds.min.y + y as f32) as i64,
            );
            let (Ok(px), Ok(py)) = (u32::try_from(px), u32::try_from(py)) else {
                return;
            };
            if let Some(pixel) = image.get_pixel_mut_checked(px, py) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let ink = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
                pixel.0[0] = pixel.0[0].saturating_sub(ink);
            }
        });
    }
}

/// How long a calendar entry lasts: events carry only a start, so the
/// entry covers the usual length of an evening event.
pub const CALENDAR_DURATION_HOURS: i64 = 3;

/// An iCalendar file (RFC 5545, one `VEVENT`) for `ticket`'s `event`:
/// summary = event name, start = `starts_at` (in UTC, so every calendar
/// shows the right local time), end = [`CALENDAR_DURATION_HOURS`] later,
/// location = venue, description = seats, ticket code and the event text.
/// The UID is the ticket id, so adding it twice updates one entry.
#[must_use]
pub fn calendar_ics(ticket: &Ticket, event: &Event, now: DateTime<Utc>) -> String {
    let starts = event.starts_at.with_timezone(&Utc);
    let mut description = format!(
        "{} {} · ticket {}",
        ticket.quantity,
        if ticket.quantity == 1 {
            "seat"
        } else {
            "seats"
        },
        ticket.id
    );
    if !ticket.code.is_empty() {
        description.push_str("\nCode: ");
        description.push_str(&ticket.code);
    }
    if !event.description.is_empty() {
        description.push_str("\n\n");
        description.push_str(&event.description);
    }
    let entry = icalendar::Event::new()
        .uid(&format!("ticket-{}-event-{}@coliseum", ticket.id, event.id))
        .timestamp(now)
        .summary(&event.name)
        .location(&event.location)
        .description(&description)
        .starts(starts)
        .ends(starts + Duration::hours(CALENDAR_DURATION_HOURS))
        .done();
    Calendar::new()
        .name("Coliseum")
        .push(entry)
        .done()
        .to_string()
}

/// Column names of the attendees CSV, in order.
pub const ATTENDEES_CSV_HEADER: [&str; 6] = [
    "event",
    "ticket_id",
    "holder",
    "quantity",
    "checked_in",
    "checked_in_at",
];

/// The attendees of `event` as CSV: [`ATTENDEES_CSV_HEADER`], one row per
/// ticket, `checked_in` `yes`/`no`, `checked_in_at` RFC 3339 UTC or empty.
///
/// # Errors
/// Only if the CSV writer fails (not expected for in-memory output).
pub fn attendees_csv(event: &Event, attendees: &[Attendee]) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(ATTENDEES_CSV_HEADER)
        .map_err(|e| e.to_string())?;
    for attendee in attendees {
        let at = attendee.checked_in_at.map_or_else(String::new, |at| {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        writer
            .write_record([
                event.name.as_str(),
                attendee.ticket_id.as_str(),
                attendee.holder.as_str(),
                &attendee.quantity.to_string(),
                if attendee.checked_in_at.is_some() {
                    "yes"
                } else {
                    "no"
                },
                &at,
            ])
            .map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

/// Reads the first QR code found in an image file's bytes (PNG or JPEG:
/// a saved ticket, a screenshot, a phone photo).
///
/// # Errors
/// "not a PNG or JPEG image" when the bytes do not decode, "no QR code
/// found" when none is detected, or the decoder's reason when one is found
/// but cannot be read (blurred, cut off).
pub fn decode_qr_image(bytes: &[u8]) -> Result<String, String> {
    let image = image::load_from_memory(bytes)
        .map_err(|e| format!("not a PNG or JPEG image ({e})"))?
        .into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    let mut last_error = None;
    for grid in grids {
        match grid.decode() {
            Ok((_, content)) => return Ok(content.trim().to_owned()),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.map_or_else(
        || "no QR code found in this image".to_owned(),
        |e| format!("a QR code was found but could not be read ({e})"),
    ))
}

/// A file name made of `name` (letters, digits, `-`; other characters
/// become `-`, at most 60), e.g. `ticket-concerto-rock.png`.
#[must_use]
pub fn file_name(prefix: &str, name: &str, extension: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 60 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("{prefix}.{extension}")
    } else {
        format!("{prefix}-{slug}.{extension}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone as _};

    const CODE: &str = "C1.17.3.hbq7Qm0p1WvN8-3cF1uPzY0bq1v8d2u0oQm1P1nUeD0y7n6oVbGkQfLxkz0cA9oVh6S8dQWq2zRr5y1xB2mCw";

    fn event() -> Event {
        Event {
            id: "3".into(),
            name: "Jazz, Night".into(),
            date: NaiveDate::from_ymd_opt(2027, 10, 2).expect("date"),
            location: "Blue Room".into(),
            capacity: 80,
            available: 70,
            max_per_user: 4,
            description: "Doors open at 19:30.".into(),
            starts_at: chrono::FixedOffset::east_opt(2 * 3600)
                .expect("offset")
                .with_ymd_and_hms(2027, 10, 2, 21, 0, 0)
                .single()
                .expect("time"),
            status: coliseum_protocol::EventStatus::OnSale,
            room: "event-3".into(),
            waitlist: 0,
            held: 0,
        }
    }

    fn ticket() -> Ticket {
        Ticket {
            id: "17".into(),
            event_id: "3".into(),
            event_name: "Jazz, Night".into(),
            quantity: 2,
            booked_at: Utc::now(),
            code: CODE.into(),
            checked_in_at: None,
        }
    }

    #[test]
    fn a_saved_ticket_png_reads_back_as_its_code_with_its_caption_below() {
        let caption = ticket_caption(&ticket(), Some(&event()));
        assert_eq!(
            caption,
            [
                "Jazz, Night",
                "Sat 02 Oct 2027, 21:00 · Blue Room",
                "2 seats · ticket #17"
            ]
        );
        let png = ticket_png(CODE, &caption, 6).expect("png");
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(decode_qr_image(&png).expect("decoded"), CODE);
        let image = image::load_from_memory(&png).expect("decode").to_luma8();
        let bare = image::load_from_memory(&ticket_png(CODE, &[], 6).expect("png"))
            .expect("decode")
            .to_luma8();
        assert!(image.height() > bare.height() + 60, "room for three lines");
        // Ink below the code: the caption was drawn.
        let below = (bare.height()..image.height())
            .flat_map(|y| (0..image.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0[0] < 128)
            .count();
        assert!(below > 200, "{below} dark pixels in the caption");
        // A name far wider than the image is shortened, not cut mid-glyph
        // off the edge, and the code still reads.
        let long = vec!["A".repeat(400)];
        let png = ticket_png(CODE, &long, 6).expect("png");
        assert_eq!(decode_qr_image(&png).expect("decoded"), CODE);
        let image = image::load_from_memory(&png).expect("decode").to_luma8();
        let edge_ink = (bare.height()..image.height())
            .filter(|&y| {
                image.get_pixel(0, y).0[0] < 128 || image.get_pixel(image.width() - 1, y).0[0] < 128
            })
            .count();
        assert_eq!(edge_ink, 0, "margins stay white");
    }

    #[test]
    fn the_matrix_has_finder_patterns_and_a_light_outside() {
        let matrix = qr_matrix(CODE).expect("matrix");
        assert!(matrix.width >= 21 && (matrix.width - 21).is_multiple_of(4));
        // Top-left finder pattern: a dark 7×7 ring with a light ring inside.
        assert!(matrix.is_dark(0, 0) && matrix.is_dark(6, 6) && matrix.is_dark(3, 3));
        assert!(!matrix.is_dark(1, 1) && !matrix.is_dark(7, 7));
        assert!(!matrix.is_dark(matrix.width, 0), "outside is light");
    }

    #[test]
    fn images_without_a_code_are_refused_with_a_reason() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        let mut png = Vec::new();
        blank
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        assert_eq!(
            decode_qr_image(&png).expect_err("blank"),
            "no QR code found in this image"
        );
        assert!(
            decode_qr_image(b"plain text")
                .expect_err("text")
                .starts_with("not a PNG or JPEG image")
        );
    }

    #[test]
    fn the_calendar_entry_names_the_event_in_utc_with_the_code() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
            .single()
            .expect("now");
        let ics = calendar_ics(&ticket(), &event(), now);
        // Lines are folded at 75 octets (RFC 5545 §3.1); unfold to read them.
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.starts_with("BEGIN:VCALENDAR\r\n"), "{unfolded}");
        assert!(unfolded.contains("BEGIN:VEVENT\r\n"));
        assert!(unfolded.contains("SUMMARY:Jazz\\, Night\r\n"), "{unfolded}");
        assert!(
            unfolded.contains("DTSTART:20271002T190000Z\r\n"),
            "{unfolded}"
        );
        assert!(
            unfolded.contains("DTEND:20271002T220000Z\r\n"),
            "{unfolded}"
        );
        assert!(unfolded.contains("LOCATION:Blue Room\r\n"));
        assert!(unfolded.contains(CODE), "the code is in the description");
        assert!(unfolded.contains("UID:ticket-17-event-3@coliseum\r\n"));
    }

    #[test]
    fn attendees_csv_has_a_header_and_one_row_per_ticket() {
        let at = Utc
            .with_ymd_and_hms(2027, 10, 2, 19, 5, 0)
            .single()
            .expect("t");
        let csv = attendees_csv(
            &event(),
            &[
                Attendee {
                    ticket_id: "17".into(),
                    holder: "giulia".into(),
                    quantity: 2,
                    checked_in_at: Some(at),
                },
                Attendee {
                    ticket_id: "18".into(),
                    holder: "marco".into(),
                    quantity: 1,
                    checked_in_at: None,
                },
            ],
        )
        .expect("csv");
        let text = String::from_utf8(csv).expect("utf-8");
        assert_eq!(
            text,
            "event,ticket_id,holder,quantity,checked_in,checked_in_at\n\
             \"Jazz, Night\",17,giulia,2,yes,2027-10-02T19:05:00Z\n\
             \"Jazz, Night\",18,marco,1,no,\n"
        );
    }

    #[test]
    fn file_names_are_slugs() {
        assert_eq!(
            file_name("ticket", "Concerto Rock!", "png"),
            "ticket-concerto-rock.png"
        );
        assert_eq!(file_name("ticket", "  ", "ics"), "ticket.ics");
        assert_eq!(
            file_name("attendees", "Été / 2027", "csv"),
            "attendees-été-2027.csv"
        );
    }
}

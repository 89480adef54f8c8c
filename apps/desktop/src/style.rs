//! Look and feel: text sizes readable at 100 % and 150 % scale, the theme
//! (following the system unless the user chose one), and the app icon.

use egui::{FontFamily, FontId, TextStyle};

use crate::settings::ThemeChoice;

/// The app icon, 128 px (window icon). Not larger: X11 refuses a 256 px icon
/// property (it exceeds the core protocol's 256 KiB request limit), and winit
/// then silently leaves the window without an icon.
pub const ICON_128: &[u8] = include_bytes!("../../../resources/icons/coliseum-128.png");
/// The app icon, 64 px (top bar logo).
pub const ICON_64: &[u8] = include_bytes!("../../../resources/icons/coliseum-64.png");

/// Sets text sizes and spacing, and the theme: `fixed` (tests) wins over the
/// user's `theme`; with `fixed`, animations are turned off too.
pub fn apply(ctx: &egui::Context, theme: ThemeChoice, fixed: Option<egui::Theme>) {
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (
                TextStyle::Small,
                FontId::new(11.5, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(14.5, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(14.5, FontFamily::Proportional),
            ),
            (
                TextStyle::Heading,
                FontId::new(21.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(13.5, FontFamily::Monospace),
            ),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(10.0, 4.0);
        style.spacing.interact_size.y = 24.0;
        if fixed.is_some() {
            style.animation_time = 0.0;
        }
    });
    match fixed {
        Some(theme) => ctx.set_theme(theme),
        None => ctx.set_theme(theme.preference()),
    }
}

/// The window icon, decoded from [`ICON_128`]; `None` if it cannot be decoded.
#[must_use]
pub fn window_icon() -> Option<egui::IconData> {
    eframe::icon_data::from_png_bytes(ICON_128).ok()
}

/// The 64 px icon as a texture for the top bar; `None` if it cannot be decoded.
#[must_use]
pub fn logo(ctx: &egui::Context) -> Option<egui::TextureHandle> {
    let icon = eframe::icon_data::from_png_bytes(ICON_64).ok()?;
    let size = [
        usize::try_from(icon.width).ok()?,
        usize::try_from(icon.height).ok()?,
    ];
    let image = egui::ColorImage::from_rgba_unmultiplied(size, &icon.rgba);
    Some(ctx.load_texture("coliseum-logo", image, egui::TextureOptions::LINEAR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_decode() {
        let icon = window_icon().expect("128 px icon decodes");
        assert_eq!((icon.width, icon.height), (128, 128));
        assert!(logo(&egui::Context::default()).is_some());
    }
}

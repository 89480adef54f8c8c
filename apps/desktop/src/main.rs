//! `coliseum`: the Coliseum desktop app.
//!
//! Run it with no arguments and pick a server (or "Host on this computer") in
//! the window. `--smoke-test` renders a few frames and exits 0, so CI can
//! check the renderer and the system libraries under Xvfb.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use coliseum_desktop::network::{HostRequest, NetCommand, parse_servers};
use coliseum_desktop::settings::{SecurityChoice, Settings, settings_file};
use coliseum_desktop::{AppOptions, ColiseumApp, style};

/// Frames a smoke run renders before closing.
const SMOKE_FRAMES: u32 = 5;
/// A smoke run that has not closed by then failed (e.g. no frame was ever drawn).
const SMOKE_DEADLINE: Duration = Duration::from_secs(60);

/// Coliseum desktop app: book event tickets and chat with other members.
#[derive(Debug, Parser)]
#[command(name = "coliseum", version, about)]
struct Args {
    /// Server to join (host:port); replaces the remembered address. A list
    /// is accepted too: several host:port separated by commas (e.g.
    /// "venue.example:7878,10.0.0.2:7878"), or one name with several
    /// addresses; when one fails the app moves to the next and resumes the
    /// session there.
    #[arg(long, value_name = "HOST:PORT[,HOST:PORT...]", value_parser = server_list)]
    server: Option<String>,

    /// Connect to the server at start instead of showing the connect screen.
    #[arg(long)]
    connect: bool,

    /// With --connect: connect unencrypted, to a server run with
    /// --insecure-plaintext (otherwise the remembered "Security" choice).
    #[arg(long, requires = "connect")]
    insecure_plaintext: bool,

    /// Host a server on this computer at start, listening on ADDR
    /// (127.0.0.1:7878, this computer only, when ADDR is omitted; 0.0.0.0:7878
    /// lets others on the network join), and connect to it.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:7878", conflicts_with = "connect")]
    host: Option<SocketAddr>,

    /// Data directory of the hosted server (default: the server's data directory).
    #[arg(long, value_name = "DIR", requires = "host")]
    data_dir: Option<PathBuf>,

    /// Render a few frames, then exit 0; settings are neither read nor saved
    /// (the variable accepts 1/0, true/false, yes/no, on/off).
    #[arg(long, env = "COLISEUM_SMOKE_TEST", value_parser = clap::builder::BoolishValueParser::new())]
    smoke_test: bool,
}

/// Checks `--server`'s address list, keeping the text as given.
fn server_list(text: &str) -> Result<String, String> {
    parse_servers(text)
        .map(|_| text.trim().to_owned())
        .map_err(|error| error.to_string())
}

fn main() -> ExitCode {
    let started_at = std::time::Instant::now();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,coliseum_desktop=info")
            }),
        )
        .init();

    if args.smoke_test {
        // If no frame is ever drawn the window never closes; fail instead of hanging CI.
        std::thread::spawn(|| {
            std::thread::sleep(SMOKE_DEADLINE);
            eprintln!("smoke test: no frame rendered within {SMOKE_DEADLINE:?}");
            std::process::exit(2);
        });
    }

    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Coliseum")
        .with_app_id("coliseum")
        .with_inner_size([1180.0, 740.0])
        .with_min_inner_size([760.0, 480.0]);
    if let Some(icon) = style::window_icon() {
        viewport = viewport.with_icon(Arc::new(icon));
    }
    let native = eframe::NativeOptions {
        viewport,
        persist_window: !args.smoke_test,
        // Settings are configuration: keep them out of the data directory,
        // which a hosted server shares, in a file beside the pin store.
        persistence_path: directories::ProjectDirs::from("org", "Coliseum", "coliseum").and_then(
            |dirs| {
                settings_file(dirs.config_dir())
                    .inspect_err(|error| tracing::warn!(%error, "settings will not be saved"))
                    .ok()
            },
        ),
        ..eframe::NativeOptions::default()
    };

    let host = args.host.map(|listen| {
        NetCommand::Host(HostRequest {
            listen,
            data_dir: args
                .data_dir
                .clone()
                .unwrap_or_else(coliseum_server::default_data_dir),
        })
    });
    let connect = args.connect;
    let plaintext = args.insecure_plaintext;
    let smoke = args.smoke_test;
    let server = args.server;
    let result = eframe::run_native(
        "coliseum",
        native,
        Box::new(move |cc| {
            let mut settings = cc
                .storage
                .filter(|_| !smoke)
                .and_then(|s| {
                    eframe::get_value::<Settings>(s, coliseum_desktop::settings::STORAGE_KEY)
                })
                .unwrap_or_default();
            if let Some(server) = server {
                settings.server_address = server;
            }
            if plaintext {
                settings.security = SecurityChoice::Plaintext;
            }
            let start = host.or_else(|| {
                connect.then(|| NetCommand::Connect {
                    addr: settings.server_address.clone(),
                    security: settings.join_security(),
                })
            });
            let options = AppOptions {
                settings: Some(settings),
                ephemeral: smoke,
                start,
                smoke_frames: smoke.then_some(SMOKE_FRAMES),
                started_at: Some(started_at),
                ..AppOptions::default()
            };
            Ok(Box::new(ColiseumApp::new(cc, options)?))
        }),
    );
    match result {
        Ok(()) => {
            if smoke {
                println!("smoke test: ok");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("coliseum: {error}");
            ExitCode::FAILURE
        }
    }
}

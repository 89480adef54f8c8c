//! A server with demo content, for trying the app and for taking the README
//! screenshot: starts the real server in-process on the embedded store (in a
//! temporary directory), adds an admin, a few members with bookings and chat
//! messages, then keeps three members online until interrupted.
//!
//! ```sh
//! cargo run -p coliseum-desktop --example demo_server -- 127.0.0.1:7979
//! cargo run -p coliseum-desktop --bin coliseum -- --server 127.0.0.1:7979 --connect
//! # log in as giulia / "correct horse" (member) or admin / "admin password" (admin)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coliseum_client::Client;
use coliseum_server::{Server, ServerConfig, open_embedded_store};

const PASSWORD: &str = "correct horse";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7979".to_owned())
        .parse()?;
    let dir = tempfile::tempdir()?;
    let store = open_embedded_store(dir.path()).await?;
    coliseum_server::admin::add_admin(store.as_ref(), "admin", "admin password", None).await?;
    let config = ServerConfig {
        listen,
        ..ServerConfig::default()
    };
    let server = Server::bind(config, Arc::clone(&store)).await?;
    let addr = server.local_addr();
    let handle = server.spawn();

    let (admin, _admin_pushes) = Client::connect(addr).await?;
    admin.login("admin", "admin password").await?;
    admin
        .create_event("Jazz Night", "2027-10-02", "Blue Room", 80, Some(4))
        .await?;
    admin
        .create_event("Opera Gala", "2027-11-14", "Teatro Comunale", 120, Some(6))
        .await?;
    let derby = admin
        .create_event(
            "Derby Cittadino",
            "2027-08-29",
            "Stadio Comunale",
            12,
            Some(6),
        )
        .await?;
    admin.logout().await?;
    let events = admin.list_events().await?;
    let id = |name: &str| {
        events
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.id.clone())
            .ok_or_else(|| format!("no event {name}"))
    };

    let mut online = Vec::new();
    for name in ["marco", "sofia", "luca", "giulia"] {
        let (client, pushes) = Client::connect(addr).await?;
        client
            .register(name, PASSWORD, &format!("{name}@example.com"))
            .await?;
        client.login(name, PASSWORD).await?;
        online.push((client, pushes));
    }
    let [marco, sofia, luca, giulia] = [0, 1, 2, 3].map(|i| online[i].0.clone());
    marco.book(&id("Concerto Rock")?, 4, None).await?;
    marco.book(&derby.id, 6, None).await?;
    luca.book(&derby.id, 6, None).await?;
    sofia.book(&id("Festival del Cibo")?, 6, None).await?;
    sofia.book(&id("Jazz Night")?, 3, None).await?;
    luca.book(&id("Spettacolo di Magia")?, 5, None).await?;
    giulia.book(&id("Concerto Rock")?, 2, None).await?;

    marco
        .chat_send(None, "Ciao a tutti! Who's going to Concerto Rock?")
        .await?;
    sofia
        .chat_send(None, "Me! Two seats near the stage 🎸")
        .await?;
    luca.chat_send(None, "Derby Cittadino sold out in minutes, wow.")
        .await?;
    marco
        .chat_send(
            None,
            "Festival del Cibo was amazing last year — highly recommended.",
        )
        .await?;
    sofia
        .chat_send(None, "Anyone up for Jazz Night? I have a spare seat.")
        .await?;
    // Rooms: a public room with a topic, talk in an event's room, and
    // direct messages waiting for giulia (a mention too).
    sofia
        .room_create("jazz-fans", Some("Late sets and spare seats"))
        .await?;
    for member in [&marco, &luca, &giulia] {
        member.room_join("jazz-fans").await?;
    }
    sofia
        .chat_send(
            Some("jazz-fans"),
            "The quartet plays Blue in Green tonight.",
        )
        .await?;
    luca.chat_send(Some("jazz-fans"), "@giulia you said you'd come?")
        .await?;
    let rock_room = coliseum_protocol::validate::event_room(&id("Concerto Rock")?);
    for member in [&marco, &giulia] {
        member.room_join(&rock_room).await?;
    }
    marco
        .chat_send(
            Some(&rock_room),
            "Doors open at 19:30, see you at the front.",
        )
        .await?;
    marco
        .dm_send("giulia", "Want my spare ticket for the Derby?")
        .await?;
    // giulia logs in from the app; her connection here ends.
    drop(giulia);
    online.pop();

    println!("demo server listening on {addr}; members online: marco, sofia, luca");
    println!("log in as giulia / {PASSWORD:?} or admin / \"admin password\"; Ctrl+C stops");
    // DEMO_CHAT_RATE=N: marco, sofia and luca take turns sending N lobby
    // messages per second in total (the desktop's cost figures use 10).
    let rate: u32 = std::env::var("DEMO_CHAT_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if rate > 0 {
        let senders: Vec<Client> = online.iter().map(|(c, _)| c.clone()).collect();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            for n in 0u64.. {
                tick.tick().await;
                let Ok(index) = usize::try_from(n % senders.len() as u64) else {
                    break;
                };
                let text = format!("message {n}: the quick brown fox jumps over the lazy dog");
                if let Err(error) = senders[index].chat_send(None, &text).await {
                    eprintln!("chat_send: {error}");
                }
            }
        });
    }
    tokio::signal::ctrl_c().await?;
    drop(online);
    handle.shutdown().await?;
    Ok(())
}

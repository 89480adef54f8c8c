//! coliseum-server-bin (placeholder, being written).
fn main() {}

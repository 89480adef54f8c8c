//! coliseum-desktop (placeholder, being written).
fn main() {}

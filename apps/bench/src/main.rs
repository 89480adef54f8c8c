//! coliseum-bench (placeholder, being written).
fn main() {}

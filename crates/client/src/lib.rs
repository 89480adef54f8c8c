//! coliseum-client (placeholder, being written).

//! coliseum-server (placeholder, being written).

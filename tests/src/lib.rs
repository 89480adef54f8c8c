//! coliseum-tests (placeholder, being written).

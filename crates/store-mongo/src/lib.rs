//! coliseum-store-mongo (placeholder, being written).

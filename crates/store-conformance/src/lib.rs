//! coliseum-store-conformance (placeholder, being written).

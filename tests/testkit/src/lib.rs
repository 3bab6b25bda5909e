//! Test support for integration tests (being written in this session).

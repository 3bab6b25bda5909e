//! webhook service (being written in this session).

fn main() {}

//! A Rust client for Quire (and any y-websocket compatible server).

//! Unit tests of the room owner (written next).

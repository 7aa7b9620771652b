//! What every fuzz target here includes (with `#[path = "shared/mod.rs"]`): the allocation limit
//! that turns an allocation bomb into a crash, and the panic policy that tells the panics the
//! code under test catches on purpose from one that escapes it.

mod allocation_limit;
mod panics;

pub use panics::run;

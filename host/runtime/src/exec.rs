//! Where a participant's async work runs: the executor the bus's actors live in.
//!
//! The bus is built on an actor system, and everything that uses it (a session, the live
//! UI, a reload watcher) must run inside that system. These two functions are the only way
//! in, so no caller names the actor library.

use std::future::Future;

/// Runs `future` to completion on a new executor, the bus's home, and stops the executor
/// (and with it the bus's threads) when it is done.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let system = actix::System::new();
    let output = system.block_on(future);
    actix::System::current().stop();
    output
}

/// Spawns `future` on the current executor. Must be called from inside [`block_on`] (or a
/// task it spawned).
pub fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    // The handle is not needed: a spawned task runs until it finishes or the executor stops.
    drop(actix::spawn(future));
}

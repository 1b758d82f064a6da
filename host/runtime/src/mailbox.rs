//! A batching mailbox: the producer pushes items under a short lock and rings the
//! consumer's doorbell only when the mailbox goes from empty to non-empty; the consumer
//! drains everything queued so far in one go.
//!
//! This is how events reach plugin actors. An actix message per event would cost a boxed
//! envelope, a hop through the system arbiter and one C call per event; with the doorbell,
//! a burst of events becomes one actix message and one `handle` call, while a lone event is
//! still delivered at once. The listener thread gets its items the same way.
//!
//! It depends on nothing else in the crate: both [`crate::bus`] and [`crate::listeners`]
//! use it, so it sits below them rather than inside either.

use std::sync::{Mutex, PoisonError};

#[derive(Debug)]
struct Inner<T> {
    items: Vec<T>,
    /// A doorbell is on its way and the consumer has not drained since.
    scheduled: bool,
    /// The consumer is gone (its plugin failed); pushes are dropped.
    closed: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Mailbox<T> {
    inner: Mutex<Inner<T>>,
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Self {
        Self { inner: Mutex::new(Inner { items: Vec::new(), scheduled: false, closed: false }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // Nothing panics while holding this lock, and the data stays consistent even if
        // something did: poisoning carries no information here.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item`. Returns true when the caller must ring the doorbell (the mailbox was
    /// empty and no doorbell is pending). A closed mailbox drops the item and returns false.
    pub(crate) fn push(&self, item: T) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        inner.items.push(item);
        !std::mem::replace(&mut inner.scheduled, true)
    }

    /// Moves everything queued into `into` (which should be empty), in order.
    pub(crate) fn drain_into(&self, into: &mut Vec<T>) {
        let mut inner = self.lock();
        inner.scheduled = false;
        std::mem::swap(&mut inner.items, into);
    }

    /// Accepts items again after [`Mailbox::close`] (a failed plugin replaced by a new
    /// instance).
    pub(crate) fn reopen(&self) {
        self.lock().closed = false;
    }

    /// Drops what is queued and refuses further items.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.items = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_once_per_burst_and_keeps_order() {
        let mailbox = Mailbox::new();
        assert!(mailbox.push(1));
        assert!(!mailbox.push(2));
        assert!(!mailbox.push(3));
        let mut out = Vec::new();
        mailbox.drain_into(&mut out);
        assert_eq!(out, vec![1, 2, 3]);
        assert!(mailbox.push(4), "a drained mailbox rings again");
    }

    #[test]
    fn a_closed_mailbox_drops_items() {
        let mailbox = Mailbox::new();
        mailbox.push(1);
        mailbox.close();
        assert!(!mailbox.push(2));
        let mut out = Vec::new();
        mailbox.drain_into(&mut out);
        assert!(out.is_empty());
    }
}

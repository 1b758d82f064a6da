//! Counters the bridge keeps per port and direction, for tests to assert on.

use std::sync::atomic::{AtomicU64, Ordering};

/// What one direction of one link did, since the lab was built.
///
/// Every frame that enters the direction ends in exactly one of `forwarded`, `lost`,
/// `queue_full`, `down` or `errors`, or is still in flight; `delayed`, `reordered` and
/// `unimpaired` say more about some of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Frames that left this direction: egress toward the switch, ingress to the host.
    pub forwarded: u64,
    /// Their Ethernet bytes.
    pub forwarded_bytes: u64,
    /// Dropped by random loss.
    pub lost: u64,
    /// Dropped because the rate cap's queue (or the bridge's bound on frames in flight)
    /// was full.
    pub queue_full: u64,
    /// Dropped because the link was down.
    pub down: u64,
    /// Held for a positive time by the rate cap or delay.
    pub delayed: u64,
    /// Held back and sent after a later frame by explicit reordering.
    pub reordered: u64,
    /// Passed without impairment: not IP (ARP), or no impairment set.
    pub unimpaired: u64,
    /// Frames the bridge could not handle: egress, those it read truncated or that the
    /// kernel dropped because the bridge fell behind reading (counted every 100 ms);
    /// ingress, those it could not send.
    pub errors: u64,
}

/// Both directions of a host's link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames the host sent.
    pub egress: DirStats,
    /// Frames sent to the host.
    pub ingress: DirStats,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) forwarded: AtomicU64,
    pub(crate) forwarded_bytes: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) down: AtomicU64,
    pub(crate) delayed: AtomicU64,
    pub(crate) reordered: AtomicU64,
    pub(crate) unimpaired: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Counters {
    pub(crate) fn count_forwarded(&self, bytes: usize) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        self.forwarded_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DirStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DirStats {
            forwarded: get(&self.forwarded),
            forwarded_bytes: get(&self.forwarded_bytes),
            lost: get(&self.lost),
            queue_full: get(&self.queue_full),
            down: get(&self.down),
            delayed: get(&self.delayed),
            reordered: get(&self.reordered),
            unimpaired: get(&self.unimpaired),
            errors: get(&self.errors),
        }
    }
}

//! One owner, many readers: a piece of state is updated by the one thread that owns it (the
//! sampler, the XID watcher, the inventory thread, the pod watcher) and published as an
//! immutable `Arc` that readers load without a lock held while they work on it, the way the
//! log analysis publishes its observations ([`crate::analysis`]).

use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

/// The latest value its owner published; empty until an owner takes the [`Publisher`].
#[derive(Debug)]
pub struct View<T> {
    rx: OnceLock<watch::Receiver<Arc<T>>>,
}

impl<T> Default for View<T> {
    fn default() -> Self {
        Self {
            rx: OnceLock::new(),
        }
    }
}

impl<T> View<T> {
    /// A view that holds `value` and has no owner (fixtures, tests).
    pub fn of(value: T) -> Self {
        let view = Self::default();
        // A fresh view has no owner yet, so this publisher is the first.
        let _ = view.publisher(value);
        view
    }

    /// The publisher of this view, starting from `initial`: the one owner's, so only the first
    /// call gets one.
    pub fn publisher(&self, initial: T) -> Option<Publisher<T>> {
        let (tx, rx) = watch::channel(Arc::new(initial));
        self.rx.set(rx).ok()?;
        Some(Publisher { tx })
    }

    /// The latest published value (`None` while nothing owns the view).
    pub fn load(&self) -> Option<Arc<T>> {
        self.rx.get().map(|rx| rx.borrow().clone())
    }
}

/// The owner's side of a [`View`]. The view keeps the last value when its owner is gone.
#[derive(Debug)]
pub struct Publisher<T> {
    tx: watch::Sender<Arc<T>>,
}

impl<T> Publisher<T> {
    /// Replaces what readers load.
    pub fn publish(&self, value: T) {
        self.tx.send_replace(Arc::new(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_publishes_and_readers_keep_what_they_loaded() {
        let view: View<u32> = View::default();
        assert_eq!(view.load(), None);
        let owner = view.publisher(1).unwrap();
        assert!(view.publisher(2).is_none(), "a second owner is refused");
        let before = view.load().unwrap();
        owner.publish(3);
        assert_eq!((*before, *view.load().unwrap()), (1, 3));
        drop(owner);
        assert_eq!(*view.load().unwrap(), 3, "the last value stays");
        assert_eq!(*View::of(7).load().unwrap(), 7);
    }
}

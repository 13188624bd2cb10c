//! The stacks a [`Writer`](super::Writer) keeps of the objects and arrays it has open,
//! handed from one writer to the next on the same thread.

use super::Container;

/// The open objects and arrays, and their keys: kept from one writer to the next on the
/// same thread (see [`SPARE_STACKS`]), so that reading a body allocates none.
#[derive(Default)]
pub(super) struct Stacks {
    pub(super) containers: Vec<Container>,
    /// Where each key of the open objects is in `out` (its escaped text, without quotes).
    pub(super) keys: Vec<(usize, usize)>,
}

thread_local! {
    /// Stacks of writers that are done, for the next ones: a V2 body has two writers at once
    /// (its envelope's and its message's).
    static SPARE_STACKS: std::cell::RefCell<Vec<Stacks>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Stacks {
    pub(super) fn take() -> Stacks {
        SPARE_STACKS
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Stacks {
                // Room for what a notification's member usually holds, at once.
                containers: Vec::with_capacity(8),
                keys: Vec::with_capacity(32),
            })
    }

    pub(super) fn give_back(mut self) {
        // Kept at the size of a usual notification, not of the largest one seen.
        if self.containers.capacity() > 128 || self.keys.capacity() > 1024 {
            return;
        }
        // A writer refused in the middle of a text leaves what it had open.
        self.containers.clear();
        self.keys.clear();
        // Dropped instead while the thread ends.
        let _ = SPARE_STACKS.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < 4 {
                spare.push(self);
            }
        });
    }
}

//! [`CallId`] and the generational slab that stores calls.

use std::fmt;

/// Names one call on one connection.
///
/// Opaque and cheap to copy. An id stays distinct from every other id the same
/// connection hands out, even after its call ended and the slot was reused, so
/// a stale id is recognised as "that call is over" rather than mistaken for a
/// newer call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId {
    index: u32,
    generation: u32,
}

impl CallId {
    pub(crate) const fn new(index: u32, generation: u32) -> CallId {
        CallId { index, generation }
    }

    /// The call's slot in its connection's slab: below the most calls the
    /// connection had open at once, so it can index a table of their own.
    pub(crate) fn slot_index(self) -> usize {
        // A slab index came from a `usize` (`CallSlab` converts with
        // `try_from`), so it fits.
        usize::try_from(self.index).unwrap_or(usize::MAX)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({}v{})", self.index, self.generation)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A slab whose keys are [`CallId`]s: O(1) insert, lookup and removal, with
/// stale ids detected by generation.
#[derive(Debug)]
pub(crate) struct CallSlab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    /// Live calls: at most one per slot, and slot indexes are `u32`s.
    len: u32,
    /// The generation new slots start at: above every generation of the
    /// slots dropped when the slab was compacted, so no id comes back.
    floor: u32,
}

impl<T> Default for CallSlab<T> {
    fn default() -> Self {
        CallSlab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            floor: 0,
        }
    }
}

impl<T> CallSlab<T> {
    /// The id the next insertion will get.
    pub(crate) fn next_id(&self) -> CallId {
        match self.free.last() {
            Some(&index) => {
                let generation = self
                    .slots
                    .get(index as usize)
                    .map_or(0, |slot| slot.generation);
                CallId::new(index, generation)
            }
            None => CallId::new(
                u32::try_from(self.slots.len()).unwrap_or(u32::MAX),
                self.floor,
            ),
        }
    }

    /// Inserts a value built from its id. Returns `None` only if 2^32 calls are
    /// open at once.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(CallId) -> T) -> Option<CallId> {
        let id = self.next_id();
        match self.free.pop() {
            Some(index) => {
                let slot = self.slots.get_mut(index as usize)?;
                slot.value = Some(make(id));
            }
            None => {
                if self.slots.len() >= u32::MAX as usize {
                    return None;
                }
                self.slots.push(Slot {
                    generation: self.floor,
                    value: Some(make(id)),
                });
            }
        }
        self.len = self.len.saturating_add(1);
        Some(id)
    }

    pub(crate) fn get(&self, id: CallId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: CallId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    pub(crate) fn remove(&mut self, id: CallId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        // A slot whose generation would wrap is retired rather than reused, so
        // an id is never handed out twice.
        match slot.generation.checked_add(1) {
            Some(next) => {
                slot.generation = next;
                self.free.push(id.index);
            }
            None => slot.generation = u32::MAX,
        }
        self.len -= 1;
        if self.len == 0 {
            self.compact(1);
        }
        Some(value)
    }

    /// With no call left, gives back every slot's room (the connection has
    /// been idle for a while: see `IDLE_TRIM_AFTER`). Does nothing while a
    /// call is open.
    pub(crate) fn release_memory(&mut self) {
        if self.len == 0 {
            self.compact(0);
            self.free = Vec::new();
        }
    }

    /// With no call left, gives back the room of all slots but one: an idle
    /// connection keeps one call's worth of memory, not its busiest moment's
    /// (a call is several hundred bytes; the first one alone reserves four).
    /// Slots dropped take their generations with them; `floor` keeps ids
    /// unique.
    fn compact(&mut self, keep: usize) {
        if self.slots.capacity() <= keep {
            return;
        }
        // No slot left (compacted before): the floor already holds.
        if let Some(top) = self.slots.iter().map(|s| s.generation).max() {
            if top == u32::MAX {
                // A retired slot: its index must stay out of use.
                return;
            }
            self.floor = top;
        }
        self.slots.clear();
        // At call end room for one call stays: a connection making one call
        // at a time does not allocate per call.
        self.slots.shrink_to(keep);
        self.free.clear();
    }

    /// How many slots there is room for.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len).unwrap_or(usize::MAX)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The ids of all live calls (allocates; for rare sweeps, not the hot path).
    pub(crate) fn ids(&self) -> Vec<CallId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.value.is_some())
            .filter_map(|(index, slot)| {
                Some(CallId::new(u32::try_from(index).ok()?, slot.generation))
            })
            .collect()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|slot| slot.value.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_do_not_reach_new_calls() {
        let mut slab = CallSlab::default();
        let a = slab.insert_with(|id| (id, "a")).unwrap();
        let b = slab.insert_with(|id| (id, "b")).unwrap();
        assert_eq!(slab.get(a).unwrap(), &(a, "a"));
        assert_eq!(slab.remove(a).unwrap().1, "a");
        assert!(slab.get(a).is_none());
        assert!(slab.remove(a).is_none());
        let c = slab.insert_with(|id| (id, "c")).unwrap();
        assert_ne!(a, c, "the reused slot has a new generation");
        assert!(slab.get(a).is_none());
        assert_eq!(slab.get(c).unwrap().1, "c");
        assert_eq!(slab.len(), 2);
        let mut ids = slab.ids();
        ids.sort();
        let mut expected = vec![b, c];
        expected.sort();
        assert_eq!(ids, expected);
        assert_eq!(slab.values().count(), 2);
    }

    #[test]
    fn an_emptied_slab_shrinks_and_never_hands_an_old_id_out_again() {
        let mut slab = CallSlab::default();
        let old: Vec<CallId> = (0..6).map(|_| slab.insert_with(|_| ()).unwrap()).collect();
        for &id in &old {
            slab.remove(id).unwrap();
        }
        assert!(slab.is_empty());
        assert_eq!(slab.slots.capacity(), 1, "room for one call stays");
        let fresh: Vec<CallId> = (0..6).map(|_| slab.insert_with(|_| ()).unwrap()).collect();
        for id in &old {
            assert!(!fresh.contains(id), "{id:?} handed out twice");
            assert!(slab.get(*id).is_none());
        }
        assert_eq!(slab.len(), 6);
        // One call at a time keeps its slot: no allocation per call.
        let mut one = CallSlab::default();
        let mut seen = Vec::new();
        for _ in 0..10 {
            let id = one.insert_with(|_| ()).unwrap();
            assert!(!seen.contains(&id));
            seen.push(id);
            one.remove(id).unwrap();
            assert_eq!(one.slots.capacity(), 1);
        }
    }

    #[test]
    fn releasing_an_idle_slab_frees_every_slot_and_keeps_ids_unique() {
        let mut slab = CallSlab::default();
        let a = slab.insert_with(|_| ()).unwrap();
        slab.release_memory();
        assert!(slab.slots.capacity() >= 1, "not while a call is open");
        assert_eq!(slab.get(a), Some(&()));
        slab.remove(a).unwrap();
        slab.release_memory();
        assert_eq!(slab.slots.capacity(), 0);
        assert_eq!(slab.free.capacity(), 0);
        let b = slab.insert_with(|_| ()).unwrap();
        assert_ne!(a, b);
        assert!(slab.get(a).is_none());
        assert!(slab.get(b).is_some());
    }

    #[quickcheck_macros::quickcheck]
    fn ids_are_never_reused(ops: Vec<(bool, u8)>) -> bool {
        let mut slab = CallSlab::default();
        let mut live: Vec<CallId> = Vec::new();
        let mut ever = std::collections::HashSet::new();
        for (insert, pick) in ops {
            if pick == 0 {
                slab.release_memory();
            }
            if insert || live.is_empty() {
                let id = slab.insert_with(|_| ()).unwrap();
                if !ever.insert(id) {
                    return false;
                }
                live.push(id);
            } else {
                let id = live.swap_remove(usize::from(pick) % live.len());
                if slab.remove(id).is_none() {
                    return false;
                }
            }
        }
        live.iter().all(|id| slab.get(*id).is_some()) && slab.len() == live.len()
    }

    #[test]
    fn forged_ids_are_rejected() {
        let mut slab: CallSlab<u8> = CallSlab::default();
        assert!(slab.get(CallId::new(5, 0)).is_none());
        assert!(slab.get_mut(CallId::new(0, 3)).is_none());
        assert!(slab.is_empty());
    }
}

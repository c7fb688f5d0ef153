//! A map from descriptor numbers to the state kept for each.

use std::os::fd::RawFd;

// ANCHOR: map
/// Values indexed by descriptor number. The kernel hands out the lowest
/// free number, so a process's descriptors are small and dense, and a `Vec`
/// is the cheapest map from the number `epoll_wait` returns to the state of
/// that connection: one bounds check, no hashing.
///
/// A number is reused as soon as its descriptor is closed: remove a value
/// when its descriptor closes, or a new connection would find the old one's
/// state.
#[derive(Debug)]
pub struct FdMap<T> {
    slots: Vec<Option<T>>,
    len: usize,
}
// ANCHOR_END: map

impl<T> Default for FdMap<T> {
    fn default() -> Self {
        FdMap {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<T> FdMap<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` for `fd`, returning the value it replaces. Negative
    /// numbers are not descriptors: they are refused and `value` handed back.
    pub fn insert(&mut self, fd: RawFd, value: T) -> Result<Option<T>, T> {
        let Ok(i) = usize::try_from(fd) else {
            return Err(value);
        };
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let old = self.slots[i].replace(value);
        if old.is_none() {
            self.len += 1;
        }
        Ok(old)
    }

    pub fn get(&self, fd: RawFd) -> Option<&T> {
        self.slots.get(usize::try_from(fd).ok()?)?.as_ref()
    }

    pub fn get_mut(&mut self, fd: RawFd) -> Option<&mut T> {
        self.slots.get_mut(usize::try_from(fd).ok()?)?.as_mut()
    }

    pub fn remove(&mut self, fd: RawFd) -> Option<T> {
        let old = self.slots.get_mut(usize::try_from(fd).ok()?)?.take();
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    pub fn contains(&self, fd: RawFd) -> bool {
        self.get(fd).is_some()
    }

    /// The highest descriptor that has ever had a slot (-1 if none).
    pub fn max_fd(&self) -> RawFd {
        RawFd::try_from(self.slots.len()).unwrap_or(RawFd::MAX) - 1
    }

    /// How many descriptors have a value.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_by_descriptor_and_removed() {
        let mut map = FdMap::new();
        assert_eq!(map.insert(5, "five"), Ok(None));
        assert_eq!(map.insert(3, "three"), Ok(None));
        assert_eq!(map.insert(5, "FIVE"), Ok(Some("five")));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(5), Some(&"FIVE"));
        assert_eq!(map.get(4), None);
        assert_eq!(map.get(99), None);
        assert_eq!(map.get(-1), None);
        assert_eq!(map.insert(-1, "bad"), Err("bad"));
        *map.get_mut(3).unwrap() = "THREE";
        assert_eq!(map.remove(3), Some("THREE"));
        assert_eq!(map.remove(3), None);
        assert!(!map.contains(3));
        assert!(map.contains(5));
        assert_eq!(map.len(), 1);
        assert_eq!(map.remove(5), Some("FIVE"));
        assert!(map.is_empty());
    }
}

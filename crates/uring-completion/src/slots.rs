//! The table of connections: slots that are reused, each with a generation
//! number that changes whenever its tenant leaves.

use crate::tag::MAX_SLOTS;

// ANCHOR: slots
/// Values in numbered slots. A completion finds its connection by slot
/// number, like an `epoll` event by descriptor number, but a slot number
/// alone is not enough: a completion can arrive after its connection has
/// gone and a new one has taken the slot (the completion of a cancel
/// request does, when the cancelled operation's own completion came first).
/// So each slot has a generation, bumped when its value is removed, and a
/// lookup must name both: a stale completion names an old generation and
/// finds nothing.
#[derive(Debug)]
pub struct Slots<T> {
    entries: Vec<Entry<T>>,
    /// Empty slots, reused last-freed first.
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Entry<T> {
    generation: u16,
    value: Option<T>,
}
// ANCHOR_END: slots

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` in a free slot and returns the slot and its current
    /// generation, or gives `value` back if every slot a tag can name is
    /// taken.
    pub fn insert(&mut self, value: T) -> Result<(u32, u16), T> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let Ok(slot) = u32::try_from(self.entries.len()) else {
                    return Err(value);
                };
                if slot >= MAX_SLOTS {
                    return Err(value);
                }
                self.entries.push(Entry {
                    generation: 0,
                    value: None,
                });
                slot
            }
        };
        let entry = &mut self.entries[slot as usize];
        entry.value = Some(value);
        self.len += 1;
        Ok((slot, entry.generation))
    }

    /// The value in `slot`, if its generation is still `generation`.
    pub fn get_mut(&mut self, slot: u32, generation: u16) -> Option<&mut T> {
        let entry = self.entries.get_mut(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        entry.value.as_mut()
    }

    /// Takes the value out of `slot` (if `generation` is current) and bumps
    /// the generation, so that tags naming the old one find nothing.
    pub fn remove(&mut self, slot: u32, generation: u16) -> Option<T> {
        let entry = self.entries.get_mut(slot as usize)?;
        if entry.generation != generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        self.len -= 1;
        Some(value)
    }

    /// Every value, with its slot and generation.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u16, &T)> {
        self.entries.iter().enumerate().filter_map(|(slot, entry)| {
            let value = entry.value.as_ref()?;
            Some((slot as u32, entry.generation, value))
        })
    }

    /// How many slots hold a value.
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
    use crate::tag::{Op, Tag};

    #[test]
    fn a_completion_for_a_reused_slot_finds_nothing() {
        let mut slots = Slots::new();
        let (a, a_gen) = slots.insert("first").unwrap();
        // A cancel request for the first tenant, in flight.
        let late = Tag {
            op: Op::Cancel,
            slot: a,
            generation: a_gen,
        }
        .encode(0);
        assert_eq!(slots.remove(a, a_gen), Some("first"));
        // The next connection takes the same slot, in a new generation.
        let (b, b_gen) = slots.insert("second").unwrap();
        assert_eq!(b, a);
        assert_ne!(b_gen, a_gen);
        // The late completion arrives: it names the slot, but not its tenant.
        let (tag, _) = Tag::decode(late).unwrap();
        assert_eq!(slots.get_mut(tag.slot, tag.generation), None);
        assert_eq!(slots.remove(tag.slot, tag.generation), None);
        assert_eq!(slots.get_mut(b, b_gen), Some(&mut "second"));
        assert_eq!(slots.len(), 1);
        assert_eq!(
            slots.iter().collect::<Vec<_>>(),
            vec![(b, b_gen, &"second")]
        );
    }

    #[test]
    fn slots_are_reused_and_generations_wrap() {
        let mut slots = Slots::new();
        let (s, mut generation) = slots.insert(0u32).unwrap();
        for i in 1..=70_000u32 {
            assert_eq!(slots.remove(s, generation), Some(i - 1));
            let (again, g) = slots.insert(i).unwrap();
            assert_eq!(again, s);
            assert_eq!(g, generation.wrapping_add(1));
            generation = g;
        }
        assert_eq!(slots.get_mut(7, 0), None);
        assert!(!slots.is_empty());
        assert_eq!(slots.remove(s, generation), Some(70_000));
        assert!(slots.is_empty());
    }
}

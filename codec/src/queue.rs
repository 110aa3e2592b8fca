//! [`InlineFirstQueue`]: a FIFO queue that keeps its first element inline.
//!
//! A call's queues (the chunks a [`MessageDecoder`](crate::frame::MessageDecoder)
//! has been pushed, the engine's received messages and framed chunks waiting for
//! flow control) hold one element for most of their life: a unary call's only
//! message, its only chunk. A `VecDeque` allocates room for several on its first
//! push; this queue allocates only once a second element waits behind the first,
//! which saves an allocation per queue per unary call.

use alloc::collections::VecDeque;
use alloc::collections::vec_deque;
use core::iter::Chain;
use core::option;

/// A FIFO queue whose front element is stored inline: it allocates only while
/// more than one element waits.
///
/// ```
/// use ferrule_codec::queue::InlineFirstQueue;
///
/// let mut queue = InlineFirstQueue::new();
/// queue.push_back(1);
/// queue.push_back(2);
/// assert_eq!(queue.pop_front(), Some(1));
/// assert_eq!(queue.front(), Some(&2));
/// assert_eq!(queue.len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct InlineFirstQueue<T> {
    /// The front element; `None` only when the queue is empty.
    first: Option<T>,
    /// The elements behind `first`, in order.
    rest: VecDeque<T>,
}

impl<T> Default for InlineFirstQueue<T> {
    fn default() -> Self {
        InlineFirstQueue::new()
    }
}

impl<T> InlineFirstQueue<T> {
    /// An empty queue (no allocation).
    pub const fn new() -> Self {
        InlineFirstQueue {
            first: None,
            rest: VecDeque::new(),
        }
    }

    /// Appends `value` at the back.
    pub fn push_back(&mut self, value: T) {
        if self.first.is_none() {
            self.first = Some(value);
        } else {
            self.rest.push_back(value);
        }
    }

    /// Removes and returns the front element.
    pub fn pop_front(&mut self) -> Option<T> {
        let front = self.first.take()?;
        self.first = self.rest.pop_front();
        Some(front)
    }

    /// The front element.
    pub fn front(&self) -> Option<&T> {
        self.first.as_ref()
    }

    /// The front element, mutably.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.first.as_mut()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// How many elements wait.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Drops every element, keeping the memory for elements behind the first.
    pub fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    /// The elements, front to back.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            inner: self.first.iter().chain(self.rest.iter()),
        }
    }
}

/// An iterator over an [`InlineFirstQueue`]'s elements, front to back.
#[derive(Clone, Debug)]
pub struct Iter<'a, T> {
    inner: Chain<option::Iter<'a, T>, vec_deque::Iter<'a, T>>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<'a, T> IntoIterator for &'a InlineFirstQueue<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use quickcheck::{Arbitrary, Gen};
    use quickcheck_macros::quickcheck;

    #[test]
    fn one_element_needs_no_allocation() {
        let mut queue = InlineFirstQueue::new();
        queue.push_back(7u32);
        assert_eq!(queue.rest.capacity(), 0);
        assert_eq!(queue.pop_front(), Some(7));
        assert!(queue.is_empty());
        queue.push_back(8);
        assert_eq!(queue.rest.capacity(), 0);
    }

    #[test]
    fn the_second_element_waits_behind_the_first() {
        let mut queue = InlineFirstQueue::new();
        queue.push_back('a');
        queue.push_back('b');
        queue.push_back('c');
        *queue.front_mut().unwrap() = 'A';
        assert_eq!(queue.iter().copied().collect::<Vec<_>>(), ['A', 'b', 'c']);
        assert_eq!(queue.iter().size_hint(), (3, Some(3)));
        assert_eq!(queue.pop_front(), Some('A'));
        assert_eq!(queue.front(), Some(&'b'));
        queue.clear();
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.pop_front(), None);
        assert_eq!(queue.front(), None);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Pop,
        SetFront(u8),
        Clear,
    }

    impl Arbitrary for Op {
        fn arbitrary(g: &mut Gen) -> Op {
            match u8::arbitrary(g) % 8 {
                0..=3 => Op::Push(u8::arbitrary(g)),
                4 | 5 => Op::Pop,
                6 => Op::SetFront(u8::arbitrary(g)),
                _ => Op::Clear,
            }
        }
    }

    #[quickcheck]
    fn behaves_like_a_vec_deque(ops: Vec<Op>) -> bool {
        let mut queue = InlineFirstQueue::new();
        let mut model = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => {
                    queue.push_back(v);
                    model.push_back(v);
                }
                Op::Pop => {
                    if queue.pop_front() != model.pop_front() {
                        return false;
                    }
                }
                Op::SetFront(v) => {
                    if let (Some(a), Some(b)) = (queue.front_mut(), model.front_mut()) {
                        *a = v;
                        *b = v;
                    }
                }
                Op::Clear => {
                    queue.clear();
                    model.clear();
                }
            }
            let same = queue.len() == model.len()
                && queue.is_empty() == model.is_empty()
                && queue.front() == model.front()
                && queue.iter().eq(model.iter());
            if !same {
                return false;
            }
        }
        true
    }
}

//! How much of h2's read buffer a read offers the stream.
//!
//! h2 hands over its read buffer uninitialized (tokio's sockets read into it
//! as it is); safe code must zero what it offers the read first, and zeroing
//! touches the pages. Offering all of h2's 8 KiB buffer to read a 50-byte
//! frame kept every idle connection's buffer resident: 25.2 KiB of RSS per
//! idle connection against tokio's 21.3 (1,000 connections). So a read
//! offers twice what the last one got, and a burst soon gets room again.

/// The least a read offers: a few small frames (an idle connection's reads
/// are tens of bytes; 1 KiB left 1 KiB/conn more resident than 256 over
/// 1,000 idle connections).
pub(crate) const MIN_READ: usize = 256;

/// The size of the next read's offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadOffer(usize);

impl Default for ReadOffer {
    fn default() -> ReadOffer {
        ReadOffer(MIN_READ)
    }
}

impl ReadOffer {
    /// How many bytes the next read offers, given the room left in the
    /// caller's buffer.
    pub(crate) fn size(self, room: usize) -> usize {
        self.0.min(room)
    }

    /// After a read of `n` bytes: twice `n`, falling by at most half per
    /// read (a bulk transfer's size survives one short read), never under
    /// [`MIN_READ`].
    pub(crate) fn after_read(&mut self, n: usize) {
        self.0 = n.saturating_mul(2).max(self.0 / 2).max(MIN_READ);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_follows_recent_reads() {
        // (offer before, bytes read, next offer)
        let cases = [
            (MIN_READ, 0, MIN_READ),
            (MIN_READ, 10, MIN_READ),
            (MIN_READ, MIN_READ, 2 * MIN_READ),
            (MIN_READ, 3000, 6000),
            (64 * 1024, 100, 32 * 1024),
            (64 * 1024, 64 * 1024, 128 * 1024),
            (2 * MIN_READ, 1, MIN_READ),
            (MIN_READ, usize::MAX, usize::MAX),
        ];
        for (before, n, next) in cases {
            let mut offer = ReadOffer(before);
            offer.after_read(n);
            assert_eq!(offer, ReadOffer(next), "{before} after {n}");
        }
    }

    #[test]
    fn the_offer_never_exceeds_the_room() {
        assert_eq!(ReadOffer::default().size(8192), MIN_READ);
        assert_eq!(ReadOffer(64 * 1024).size(8192), 8192);
        assert_eq!(ReadOffer(64 * 1024).size(0), 0);
    }
}

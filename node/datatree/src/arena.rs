//! BlobArena: the byte strings of the node store (each znode's name, Stat and data in one
//! blob, see `store.rs`), packed into 64 KiB pages without a per-blob header.
//!
//! A general-purpose malloc costs a 1M-znode tree about 20 bytes a node (glibc puts an
//! 8-byte header before each chunk and rounds it to 16 bytes, and a `Box<[u8]>` is a
//! 16-byte fat pointer). Here a blob is a slot in a page of its size class (4-byte steps up
//! to 256 bytes, then 16 classes per doubling up to 4 KiB, so at most 6% is lost to
//! rounding), named by a `u32` handle; its length is kept by the caller, which needs it
//! anyway. Freed slots are chained through their first four bytes and reused first; a page
//! whose last blob goes is given back (one spare page per class is kept, so that create and
//! delete of one node in turn does not churn the allocator). Blobs over 4 KiB get their own
//! allocation, where a header no longer matters.
//!
//! Pure safe code over `Vec<u8>`: a handle is an index, never a pointer. Handles and lengths
//! come only from this arena (the store keeps them beside its records), never from input.

/// Bytes per page of a size class.
const PAGE_BYTES: usize = 64 * 1024;
/// The longest blob kept in a size class.
pub const SMALL_MAX: usize = 4096;
/// Number of size classes: 64 of 4-byte steps up to 256, then 16 per doubling to 4096.
const CLASSES: usize = 64 + 16 * 4;
/// Marks the handle of a blob with its own allocation.
const LARGE: u32 = 1 << 31;
/// The end of a free list.
const NONE: u32 = u32::MAX;

/// The size class of a blob of `len` bytes (1..=SMALL_MAX), and that class's slot size.
fn class_of(len: usize) -> (usize, usize) {
    let len = len.max(1);
    if len <= 256 {
        let c = len.div_ceil(4) - 1;
        return (c, 4 * (c + 1));
    }
    // 2^(k-1) < len <= 2^k, k in 9..=12; 16 steps of 2^(k-5) each.
    let k = (usize::BITS - (len - 1).leading_zeros()) as usize;
    let step = 1usize << (k - 5);
    let i = (len - (1 << (k - 1)) - 1) / step;
    (64 + (k - 9) * 16 + i, (1 << (k - 1)) + (i + 1) * step)
}

#[derive(Debug, Default)]
struct Page {
    /// The slots handed out so far (bump allocation); empty when the page is given back.
    buf: Vec<u8>,
    /// First free slot (by index in the page), chained through the slots' first 4 bytes.
    free: u32,
    live: u32,
    /// Whether the page is in its class's `partial` list.
    listed: bool,
}

#[derive(Debug, Default)]
struct SizeClass {
    slot: usize,
    per_page: usize,
    pages: Vec<Page>,
    /// Pages that may have room (a stack: the last one is filled first).
    partial: Vec<u32>,
    /// A given-back page buffer kept for the next page this class needs.
    spare: Option<Vec<u8>>,
}

impl SizeClass {
    fn page_bytes(&self) -> usize {
        self.slot * self.per_page
    }

    fn has_room(&self, p: usize) -> bool {
        let page = &self.pages[p];
        page.free != NONE || page.buf.len() < self.page_bytes()
    }

    /// A slot for `bytes`; `None` when this class has no handle left below `LARGE`.
    fn alloc(&mut self, bytes: &[u8]) -> Option<u32> {
        let p = loop {
            match self.partial.last() {
                Some(&p) if self.has_room(p as usize) => break p as usize,
                Some(&p) => {
                    self.partial.pop();
                    self.pages[p as usize].listed = false;
                }
                None => {
                    let p = self.pages.len();
                    // The handle of this page's last slot must stay below LARGE.
                    if (p + 1) * self.per_page > LARGE as usize {
                        return None;
                    }
                    self.pages.push(Page { buf: Vec::new(), free: NONE, live: 0, listed: true });
                    self.partial.push(p as u32);
                    break p;
                }
            }
        };
        let (slot, page_bytes) = (self.slot, self.page_bytes());
        let spare = &mut self.spare;
        let page = &mut self.pages[p];
        if page.buf.capacity() == 0 {
            page.buf = spare.take().unwrap_or_else(|| Vec::with_capacity(page_bytes));
        }
        let s = if page.free != NONE {
            let s = page.free as usize;
            page.free = read_u32(&page.buf[s * slot..]);
            s
        } else {
            let s = page.buf.len() / slot;
            page.buf.resize(page.buf.len() + slot, 0);
            s
        };
        page.buf[s * slot..s * slot + bytes.len()].copy_from_slice(bytes);
        page.live += 1;
        Some((p * self.per_page + s) as u32)
    }

    fn free(&mut self, h: u32) {
        let (p, s) = (h as usize / self.per_page, h as usize % self.per_page);
        let slot = self.slot;
        let page = &mut self.pages[p];
        page.buf[s * slot..s * slot + 4].copy_from_slice(&page.free.to_le_bytes());
        page.free = s as u32;
        page.live -= 1;
        if !page.listed {
            page.listed = true;
            self.partial.push(p as u32);
        }
        if page.live == 0 {
            let mut buf = std::mem::take(&mut page.buf);
            page.free = NONE;
            if self.spare.is_none() {
                buf.clear();
                self.spare = Some(buf);
            }
        }
    }
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Byte strings addressed by `u32` handles; see the module doc.
#[derive(Debug)]
pub struct BlobArena {
    classes: Vec<SizeClass>,
    large: Vec<Box<[u8]>>,
    large_free: Vec<u32>,
}

impl Default for BlobArena {
    fn default() -> Self {
        let mut classes: Vec<SizeClass> = (0..CLASSES).map(|_| SizeClass::default()).collect();
        // Slot sizes straight from class_of, so that the two never disagree.
        for len in 1..=SMALL_MAX {
            let (c, slot) = class_of(len);
            classes[c].slot = slot;
            classes[c].per_page = PAGE_BYTES / slot;
        }
        BlobArena { classes, large: Vec::new(), large_free: Vec::new() }
    }
}

impl BlobArena {
    /// Stores a copy of `bytes`; the handle and `bytes.len()` name it from now on.
    ///
    /// Handles cannot run out while fewer than `2^31 - 2^16` blobs live (the node store's
    /// limit): a class opens a page only when all its pages are full, so its handles stay
    /// below live blobs + one page; were a class ever out of handles, the blob would go to
    /// the large store, whose index counts live large blobs only.
    pub fn alloc(&mut self, bytes: &[u8]) -> u32 {
        if bytes.len() <= SMALL_MAX {
            let (c, _) = class_of(bytes.len());
            if let Some(h) = self.classes[c].alloc(bytes) {
                return h;
            }
        }
        let b: Box<[u8]> = bytes.into();
        if let Some(i) = self.large_free.pop() {
            self.large[i as usize] = b;
            return i | LARGE;
        }
        debug_assert!(self.large.len() < LARGE as usize);
        self.large.push(b);
        (self.large.len() - 1) as u32 | LARGE
    }

    /// The blob `h` of `len` bytes.
    pub fn get(&self, h: u32, len: usize) -> &[u8] {
        if h & LARGE != 0 {
            return &self.large[(h & !LARGE) as usize];
        }
        let c = &self.classes[class_of(len).0];
        let (p, s) = (h as usize / c.per_page, h as usize % c.per_page);
        &c.pages[p].buf[s * c.slot..s * c.slot + len]
    }

    /// The blob `h` of `len` bytes, to change in place.
    pub fn get_mut(&mut self, h: u32, len: usize) -> &mut [u8] {
        if h & LARGE != 0 {
            return &mut self.large[(h & !LARGE) as usize];
        }
        let c = &mut self.classes[class_of(len).0];
        let (p, s) = (h as usize / c.per_page, h as usize % c.per_page);
        &mut c.pages[p].buf[s * c.slot..s * c.slot + len]
    }

    /// Gives back the blob `h` of `len` bytes; the handle may be handed out again.
    pub fn free(&mut self, h: u32, len: usize) {
        if h & LARGE != 0 {
            let i = h & !LARGE;
            self.large[i as usize] = Box::default();
            self.large_free.push(i);
            return;
        }
        self.classes[class_of(len).0].free(h);
    }

    /// Bytes held in pages and large blobs (what the arena costs, rounding included).
    pub fn footprint(&self) -> usize {
        let pages: usize = self.classes.iter().flat_map(|c| c.pages.iter()).map(|p| p.buf.capacity()).sum();
        let spares: usize = self.classes.iter().filter_map(|c| c.spare.as_ref()).map(|b| b.capacity()).sum();
        pages + spares + self.large.iter().map(|b| b.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes_cover_every_length_with_little_rounding() {
        let mut last = (0, 0);
        for len in 1..=SMALL_MAX {
            let (c, slot) = class_of(len);
            assert!(slot >= len && slot >= 4, "{len} -> {slot}");
            assert!(slot - len < 4 || (slot - len) * 16 <= len, "{len} -> {slot}");
            assert!(c < CLASSES);
            assert!(c == last.0 || c == last.0 + 1, "classes are dense");
            assert!(slot >= last.1);
            last = (c, slot);
        }
        assert_eq!(last, (CLASSES - 1, SMALL_MAX));
        assert_eq!(class_of(131), (32, 132));
        assert_eq!(class_of(257), (64, 272));
    }

    #[test]
    fn pages_are_reused_and_given_back() {
        let mut a = BlobArena::default();
        let hs: Vec<u32> = (0..10_000u32).map(|i| a.alloc(&i.to_le_bytes().repeat(25))).collect();
        let full = a.footprint();
        assert!(full <= 10_000 * 100 + 2 * PAGE_BYTES, "{full}");
        for (i, h) in hs.iter().enumerate() {
            assert_eq!(a.get(*h, 100), &(i as u32).to_le_bytes().repeat(25)[..]);
        }
        for h in &hs {
            a.free(*h, 100);
        }
        // All pages but the spare are given back.
        assert_eq!(a.footprint(), PAGE_BYTES / 100 * 100);
        let h = a.alloc(&[7; 100]);
        assert_eq!(a.get(h, 100), &[7; 100][..]);
        assert_eq!(a.footprint(), PAGE_BYTES / 100 * 100);
    }

    #[test]
    fn large_blobs_have_their_own_allocation() {
        let mut a = BlobArena::default();
        let big = vec![3u8; SMALL_MAX + 1];
        let h = a.alloc(&big);
        assert_eq!(a.get(h, big.len()), &big[..]);
        a.get_mut(h, big.len())[0] = 9;
        assert_eq!(a.get(h, big.len())[0], 9);
        a.free(h, big.len());
        let h2 = a.alloc(&big);
        assert_eq!(h, h2);
        assert_eq!(a.footprint(), big.len());
    }

    proptest! {
        /// Any sequence of allocations and frees: every live blob reads back as written.
        #[test]
        fn live_blobs_read_back(ops in proptest::collection::vec((0usize..6000, any::<u8>(), any::<bool>()), 1..400)) {
            let mut a = BlobArena::default();
            let mut live: Vec<(u32, Vec<u8>)> = Vec::new();
            for (i, (len, fill, free)) in ops.into_iter().enumerate() {
                if free && !live.is_empty() {
                    let (h, b) = live.swap_remove(i % live.len());
                    a.free(h, b.len());
                } else {
                    let b = vec![fill; len.max(1)];
                    live.push((a.alloc(&b), b));
                }
                for (h, b) in &live {
                    prop_assert_eq!(a.get(*h, b.len()), &b[..]);
                }
            }
        }
    }
}

//! Seeded byte-level mutation of valid input, for the tests that feed the
//! parsers what a broken or hostile peer might send.

/// xorshift64*, so a sweep is the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `input` with one to four edits: cut short, a byte replaced by one that
/// means something to JSON or to a topic (or by any byte), a byte inserted
/// or removed, a short slice repeated (nesting, repeated members).
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] =
        b"{}[]\":,\\/&?=0123456789-+.eEtrufalsn \t\r\n\x00\x1f\x7f\xff\xc3_A";
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => out.truncate(at),
            1 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => out.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            3 if at < out.len() => {
                out.remove(at);
            }
            4 if at < out.len() => out[at] = rng.next() as u8,
            _ => {
                let from = rng.below(out.len() + 1);
                let to = (from + rng.below(16)).min(out.len());
                let piece = out[from..to].to_vec();
                out.splice(at..at, piece);
            }
        }
    }
    out
}

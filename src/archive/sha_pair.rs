//! Two SHA-256 computations over the same bytes at once: the content digest (over `data`) and
//! the integrity digest (over `{"data":` + `data` + the rest of the document), as `digest.rs`
//! defines them, cost one pass instead of two.
//!
//! Why: hashing the data twice was the largest single cost of reading and writing an archive
//! after decompression (BENCHMARKS.md, "Both digests in one pass"). The SHA extensions of x86
//! CPUs compute one SHA-256 as a chain of dependent instructions that leaves the unit idle
//! between them; interleaving the rounds of two independent messages fills those gaps, and the
//! pair costs about as much as one. No crate in
//! wide use offers two-message hashing, so [`compress_pair`] does it with the same instructions
//! `sha2` uses for one; everything else (the schedule of the other cases, padding) is plain
//! SHA-256 (FIPS 180-4), and single blocks go through `sha2`'s own compression function. Tests
//! compare every result with `sha2` over random messages, lengths and split points.
//!
//! The digests protect archives against damage and mistakes, not against an adversary (SPEC.md
//! says so), and nothing secret is hashed, so timing does not matter here.

use sha2::digest::generic_array::GenericArray;

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// One SHA-256 computation: the state, the block being filled, and the length so far.
#[derive(Clone)]
pub(crate) struct Sha {
    state: [u32; 8],
    block: [u8; 64],
    filled: usize,
    len: u64,
}

/// Compresses whole 64-byte blocks into `state` with `sha2`'s compression function.
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(64) {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

impl Sha {
    pub(crate) fn new() -> Self {
        Sha { state: H0, block: [0; 64], filled: 0, len: 0 }
    }

    /// Completes a partly filled block from the start of `data`; how many bytes it took (none
    /// when no block was started).
    fn top_up(&mut self, data: &[u8]) -> usize {
        if self.filled == 0 {
            return 0;
        }
        let n = (64 - self.filled).min(data.len());
        self.block[self.filled..self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == 64 {
            compress(&mut self.state, &self.block);
            self.filled = 0;
        }
        n
    }

    /// Keeps the last bytes of an update (less than a block) for the next one.
    fn keep(&mut self, tail: &[u8]) {
        self.block[self.filled..self.filled + tail.len()].copy_from_slice(tail);
        self.filled += tail.len();
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        let rest = &data[self.top_up(data)..];
        let whole = rest.len() / 64 * 64;
        compress(&mut self.state, &rest[..whole]);
        self.keep(&rest[whole..]);
    }

    /// The digest: padding and length (FIPS 180-4, 5.1.1), then the state, big-endian.
    pub(crate) fn finish(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut padding = [0u8; 72];
        padding[0] = 0x80;
        let zeros = (119 - self.filled) % 64;
        padding[1 + zeros..9 + zeros].copy_from_slice(&bits.to_be_bytes());
        let total = 9 + zeros;
        let len = self.len;
        self.update(&padding[..total]);
        self.len = len;
        debug_assert_eq!(self.filled, 0);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Two SHA-256 computations fed the same bytes; the second may have been given other bytes
/// before (its own prefix), so their blocks need not line up.
pub(crate) struct ShaPair {
    pub(crate) first: Sha,
    pub(crate) second: Sha,
}

impl ShaPair {
    /// A pair whose second computation starts with `prefix`.
    pub(crate) fn new(prefix: &[u8]) -> Self {
        let mut second = Sha::new();
        second.update(prefix);
        ShaPair { first: Sha::new(), second }
    }

    /// Feeds `data` to both computations.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let (a, b) = (&mut self.first, &mut self.second);
        a.len += data.len() as u64;
        b.len += data.len() as u64;
        let rest_a = &data[a.top_up(data)..];
        let rest_b = &data[b.top_up(data)..];
        let (blocks_a, blocks_b) = (rest_a.len() / 64, rest_b.len() / 64);
        let both = blocks_a.min(blocks_b) * 64;
        compress_pair(&mut a.state, &rest_a[..both], &mut b.state, &rest_b[..both]);
        compress(&mut a.state, &rest_a[both..blocks_a * 64]);
        compress(&mut b.state, &rest_b[both..blocks_b * 64]);
        a.keep(&rest_a[blocks_a * 64..]);
        b.keep(&rest_b[blocks_b * 64..]);
    }
}

/// Compresses the blocks of `a` into `state_a` and those of `b` (as many) into `state_b`.
fn compress_pair(state_a: &mut [u32; 8], a: &[u8], state_b: &mut [u32; 8], b: &[u8]) {
    debug_assert!(a.len() == b.len() && a.len().is_multiple_of(64));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("sse4.1")
        && std::arch::is_x86_feature_detected!("ssse3")
    {
        // SAFETY: the CPU has the instructions `x86::compress_pair` is compiled for (checked
        // just above), and it reads only whole blocks within `a` and `b`.
        unsafe { x86::compress_pair(state_a, a, state_b, b) };
        return;
    }
    compress(state_a, a);
    compress(state_b, b);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! SHA-256 of two messages with the x86 SHA extensions, their rounds interleaved.
    //!
    //! The instructions keep the working variables as two vectors, ABEF and CDGH; each
    //! `sha256rnds2` does two rounds, `sha256msg1`/`sha256msg2` extend the message schedule four
    //! words at a time (Intel, "New Instructions Supporting the Secure Hash Algorithm on Intel
    //! Architecture Processors", 2013).

    use std::arch::x86_64::*;

    /// The round constants (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// `state` (A..H) as the instructions want it: (ABEF, CDGH), A and C in the highest lanes.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn load(state: &[u32; 8]) -> (__m128i, __m128i) {
        let [a, b, c, d, e, f, g, h] = state.map(|w| w as i32);
        // `_mm_set_epi32` takes the highest lane first.
        (_mm_set_epi32(a, b, e, f), _mm_set_epi32(c, d, g, h))
    }

    /// The lanes of `v`, lowest first.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn lanes(v: __m128i) -> [u32; 4] {
        // SAFETY: both types are 16 bytes of plain data, and every bit pattern is valid in both.
        unsafe { std::mem::transmute::<__m128i, [u32; 4]>(v) }
    }

    /// The inverse of [`load`].
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn store(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
        let ([f, e, b, a], [h, g, d, c]) = (lanes(abef), lanes(cdgh));
        *state = [a, b, c, d, e, f, g, h];
    }

    /// # Safety
    ///
    /// The CPU must have the SHA, SSE4.1 and SSSE3 extensions; `a` and `b` must have the same
    /// length, a multiple of 64.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress_pair(state_a: &mut [u32; 8], a: &[u8], state_b: &mut [u32; 8], b: &[u8]) {
        // Big-endian words from the message bytes.
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        macro_rules! words {
            // SAFETY (of the load): `$block` is 64 bytes long (`chunks_exact`), so bytes 16 i ..
            // 16 i + 16 are within it for i < 4; the load is unaligned.
            ($block:ident, $i:expr) => {
                _mm_shuffle_epi8(unsafe { _mm_loadu_si128($block.as_ptr().add(16 * $i).cast()) }, swap)
            };
        }
        macro_rules! k {
            ($g:expr) => {
                _mm_set_epi32(K[4 * $g + 3] as i32, K[4 * $g + 2] as i32, K[4 * $g + 1] as i32, K[4 * $g] as i32)
            };
        }
        let (mut a0, mut a1) = load(state_a);
        let (mut b0, mut b1) = load(state_b);
        for (block_a, block_b) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
            let (saved_a0, saved_a1, saved_b0, saved_b1) = (a0, a1, b0, b1);
            let (mut wa0, mut wa1, mut wa2, mut wa3) =
                (words!(block_a, 0), words!(block_a, 1), words!(block_a, 2), words!(block_a, 3));
            let (mut wb0, mut wb1, mut wb2, mut wb3) =
                (words!(block_b, 0), words!(block_b, 1), words!(block_b, 2), words!(block_b, 3));
            // Four rounds of both messages with schedule words `wa`, `wb` (W[4g..4g+4]).
            macro_rules! rounds {
                ($g:expr, $wa:ident, $wb:ident) => {{
                    let ka = _mm_add_epi32($wa, k!($g));
                    let kb = _mm_add_epi32($wb, k!($g));
                    a1 = _mm_sha256rnds2_epu32(a1, a0, ka);
                    b1 = _mm_sha256rnds2_epu32(b1, b0, kb);
                    a0 = _mm_sha256rnds2_epu32(a0, a1, _mm_shuffle_epi32(ka, 0x0E));
                    b0 = _mm_sha256rnds2_epu32(b0, b1, _mm_shuffle_epi32(kb, 0x0E));
                }};
            }
            // W[g] from W[g-4], W[g-3], W[g-2], W[g-1] (in that order), into the first.
            macro_rules! schedule {
                ($w4:ident, $w3:ident, $w2:ident, $w1:ident) => {{
                    let sum = _mm_add_epi32(_mm_sha256msg1_epu32($w4, $w3), _mm_alignr_epi8($w1, $w2, 4));
                    $w4 = _mm_sha256msg2_epu32(sum, $w1);
                }};
            }
            rounds!(0, wa0, wb0);
            rounds!(1, wa1, wb1);
            rounds!(2, wa2, wb2);
            rounds!(3, wa3, wb3);
            for g in [4, 8, 12] {
                schedule!(wa0, wa1, wa2, wa3);
                schedule!(wb0, wb1, wb2, wb3);
                rounds!(g, wa0, wb0);
                schedule!(wa1, wa2, wa3, wa0);
                schedule!(wb1, wb2, wb3, wb0);
                rounds!(g + 1, wa1, wb1);
                schedule!(wa2, wa3, wa0, wa1);
                schedule!(wb2, wb3, wb0, wb1);
                rounds!(g + 2, wa2, wb2);
                schedule!(wa3, wa0, wa1, wa2);
                schedule!(wb3, wb0, wb1, wb2);
                rounds!(g + 3, wa3, wb3);
            }
            a0 = _mm_add_epi32(a0, saved_a0);
            a1 = _mm_add_epi32(a1, saved_a1);
            b0 = _mm_add_epi32(b0, saved_b0);
            b1 = _mm_add_epi32(b1, saved_b1);
        }
        store(state_a, a0, a1);
        store(state_b, b0, b1);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use sha2::{Digest, Sha256};

    use super::*;

    fn reference(parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    #[test]
    fn one_computation_is_sha256() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        for len in (0..300).chain([1000, 4096, 65_537]) {
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let mut sha = Sha::new();
            let cut = if len > 0 { rng.random_range(0..len) } else { 0 };
            sha.update(&data[..cut]);
            sha.update(&data[cut..]);
            assert_eq!(sha.finish(), reference(&[&data]), "length {len}");
        }
        // FIPS 180-4 examples ("abc", the empty message).
        let mut abc = Sha::new();
        abc.update(b"abc");
        assert_eq!(hex::encode(abc.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            hex::encode(Sha::new().finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_pair_is_two_sha256_whatever_the_prefix_and_the_pieces() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..400 {
            let prefix: Vec<u8> = (0..rng.random_range(0..140)).map(|_| rng.random()).collect();
            let len = if round % 10 == 0 { rng.random_range(0..200_000) } else { rng.random_range(0..3000) };
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let suffix: Vec<u8> = (0..rng.random_range(0..100)).map(|_| rng.random()).collect();
            let mut pair = ShaPair::new(&prefix);
            let mut at = 0;
            while at < data.len() {
                let n = rng.random_range(0..=(data.len() - at).min(if round % 3 == 0 { 70 } else { 20_000 }));
                pair.update(&data[at..at + n]);
                at += n;
            }
            let ShaPair { first, mut second } = pair;
            second.update(&suffix);
            assert_eq!(first.finish(), reference(&[&data]), "round {round}");
            assert_eq!(second.finish(), reference(&[&prefix, &data, &suffix]), "round {round}");
        }
    }
}

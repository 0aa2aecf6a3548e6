//! CRC-32: the checksum a checkpoint keeps of its content.

/// CRC-32 as in gzip, zip and PNG (IEEE 802.3 polynomial, reflected): a
/// checksum made to catch accidental damage. Every burst of up to 32 flipped
/// bits is caught, and any other damage slips through with probability
/// 2^-32. Computed a byte at a time from a 256-entry table.
///
/// ```
/// use tensor::durable::Crc32;
/// let mut crc = Crc32::new();
/// crc.update(b"123456789");
/// assert_eq!(crc.finish(), 0xCBF4_3926); // the standard check value
/// ```
#[derive(Clone, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// Entry `i`: the CRC of the single byte `i`, worked out bit by bit.
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    0xEDB8_8320 ^ (crc >> 1)
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };

    /// A checksum of nothing yet.
    pub fn new() -> Crc32 {
        Crc32(!0)
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = Self::TABLE[((self.0 ^ u32::from(byte)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    /// Adds a length-prefixed field, so that `("ab", "c")` and `("a", "bc")` differ.
    pub fn field(&mut self, bytes: &[u8]) {
        self.update(&(bytes.len() as u64).to_le_bytes());
        self.update(bytes);
    }

    /// The checksum of everything added.
    pub fn finish(&self) -> u32 {
        !self.0
    }
}

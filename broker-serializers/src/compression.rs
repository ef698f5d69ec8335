//! Moleculer's `Middlewares.Transmit.Compression`: every packet gets a first byte, `0x00`
//! for a packet left as it is (smaller than the threshold) or `0x01` for a compressed one.

use broker_core::transmit::TransitMiddleware;
use broker_core::Error;
use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use std::fmt;
use std::io::{Read, Write};

/// The zlib method, as Moleculer's `method` option names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionMethod {
    /// `deflate`: zlib-wrapped deflate (Node's `zlib.deflate`), Moleculer's default.
    Deflate,
    /// `deflateRaw`: bare deflate (`zlib.deflateRaw`).
    DeflateRaw,
    /// `gzip` (`zlib.gzip`).
    Gzip,
}

impl fmt::Display for CompressionMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompressionMethod::Deflate => "deflate",
            CompressionMethod::DeflateRaw => "deflateRaw",
            CompressionMethod::Gzip => "gzip",
        })
    }
}

/// Compresses packets of at least `threshold` bytes (default 1 KiB, Moleculer's `"1kb"`).
///
/// ```
/// use broker_core::Broker;
/// use broker_serializers::{Compression, CompressionMethod};
///
/// let broker = Broker::builder()
///     .transit_middleware(Compression::new(CompressionMethod::Gzip).threshold(512))
///     .build();
/// assert_eq!(broker.config().transit_middlewares.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Compression {
    method: CompressionMethod,
    threshold: usize,
    max_size: usize,
}

impl Compression {
    /// Compression with `method` and the default threshold.
    pub fn new(method: CompressionMethod) -> Compression {
        Compression {
            method,
            threshold: 1024,
            max_size: 16 * 1024 * 1024,
        }
    }

    /// Packets smaller than this many bytes are sent uncompressed (0: compress all).
    pub fn threshold(mut self, bytes: usize) -> Compression {
        self.threshold = bytes;
        self
    }

    /// The largest packet a received one may inflate to (default 16 MiB, the broker's
    /// `max_packet_size`): a bound against compression bombs.
    pub fn max_size(mut self, bytes: usize) -> Compression {
        self.max_size = bytes;
        self
    }

    fn compress(&self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let level = flate2::Compression::default();
        let mut out = Vec::with_capacity(bytes.len() / 2 + 16);
        out.push(0x01);
        match self.method {
            CompressionMethod::Deflate => {
                let mut e = ZlibEncoder::new(out, level);
                e.write_all(bytes)?;
                e.finish()
            }
            CompressionMethod::DeflateRaw => {
                let mut e = DeflateEncoder::new(out, level);
                e.write_all(bytes)?;
                e.finish()
            }
            CompressionMethod::Gzip => {
                let mut e = GzEncoder::new(out, level);
                e.write_all(bytes)?;
                e.finish()
            }
        }
    }

    fn decompress(&self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let limit = self.max_size as u64 + 1;
        let mut out = Vec::new();
        match self.method {
            CompressionMethod::Deflate => ZlibDecoder::new(bytes).take(limit).read_to_end(&mut out),
            CompressionMethod::DeflateRaw => {
                DeflateDecoder::new(bytes).take(limit).read_to_end(&mut out)
            }
            CompressionMethod::Gzip => GzDecoder::new(bytes).take(limit).read_to_end(&mut out),
        }?;
        if out.len() > self.max_size {
            return Err(std::io::Error::other(format!(
                "inflates beyond {} bytes",
                self.max_size
            )));
        }
        Ok(out)
    }
}

impl TransitMiddleware for Compression {
    fn name(&self) -> &'static str {
        "Compression"
    }

    fn outgoing(&self, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        if bytes.len() < self.threshold {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(0x00);
            out.extend_from_slice(&bytes);
            return Ok(out);
        }
        self.compress(&bytes)
            .map_err(|e| Error::broker_options(format!("{} compression failed: {e}", self.method)))
    }

    fn incoming(&self, mut bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        match bytes.first() {
            None => Err(Error::broker_options("an empty packet")),
            Some(0x00) => {
                bytes.remove(0);
                Ok(bytes)
            }
            Some(_) => self.decompress(&bytes[1..]).map_err(|e| {
                Error::broker_options(format!("{} decompression failed: {e}", self.method))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_below_and_above_the_threshold() {
        let big = b"moleculer ".repeat(200);
        for method in [
            CompressionMethod::Deflate,
            CompressionMethod::DeflateRaw,
            CompressionMethod::Gzip,
        ] {
            let c = Compression::new(method);
            let small = c.outgoing(b"hi".to_vec()).expect("small");
            assert_eq!(small, b"\x00hi");
            assert_eq!(c.incoming(small).expect("back"), b"hi");
            let packed = c.outgoing(big.clone()).expect("big");
            assert_eq!(packed[0], 0x01);
            assert!(packed.len() < big.len() / 10, "{method}: {}", packed.len());
            assert_eq!(c.incoming(packed.clone()).expect("back"), big);
            assert!(
                c.clone().max_size(100).incoming(packed).is_err(),
                "{method}: bomb"
            );
            assert!(c.incoming(vec![0x01, 0xde, 0xad]).is_err());
            assert!(c.incoming(Vec::new()).is_err());
        }
    }
}

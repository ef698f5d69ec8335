//! Moleculer's `Middlewares.Transmit.Encryption` with `aes-256-cbc`: every packet encrypted
//! whole with one key and one IV (as Moleculer does: the IV is fixed, not per packet), PKCS#7
//! padded, as Node's `crypto.createCipheriv`.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use broker_core::transmit::TransitMiddleware;
use broker_core::Error;
use std::fmt;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// AES-256-CBC encryption of every packet, with Moleculer's `password` (the 32-byte key) and
/// `iv` (16 bytes).
///
/// ```
/// use broker_core::Broker;
/// use broker_serializers::Encryption;
///
/// let encryption = Encryption::aes_256_cbc(b"0123456789abcdef0123456789abcdef", b"fedcba9876543210")?;
/// let broker = Broker::builder().transit_middleware(encryption).build();
/// # Ok::<(), broker_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Encryption {
    key: [u8; 32],
    iv: [u8; 16],
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.write_str("Encryption(aes-256-cbc)")
    }
}

impl Encryption {
    /// `aes-256-cbc` with a 32-byte key and a 16-byte IV; other lengths are a
    /// `BrokerOptionsError`, as Node refuses them.
    pub fn aes_256_cbc(password: &[u8], iv: &[u8]) -> Result<Encryption, Error> {
        let key = <[u8; 32]>::try_from(password).map_err(|_| {
            Error::broker_options(format!(
                "aes-256-cbc needs a 32-byte password, not {} bytes",
                password.len()
            ))
        })?;
        let iv = <[u8; 16]>::try_from(iv).map_err(|_| {
            Error::broker_options(format!(
                "aes-256-cbc needs a 16-byte iv, not {} bytes",
                iv.len()
            ))
        })?;
        Ok(Encryption { key, iv })
    }
}

impl TransitMiddleware for Encryption {
    fn name(&self) -> &'static str {
        "Encryption"
    }

    fn outgoing(&self, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(Enc::new(&self.key.into(), &self.iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&bytes))
    }

    fn incoming(&self, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        Dec::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&bytes)
            .map_err(|_| Error::broker_options("packet decryption failed (bad padding)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_node_crypto_and_refuses_bad_keys() {
        // node -e 'const c=require("crypto").createCipheriv("aes-256-cbc",
        //   Buffer.alloc(32,1),Buffer.alloc(16,2));
        //   console.log(Buffer.concat([c.update("moleculer"),c.final()]).toString("hex"))'
        let e = Encryption::aes_256_cbc(&[1; 32], &[2; 16]).expect("valid");
        let out = e.outgoing(b"moleculer".to_vec()).expect("encrypts");
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "0cf4b44d60eed93729fe06715c847020");
        assert_eq!(e.incoming(out).expect("decrypts"), b"moleculer");
        assert!(e.incoming(vec![0; 16]).is_err());
        assert!(e.incoming(vec![0; 5]).is_err());
        assert!(Encryption::aes_256_cbc(&[1; 31], &[2; 16]).is_err());
        assert!(Encryption::aes_256_cbc(&[1; 32], &[2; 8]).is_err());
        assert_eq!(format!("{e:?}"), "Encryption(aes-256-cbc)");
    }
}

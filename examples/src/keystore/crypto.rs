//! Key material: generation, PKCS#8 PEM encoding and the operations of each key type,
//! all with RustCrypto crates.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use pkcs8::der::Decode;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding, ObjectIdentifier, PrivateKeyInfo};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use super::KeyError;

/// The key types this keystore holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// ECDSA over P-256, for sign and verify.
    EcdsaP256,
    /// Ed25519, for sign and verify.
    Ed25519,
    /// AES-256-GCM, for encrypt and decrypt.
    Aes256Gcm,
}

impl KeyKind {
    /// Parses the API's name of a key type.
    pub fn parse(name: &str) -> Result<Self, KeyError> {
        match name {
            "ecdsa_p256" => Ok(KeyKind::EcdsaP256),
            "ed25519" => Ok(KeyKind::Ed25519),
            "aes256_gcm" => Ok(KeyKind::Aes256Gcm),
            other => Err(KeyError::InvalidParams(format!(
                "unknown key type {other:?}: use ecdsa_p256, ed25519 or aes256_gcm"
            ))),
        }
    }
    /// The API's name of the key type, the inverse of [`KeyKind::parse`].
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::EcdsaP256 => "ecdsa_p256",
            KeyKind::Ed25519 => "ed25519",
            KeyKind::Aes256Gcm => "aes256_gcm",
        }
    }
}

/// AES-256-GCM's algorithm identifier (NIST): PKCS#8 has no symmetric key type of its
/// own, so the raw key is wrapped in a `PrivateKeyInfo` under this OID.
const AES_256_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.46");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// A parsed key.
pub enum Key {
    /// An ECDSA P-256 signing key.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// An Ed25519 signing key.
    Ed25519(ed25519_dalek::SigningKey),
    /// An AES-256 key.
    Aes256Gcm(Box<[u8; 32]>),
}

impl Key {
    /// New random key material.
    pub fn generate(kind: KeyKind) -> Self {
        match kind {
            KeyKind::EcdsaP256 => Key::EcdsaP256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyKind::Ed25519 => Key::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            KeyKind::Aes256Gcm => {
                let mut bytes = Box::new([0u8; 32]);
                OsRng.fill_bytes(&mut bytes[..]);
                Key::Aes256Gcm(bytes)
            }
        }
    }

    /// The key's type.
    pub fn kind(&self) -> KeyKind {
        match self {
            Key::EcdsaP256(_) => KeyKind::EcdsaP256,
            Key::Ed25519(_) => KeyKind::Ed25519,
            Key::Aes256Gcm(_) => KeyKind::Aes256Gcm,
        }
    }

    /// PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let crypto = |e: pkcs8::Error| KeyError::InvalidKey(e.to_string());
        let pem = match self {
            Key::EcdsaP256(k) => k.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?,
            Key::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?,
            Key::Aes256Gcm(bytes) => {
                let info = PrivateKeyInfo::new(
                    pkcs8::AlgorithmIdentifierRef {
                        oid: AES_256_GCM,
                        parameters: None,
                    },
                    &bytes[..],
                );
                let document = pkcs8::SecretDocument::try_from(info).map_err(crypto)?;
                document
                    .to_pem("PRIVATE KEY", LineEnding::LF)
                    .map_err(|e| KeyError::InvalidKey(e.to_string()))?
            }
        };
        Ok(pem.to_string())
    }

    /// Parses PKCS#8 PEM of a supported type.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let invalid = |e: &dyn std::fmt::Display| KeyError::InvalidKey(e.to_string());
        let (label, document) = pkcs8::SecretDocument::from_pem(pem).map_err(|e| invalid(&e))?;
        if label != "PRIVATE KEY" {
            return Err(KeyError::InvalidKey(format!(
                "expected a PRIVATE KEY, got {label}"
            )));
        }
        let info = PrivateKeyInfo::from_der(document.as_bytes()).map_err(|e| invalid(&e))?;
        match info.algorithm.oid {
            EC_PUBLIC_KEY => p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                .map(Key::EcdsaP256)
                .map_err(|e| invalid(&e)),
            ED25519 => ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .map(Key::Ed25519)
                .map_err(|e| invalid(&e)),
            AES_256_GCM => <[u8; 32]>::try_from(info.private_key)
                .map(|k| Key::Aes256Gcm(Box::new(k)))
                .map_err(|_| KeyError::InvalidKey("an AES-256 key has 32 bytes".into())),
            other => Err(KeyError::InvalidKey(format!(
                "unsupported algorithm {other}"
            ))),
        }
    }

    /// A signature of `data`: DER for ECDSA, 64 bytes for Ed25519.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::Signer;
        match self {
            Key::EcdsaP256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(data);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Key::Ed25519(k) => Ok(k.sign(data).to_bytes().to_vec()),
            Key::Aes256Gcm(_) => Err(KeyError::WrongKeyType("an AES key cannot sign")),
        }
    }

    /// `Ok(false)` for a signature that does not verify or does not parse.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        use p256::ecdsa::signature::Verifier;
        match self {
            Key::EcdsaP256(k) => Ok(p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verifying_key().verify(data, &s).is_ok())),
            Key::Ed25519(k) => Ok(ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verifying_key().verify(data, &s).is_ok())),
            Key::Aes256Gcm(_) => Err(KeyError::WrongKeyType("an AES key cannot verify")),
        }
    }

    /// A random 96-bit nonce followed by the ciphertext and tag.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let Key::Aes256Gcm(key) = self else {
            return Err(KeyError::WrongKeyType("only AES keys encrypt"));
        };
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| KeyError::Decryption)?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| KeyError::InvalidParams("plaintext too long".into()))?;
        Ok([&nonce[..], &ciphertext].concat())
    }

    /// Opens what [`Key::encrypt`] sealed.
    pub fn decrypt(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let Key::Aes256Gcm(key) = self else {
            return Err(KeyError::WrongKeyType("only AES keys decrypt"));
        };
        if message.len() < 12 + 16 {
            return Err(KeyError::Decryption);
        }
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| KeyError::Decryption)?;
        let (nonce, ciphertext) = message.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| KeyError::Decryption)?;
        cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| KeyError::Decryption)
    }
}

/// A random key id: 16 hex digits.
pub(super) fn new_id() -> String {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The DTLS certificate a link presents to its peer.
//!
//! The library makes a fresh ECDSA P-256 key and self-signed certificate for every peer
//! connection unless it is given one: a key generation and a signature (~60 µs) on each
//! link's creation path, repeated for every member of a mesh and every spare link. A
//! session makes one [`LinkCertificate`] when it starts instead, and every link of the
//! session presents it, as a browser page does that passes one
//! `RTCPeerConnection.generateCertificate()` result to all its connections. The peer
//! checks it against the fingerprint in our SDP, which is what DTLS-SRTP authenticates.

use std::fmt;
use std::sync::Arc;

use webrtc::peer_connection::certificate::RTCCertificate;

use super::RtcError;
use super::error::lib;

/// A DTLS certificate and its private key. Cheap to clone; each link made with it gets a
/// copy of its own (the library re-reads the key from its DER form for that).
#[derive(Clone)]
pub struct LinkCertificate {
    certificate: Arc<RTCCertificate>,
}

impl LinkCertificate {
    /// Makes a new ECDSA P-256 key pair and a self-signed certificate for it, the kind
    /// browsers make. CPU-bound: a key generation and a signature, ~60 µs.
    pub fn generate() -> Result<Self, RtcError> {
        let setup = |source| RtcError::Setup { step: "making the DTLS certificate", source };
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| setup(lib(e)))?;
        let certificate = RTCCertificate::from_key_pair(key).map_err(|e| setup(lib(e)))?;
        Ok(Self { certificate: Arc::new(certificate) })
    }

    /// The SHA-256 fingerprint a peer sees in our SDP (`a=fingerprint`), as
    /// `sha-256 AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.certificate
            .get_fingerprints()
            .into_iter()
            .next()
            .map(|f| format!("{} {}", f.algorithm, f.value.to_uppercase()))
            .unwrap_or_default()
    }

    pub(crate) fn to_library(&self) -> RTCCertificate {
        RTCCertificate::clone(&self.certificate)
    }
}

impl fmt::Debug for LinkCertificate {
    /// Shows the fingerprint, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkCertificate").field("fingerprint", &self.fingerprint()).finish()
    }
}

impl PartialEq for LinkCertificate {
    fn eq(&self, other: &Self) -> bool {
        self.certificate == other.certificate
    }
}

impl Eq for LinkCertificate {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_generated_certificate_is_new_and_its_clones_are_equal() {
        let a = LinkCertificate::generate().expect("a certificate");
        let b = LinkCertificate::generate().expect("another");
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
        let fingerprint = a.fingerprint();
        assert!(fingerprint.starts_with("sha-256 "), "{fingerprint}");
        // 32 bytes as colon-separated hex.
        assert_eq!(fingerprint.trim_start_matches("sha-256 ").split(':').count(), 32, "{fingerprint}");
        assert!(!format!("{a:?}").contains("private"), "Debug shows the fingerprint only");
    }
}

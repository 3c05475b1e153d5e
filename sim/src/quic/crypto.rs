//! TLS 1.3 for the simulated QUIC connections, made deterministic.
//!
//! quinn-proto runs a real rustls handshake, so packet sizes and the number
//! of round trips are those of a real connection. rustls draws randomness in
//! two places: its `SecureRandom` (the hello randoms) and each key-exchange
//! group's ephemeral key. Both read here from a ChaCha stream that the
//! calling connection lends for the duration of each quinn-proto call
//! ([`with_rng`]): a run is a pure function of its seed, however runs are
//! spread over threads. Outside such a call the randomness is *missing*, and
//! rustls fails the handshake loudly rather than fall back to the OS.
//!
//! The rest is fixed: a bundled self-signed Ed25519 certificate (Ed25519
//! signatures are deterministic, unlike ECDSA's), X25519 through
//! x25519-dalek (ring's ephemeral keys only take the OS's randomness), no
//! session tickets, no resumption. The client accepts exactly the bundled
//! certificate and checks the handshake signature with the provider's
//! algorithms. This is a test harness's PKI, not a secure one.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ActiveKeyExchange, CryptoProvider, SecureRandom, SharedSecret, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, NamedGroup, SignatureScheme};
use std::cell::RefCell;
use std::sync::Arc;

/// The server's certificate (self-signed, CN and SAN `kasim.test`, Ed25519).
const CERT: &[u8] = include_bytes!("server-cert.der");
/// Its PKCS#8 private key. Not a secret: it only ever signs simulated handshakes.
const KEY: &[u8] = include_bytes!("server-key.der");
/// The name the client asks for.
pub const SERVER_NAME: &str = "kasim.test";
/// The ALPN protocol both ends offer.
const ALPN: &[u8] = b"kasim";

thread_local! {
    static LENT: RefCell<Option<ChaCha8Rng>> = const { RefCell::new(None) };
}

/// Run `f` with `rng` lent to rustls on this thread: every random byte the
/// TLS stack draws inside `f` comes from it, and it is handed back after.
pub fn with_rng<T>(rng: &mut ChaCha8Rng, f: impl FnOnce() -> T) -> T {
    let placeholder = rand::SeedableRng::seed_from_u64(0);
    let lent = std::mem::replace(rng, placeholder);
    LENT.with(|l| *l.borrow_mut() = Some(lent));
    let out = f();
    *rng = LENT.with(|l| l.borrow_mut().take()).expect("the lent generator comes back");
    out
}

fn fill_from_lent(buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
    LENT.with(|l| match l.borrow_mut().as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(rustls::crypto::GetRandomFailed),
    })
}

#[derive(Debug)]
struct LentRandom;

impl SecureRandom for LentRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        fill_from_lent(buf)
    }
}

/// X25519 with the ephemeral secret drawn from the lent generator.
#[derive(Debug)]
struct X25519;

impl SupportedKxGroup for X25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut secret = [0u8; 32];
        fill_from_lent(&mut secret).map_err(|_| Error::FailedToGetRandomBytes)?;
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer_pub_key.try_into().map_err(|_| Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }
    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }
    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// ring's cipher suites and signatures, with the deterministic randomness and key exchange.
fn provider() -> Arc<CryptoProvider> {
    static KX: X25519 = X25519;
    static RANDOM: LentRandom = LentRandom;
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider { kx_groups: vec![&KX], secure_random: &RANDOM, ..ring })
}

/// Accepts exactly the bundled certificate; checks signatures properly.
#[derive(Debug)]
struct BundledCert(Arc<CryptoProvider>);

impl ServerCertVerifier for BundledCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if end_entity.as_ref() == CERT {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS side of a client connection.
pub fn client_crypto() -> Arc<quinn_proto::crypto::rustls::QuicClientConfig> {
    let provider = provider();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring offers TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(BundledCert(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.resumption = rustls::client::Resumption::disabled();
    Arc::new(tls.try_into().expect("the ring provider has QUIC's initial suite"))
}

/// The TLS side of the server.
pub fn server_crypto() -> Arc<quinn_proto::crypto::rustls::QuicServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring offers TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(CERT.to_vec())], key)
        .expect("the bundled key matches the bundled certificate");
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.send_tls13_tickets = 0;
    Arc::new(tls.try_into().expect("the ring provider has QUIC's initial suite"))
}

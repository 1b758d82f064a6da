//! The signaling server and token issuer.

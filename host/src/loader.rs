//! Finds and dlopens plugin libraries and checks their ABI.

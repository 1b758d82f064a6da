//! The one integration test binary of switchboard-core: the contract, from outside.

mod settings;

//! The app-facing listener API, mirroring the seed's addCallsEventListeners.

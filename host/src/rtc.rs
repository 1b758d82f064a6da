//! The seam around the WebRTC library.

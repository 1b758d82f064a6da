//! Renderers of the view model.

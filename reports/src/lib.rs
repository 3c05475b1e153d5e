//! Renderers for kasim results.

//! Renderers for kasim results. This crate knows the shape of a report (the
//! JSON contract) and how to show it; it knows nothing of how runs are made.

#![warn(missing_docs)]

pub mod html;
pub mod model;
pub mod pcap;
pub mod plot;
pub mod plot_input;
pub mod render;

pub use model::{Latency, Lateness, Report, ScenarioReport, SideReport, StrategyReport};

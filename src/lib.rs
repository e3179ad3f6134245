//! djtop: a terminal debug toolbar for Django's SQL.
//!
//! Data flows one way: the [`collector`] turns socket bytes into [`protocol`] events, the
//! [`store`] keeps them, [`analysis`] derives groups and findings as pure functions over the
//! store, and the [`ui`] and [`report`] only display what analysis returns.

pub mod analysis;
pub mod check;
pub mod collector;
pub mod editor;
pub mod explain;
pub mod highlight;
pub mod interpolate;
pub mod protocol;
pub mod record;
pub mod report;
pub mod store;
pub mod theme;
pub mod ui;

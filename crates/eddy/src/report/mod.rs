//! `eddy report`'s parts: reading a learning log (`log.rs`) and making the page from it
//! (`html.rs`, which embeds `report.css` and the script that draws the charts, `report.js`).

pub mod html;
pub mod log;

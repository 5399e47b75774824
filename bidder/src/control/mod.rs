//! The cold path people use: the `/api/v1/` JSON API ([`admin`]) and its
//! bearer tokens ([`auth`]), audience upload jobs ([`uploads`]), demo data
//! ([`demo`]) and the terminal client of uploads ([`upload_client`]).
//!
//! Every write is committed to the store before it is acknowledged, then
//! published to the bid path; nothing here runs on the bid path.

pub mod admin;
pub mod auth;
pub mod demo;
pub mod upload_client;
pub mod uploads;

//! The cold path people use: what they may do to the catalog, audiences and
//! reports, and the front ends they do it through.
//!
//! - [`service`]: the typed service layer. Takes the caller and typed
//!   inputs, holds the authorization checks, the validation and the
//!   publish after each committed catalog write; speaks no HTTP. Every
//!   front end calls it: the JSON API and the console.
//! - [`admin`]: the `/api/v1/` JSON API, an HTTP adapter over [`service`].
//! - [`console`]: the `/console` HTML pages, another adapter over
//!   [`service`], signed in through a session cookie.
//! - [`auth`]: bearer tokens and the rules of roles and grants.
//! - [`uploads`]: audience upload jobs, streamed in chunks.
//! - [`demo`]: the demo data; [`demo_assets`]: the demo's pictures, drawn
//!   and served by the bidder; [`upload_client`]: the terminal client of
//!   uploads.
//!
//! Every write is committed to the store before it is acknowledged, then
//! published to the bid path; nothing here runs on the bid path. Imports
//! flow one way: `console` -> `admin` (for its gallery and previews) and
//! `service`; `admin` -> `service` -> `auth`, `uploads` -> state and store;
//! storage never imports this module.

pub mod admin;
pub mod auth;
pub mod console;
pub mod demo;
pub mod demo_assets;
pub mod service;
pub mod upload_client;
pub mod uploads;

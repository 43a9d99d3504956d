//! Silkline's end-to-end suite: the release-shaped `silkline` binary as real processes on
//! loopback, driven as a user, an integrator and an attacker would (README, ARCHITECTURE.md). One
//! test binary; every scenario takes [`common::exclusive`] first, so one network runs at a time.
//!
//! Run one scenario with `cargo test -p node --test e2e walkthrough::` (a module's name).

mod common;

mod api;
mod bench;
mod cli;
mod cluster;
mod dev_up;
mod email;
mod faults;
mod formation;
mod governance;
mod membership;
mod ops;
mod pint;
mod pint_python;
mod ports;
mod security;
mod verify_page;
mod walkthrough;

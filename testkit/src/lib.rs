//! Test support for the Bedrock Chatbot Operator. Never used by production code.
//!
//! [`Moto`] runs the local AWS emulator (moto in server mode, installed into the
//! project's `.venv` by `scripts/setup-aws-emulator`) on a free 127.0.0.1 port for
//! the lifetime of the value, so each test gets an empty AWS of its own.
//! [`FaultProxy`] sits between a client and the emulator and injects the failures
//! AWS produces under load: throttling, 5xx, dropped connections, latency.
//! [`CrashProxy`] plays the operator's process being killed at a chosen call.
//! [`KubeControlPlane`] runs a real etcd and kube-apiserver on loopback (built by
//! `scripts/setup-kube`), with kubectl, helm and a kstatus checker beside them.

pub mod crash;
pub mod faults;
pub mod http;
pub mod kube;
pub mod moto;
mod proxy;
pub mod scenarios;

pub use crash::{ClientTokens, CrashProxy};
pub use faults::{Exchange, Fault, FaultProxy, Faults};
pub use kube::{KubeControlPlane, KubeError};
pub use moto::{Moto, MotoError};

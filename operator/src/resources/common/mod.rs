//! What several resource modules share, kept apart from the modules themselves (one
//! per AWS resource, beside this folder): finding EC2 resources by their ownership
//! tags ([`ec2`]), building and checking tags ([`tags`]), and resolving what a
//! chatbot's resources point at ([`chatbot_ref`]).

pub mod chatbot_ref;
pub mod ec2;
pub mod tags;

//! The DynamoDB table that keeps each user's conversations (`spec.history`): its key
//! schema, its index and its expiry attribute. The operator creates the table from
//! these names and the app reads and writes it by them, so they are written once,
//! here. How items are laid out under the keys is the app's business
//! (`history` module of the server).

/// Partition key (string): the user, from the `sub` of the verified ALB token.
pub const PARTITION_KEY: &str = "pk";
/// Sort key (string): the conversation, and within it each turn.
pub const SORT_KEY: &str = "sk";
/// Local secondary index on [`UPDATED_AT`], to list a user's conversations newest
/// first. Sparse: only conversation items carry the attribute, never their turns. A
/// local index reads consistently (a conversation just saved is listed at once); its
/// price is a 10 GB limit per user, far above any person's chats.
pub const BY_UPDATED_INDEX: &str = "byUpdated";
/// Sort key of [`BY_UPDATED_INDEX`] (number): last change, milliseconds since the epoch.
pub const UPDATED_AT: &str = "updatedAt";
/// The table's time-to-live attribute (number, seconds since the epoch): every item is
/// written with its expiry, `retentionDays` after the write, and DynamoDB deletes it
/// (within a few days of expiry, so readers skip expired items themselves). Absent
/// when retention is 0: kept for ever, and time to live is off.
pub const EXPIRES_AT: &str = "expiresAt";

/// Every DynamoDB action the app calls, on its table and the table's indexes, and
/// nothing else: no Scan, no table management. `TransactWriteItems` needs no action
/// of its own; IAM checks the puts and updates it holds (the app's transactions hold
/// no condition check or delete, so `ConditionCheckItem` is not granted).
pub const ITEM_ACTIONS: [&str; 6] = [
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

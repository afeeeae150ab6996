//! Kafka's authorized-operations bit sets (KIP-430), as Metadata,
//! DescribeCluster and DescribeGroups return them when asked. Without an
//! authorizer Kafka allows every operation a resource type supports
//! (`AuthHelper.authorizedOperations` with no authorizer, the sets of
//! `AclEntry.supportedOperations`); millrace has no ACLs, so these are the
//! whole sets. Bit `1 << code` stands for the `AclOperation` of that code.

/// `AclOperation` codes (Kafka's `org.apache.kafka.common.acl.AclOperation`).
pub mod acl_operation {
    /// READ.
    pub const READ: u8 = 3;
    /// WRITE.
    pub const WRITE: u8 = 4;
    /// CREATE.
    pub const CREATE: u8 = 5;
    /// DELETE.
    pub const DELETE: u8 = 6;
    /// ALTER.
    pub const ALTER: u8 = 7;
    /// DESCRIBE.
    pub const DESCRIBE: u8 = 8;
    /// CLUSTER_ACTION.
    pub const CLUSTER_ACTION: u8 = 9;
    /// DESCRIBE_CONFIGS.
    pub const DESCRIBE_CONFIGS: u8 = 10;
    /// ALTER_CONFIGS.
    pub const ALTER_CONFIGS: u8 = 11;
    /// IDEMPOTENT_WRITE.
    pub const IDEMPOTENT_WRITE: u8 = 12;
}

use acl_operation::*;

/// The value of an authorized-operations field the client did not ask for.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// What a TOPIC resource supports.
const TOPIC_OPERATIONS: &[u8] = &[
    READ,
    WRITE,
    CREATE,
    DESCRIBE,
    DELETE,
    ALTER,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
];
/// What the CLUSTER resource supports.
const CLUSTER_OPERATIONS: &[u8] = &[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
];
/// What a GROUP resource supports.
const GROUP_OPERATIONS: &[u8] = &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS];

/// Kafka's `Utils.to32BitField`: bit `code` set for each operation.
const fn bit_field(codes: &[u8]) -> i32 {
    let mut field = 0i32;
    let mut i = 0;
    while i < codes.len() {
        field |= 1 << codes[i];
        i += 1;
    }
    field
}

/// Every operation on a topic.
pub const TOPIC_AUTHORIZED_OPERATIONS: i32 = bit_field(TOPIC_OPERATIONS);
/// Every operation on the cluster.
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 = bit_field(CLUSTER_OPERATIONS);
/// Every operation on a consumer group.
pub const GROUP_AUTHORIZED_OPERATIONS: i32 = bit_field(GROUP_OPERATIONS);

/// The field's value for a request that did (`asked`) or did not ask.
pub fn authorized_operations(asked: bool, all: i32) -> i32 {
    if asked {
        all
    } else {
        OPERATIONS_NOT_REQUESTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_sets_are_kafkas() {
        // READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS.
        assert_eq!(TOPIC_AUTHORIZED_OPERATIONS, 0b1101_1111_1000);
        assert_eq!(TOPIC_AUTHORIZED_OPERATIONS, 3576);
        // CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE.
        assert_eq!(CLUSTER_AUTHORIZED_OPERATIONS, 8096);
        // READ DELETE DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS.
        assert_eq!(GROUP_AUTHORIZED_OPERATIONS, 3400);
        assert_eq!(authorized_operations(false, 3576), i32::MIN);
    }
}

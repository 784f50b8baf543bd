//! Real AWS behaviour the emulator lacks, replayed by the [`FaultProxy`]: errors
//! while a change propagates, resources that stay `DELETING` for a while,
//! dependency errors while network interfaces detach, quotas, throttling bursts.
//! A [`Rule`] answers one operation in its own way during a window that other
//! operations open and close; a scenario is a named list of rules, each one
//! documented with what AWS does.
//!
//! [`FaultProxy`]: crate::FaultProxy

use std::time::{Duration, Instant};

/// One behaviour: requests for `operation` get `answer` while the window is open.
#[derive(Clone, Debug)]
pub struct Rule {
    /// What the journal and the counts call it.
    pub name: &'static str,
    /// The operation it answers (`CreateService`), or `*` for every one.
    pub operation: &'static str,
    /// The operation whose success opens the window (again, each time); `None`:
    /// the first matching request opens it.
    pub opens_after: Option<&'static str>,
    /// How long the window stays open.
    pub window: Window,
    /// What the matching requests get.
    pub answer: Answer,
}

/// How long a rule's window stays open once opened.
#[derive(Clone, Copy, Debug)]
pub enum Window {
    /// For the first `n` matching requests.
    Times(u32),
    /// For this long.
    For(Duration),
    /// Until `delay` after `operation` has been forwarded (say, until a
    /// service-linked role exists and has propagated).
    Until {
        /// The operation that closes it.
        operation: &'static str,
        /// How long after that operation it closes.
        delay: Duration,
    },
}

/// What a matching request gets.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// An AWS error with this HTTP status, code and message, in the request's
    /// protocol; the emulator never sees the request.
    Error {
        /// HTTP status (400 for most client errors).
        status: u16,
        /// AWS error code.
        code: &'static str,
        /// AWS's message.
        message: &'static str,
    },
    /// Accepted at once (an empty success), carried out by the emulator this much
    /// later: AWS's asynchronous deletions.
    Deferred(Duration),
    /// Forwarded, and `from` becomes `to` in the answer: a state AWS reports for a
    /// while (`DELETING`, `CREATING`, `deleting`).
    Rewrite {
        /// Text of the emulator's answer.
        from: &'static str,
        /// What the caller reads instead.
        to: &'static str,
    },
}

/// A rule and where its window stands.
#[derive(Debug)]
pub(crate) struct Armed {
    rule: Rule,
    opened: Option<Instant>,
    used: u32,
    closes: Option<Instant>,
}

impl Armed {
    pub(crate) fn new(rule: Rule) -> Self {
        Self {
            rule,
            opened: None,
            used: 0,
            closes: None,
        }
    }

    /// The answer for a request of `operation`, if this rule's window is open;
    /// counts it against the window.
    pub(crate) fn answer(
        &mut self,
        operation: &str,
        now: Instant,
    ) -> Option<(&'static str, Answer)> {
        if self.rule.operation != "*" && self.rule.operation != operation {
            return None;
        }
        if self.rule.opens_after.is_none() && self.opened.is_none() {
            self.opened = Some(now);
        }
        let opened = self.opened?;
        let open = match self.rule.window {
            Window::Times(n) => self.used < n,
            Window::For(length) => now < opened + length,
            Window::Until { .. } => self.closes.is_none_or(|closes| now < closes),
        };
        if !open {
            return None;
        }
        self.used += 1;
        Some((self.rule.name, self.rule.answer))
    }

    /// `operation` succeeded (or was accepted for later): it may open or close the
    /// window.
    pub(crate) fn forwarded(&mut self, operation: &str, now: Instant) {
        if self.rule.opens_after == Some(operation) {
            self.opened = Some(now);
            self.used = 0;
            self.closes = None;
        }
        if let Window::Until {
            operation: closer,
            delay,
        } = self.rule.window
            && closer == operation
            && self.closes.is_none()
        {
            self.closes = Some(now + delay);
        }
    }
}

const fn error(status: u16, code: &'static str, message: &'static str) -> Answer {
    Answer::Error {
        status,
        code,
        message,
    }
}

/// IAM is eventually consistent: for seconds after `CreateRole`, ECS does not see
/// the new role. `RegisterTaskDefinition` answers `ClientException: Role is not
/// valid` and `CreateService` `InvalidParameterException` about the role it cannot
/// assume ([IAM: changes that I make are not always immediately
/// visible](https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency)).
pub fn iam_propagation(delay: Duration) -> Vec<Rule> {
    vec![
        Rule {
            name: "role not yet visible to RegisterTaskDefinition",
            operation: "RegisterTaskDefinition",
            opens_after: Some("CreateRole"),
            window: Window::For(delay),
            answer: error(400, "ClientException", "Role is not valid"),
        },
        Rule {
            name: "role not yet visible to CreateService",
            operation: "CreateService",
            opens_after: Some("CreateRole"),
            window: Window::For(delay),
            answer: error(
                400,
                "InvalidParameterException",
                "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.",
            ),
        },
    ]
}

/// A brand-new account has no ECS service-linked role until something creates it
/// (the console, or `iam:CreateServiceLinkedRole`), and for a while after:
/// `CreateCluster` and `CreateService` answer `InvalidParameterException: Unable to
/// assume the service linked role` ([Using service-linked roles for Amazon
/// ECS](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html)).
pub fn new_account_without_ecs_role(propagation: Duration) -> Vec<Rule> {
    let missing = error(
        400,
        "InvalidParameterException",
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
    );
    ["CreateCluster", "CreateService"]
        .into_iter()
        .map(|operation| Rule {
            name: "no ECS service-linked role yet",
            operation,
            opens_after: None,
            window: Window::Until {
                operation: "CreateServiceLinkedRole",
                delay: propagation,
            },
            answer: missing,
        })
        .collect()
}

/// EC2 is eventually consistent: a VPC or subnet just created may be unknown to
/// the next call for a while (`InvalidVpcID.NotFound`, `InvalidSubnetID.NotFound`;
/// [Eventual consistency in the Amazon EC2
/// API](https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)).
pub fn ec2_eventual_consistency(delay: Duration) -> Vec<Rule> {
    let vpc = error(
        400,
        "InvalidVpcID.NotFound",
        "The vpc ID does not exist (eventual consistency)",
    );
    let subnet = error(
        400,
        "InvalidSubnetID.NotFound",
        "The subnet ID does not exist (eventual consistency)",
    );
    let mut rules: Vec<Rule> = [
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateRouteTable",
        "AttachInternetGateway",
        "ModifyVpcAttribute",
    ]
    .into_iter()
    .map(|operation| Rule {
        name: "new VPC not yet visible",
        operation,
        opens_after: Some("CreateVpc"),
        window: Window::For(delay),
        answer: vpc,
    })
    .collect();
    rules.extend(
        ["CreateNatGateway", "AssociateRouteTable"]
            .into_iter()
            .map(|operation| Rule {
                name: "new subnet not yet visible",
                operation,
                opens_after: Some("CreateSubnet"),
                window: Window::For(delay),
                answer: subnet,
            }),
    );
    rules
}

/// Cognito's hosted domains change state asynchronously: a new domain is
/// `CREATING` for a while, and `DeleteUserPoolDomain` returns while the domain is
/// still `DELETING`; until it is gone, `DeleteUserPool` fails because the pool
/// still has a domain ([DeleteUserPool](https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_DeleteUserPool.html),
/// [DomainDescriptionType.Status](https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_DomainDescriptionType.html)).
pub fn cognito_domain_states(delay: Duration) -> Vec<Rule> {
    vec![
        Rule {
            name: "domain CREATING",
            operation: "DescribeUserPoolDomain",
            opens_after: Some("CreateUserPoolDomain"),
            window: Window::For(delay),
            answer: Answer::Rewrite {
                from: "\"ACTIVE\"",
                to: "\"CREATING\"",
            },
        },
        Rule {
            name: "domain deletion is asynchronous",
            operation: "DeleteUserPoolDomain",
            opens_after: None,
            window: Window::Times(u32::MAX),
            answer: Answer::Deferred(delay),
        },
        Rule {
            name: "domain DELETING",
            operation: "DescribeUserPoolDomain",
            opens_after: Some("DeleteUserPoolDomain"),
            window: Window::For(delay),
            answer: Answer::Rewrite {
                from: "\"ACTIVE\"",
                to: "\"DELETING\"",
            },
        },
        Rule {
            name: "user pool still has a domain",
            operation: "DeleteUserPool",
            opens_after: Some("DeleteUserPoolDomain"),
            window: Window::For(delay),
            answer: error(
                400,
                "InvalidParameterException",
                "User pool has a domain configured that should be deleted first.",
            ),
        },
    ]
}

/// A burst of throttling on one operation for `length`: longer than the SDK's
/// retries last, so the engine meets it (`Throttling`, ELBv2's and IAM's code;
/// [Request throttling](https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/Welcome.html)).
pub fn throttling_burst(operation: &'static str, length: Duration) -> Vec<Rule> {
    vec![Rule {
        name: "throttling burst",
        operation,
        opens_after: None,
        window: Window::For(length),
        answer: error(400, "Throttling", "Rate exceeded"),
    }]
}

/// ECS refuses a service whose target group no load balancer forwards to yet
/// (`InvalidParameterException: The target group … does not have an associated
/// load balancer`): until a listener rule sends traffic to it. The emulator does
/// not check; here `CreateService` is refused until a `CreateRule` has succeeded.
pub fn target_group_needs_a_listener_rule() -> Vec<Rule> {
    vec![Rule {
        name: "target group has no load balancer yet",
        operation: "CreateService",
        opens_after: None,
        window: Window::Until {
            operation: "CreateRule",
            delay: Duration::ZERO,
        },
        answer: error(
            400,
            "InvalidParameterException",
            "The target group does not have an associated load balancer.",
        ),
    }]
}

/// NAT gateways and interface endpoints are deleted asynchronously: after
/// `DeleteNatGateway` / `DeleteVpcEndpoints` return they stay `deleting` for a
/// while (a NAT gateway for minutes), and until their network interfaces are
/// released the subnets, security groups, internet gateway and VPC they used
/// answer `DependencyViolation` ([DeleteNatGateway](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteNatGateway.html),
/// [Delete an interface endpoint](https://docs.aws.amazon.com/vpc/latest/privatelink/delete-interface-endpoint.html)).
pub fn network_deletions_take_time(delay: Duration) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (delete, describe) in [
        ("DeleteNatGateway", "DescribeNatGateways"),
        ("DeleteVpcEndpoints", "DescribeVpcEndpoints"),
    ] {
        rules.push(Rule {
            name: "deletion is asynchronous",
            operation: delete,
            opens_after: None,
            window: Window::Times(u32::MAX),
            answer: Answer::Deferred(delay),
        });
        rules.push(Rule {
            name: "deleting",
            operation: describe,
            opens_after: Some(delete),
            window: Window::For(delay),
            answer: Answer::Rewrite {
                from: "<state>available</state>",
                to: "<state>deleting</state>",
            },
        });
        for dependent in [
            "DeleteSubnet",
            "DeleteSecurityGroup",
            "DetachInternetGateway",
            "DeleteVpc",
        ] {
            rules.push(Rule {
                name: "network interfaces still detaching",
                operation: dependent,
                opens_after: Some(delete),
                // A little longer than the deletion: ENIs go last.
                window: Window::For(delay + Duration::from_secs(1)),
                answer: error(
                    400,
                    "DependencyViolation",
                    "The resource has a dependent object (network interface still in use).",
                ),
            });
        }
    }
    rules
}

/// A new DynamoDB table is `CREATING` for a while, and until it is `ACTIVE`
/// DynamoDB refuses to change its backups or time to live; `DeleteTable` returns
/// while the table is `DELETING`, and it goes `delay` later
/// ([Working with tables](https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html),
/// [UpdateContinuousBackups](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateContinuousBackups.html)).
///
/// Counted, not timed, so that a slow machine replays the same story: the first two
/// looks at a new table find it `CREATING`; its backups and time to live are refused
/// until the caller has read them (which it does only once it saw the table
/// `ACTIVE`); every look between `DeleteTable` and the deletion finds it `DELETING`.
pub fn dynamodb_table_states(delay: Duration) -> Vec<Rule> {
    let refused_until_read = |name, operation, read, code, message| Rule {
        name,
        operation,
        opens_after: Some("CreateTable"),
        window: Window::Until {
            operation: read,
            delay: Duration::ZERO,
        },
        answer: error(400, code, message),
    };
    vec![
        Rule {
            name: "table CREATING",
            operation: "CreateTable",
            opens_after: None,
            window: Window::Times(u32::MAX),
            answer: Answer::Rewrite {
                from: "\"ACTIVE\"",
                to: "\"CREATING\"",
            },
        },
        Rule {
            name: "table still CREATING",
            operation: "DescribeTable",
            opens_after: Some("CreateTable"),
            window: Window::Times(2),
            answer: Answer::Rewrite {
                from: "\"ACTIVE\"",
                to: "\"CREATING\"",
            },
        },
        refused_until_read(
            "backups of a CREATING table",
            "UpdateContinuousBackups",
            "DescribeContinuousBackups",
            "ContinuousBackupsUnavailableException",
            "Backups are being enabled for the table. Please retry later",
        ),
        refused_until_read(
            "time to live of a CREATING table",
            "UpdateTimeToLive",
            "DescribeTimeToLive",
            "ResourceInUseException",
            "Attempt to change a resource which is still in use: Table is being created",
        ),
        Rule {
            name: "table deletion is asynchronous",
            operation: "DeleteTable",
            opens_after: None,
            window: Window::Times(u32::MAX),
            answer: Answer::Deferred(delay),
        },
        Rule {
            name: "table DELETING",
            operation: "DescribeTable",
            opens_after: Some("DeleteTable"),
            // Until the deferred deletion: after it the table is not found at all.
            window: Window::Times(u32::MAX),
            answer: Answer::Rewrite {
                from: "\"ACTIVE\"",
                to: "\"DELETING\"",
            },
        },
    ]
}

/// DynamoDB takes one time-to-live change per table per hour: a second
/// `UpdateTimeToLive` within it is refused with a `ValidationException`
/// ([UpdateTimeToLive](https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html)).
/// Here the hour is the next `refusals` changes after one that succeeded.
pub fn time_to_live_once_an_hour(refusals: u32) -> Vec<Rule> {
    vec![Rule {
        name: "time to live changed within the hour",
        operation: "UpdateTimeToLive",
        opens_after: Some("UpdateTimeToLive"),
        window: Window::Times(refusals),
        answer: error(
            400,
            "ValidationException",
            "Time to live has been modified multiple times within a fixed interval",
        ),
    }]
}

/// An account quota reached: `operation` answers `code` with AWS's message, every
/// time (e.g. `VpcLimitExceeded`: five VPCs per region by default; [Amazon VPC
/// quotas](https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html)).
pub fn quota_reached(
    operation: &'static str,
    code: &'static str,
    message: &'static str,
) -> Vec<Rule> {
    vec![Rule {
        name: "quota reached",
        operation,
        opens_after: None,
        window: Window::Times(u32::MAX),
        answer: error(400, code, message),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(opens_after: Option<&'static str>, window: Window) -> Armed {
        Armed::new(Rule {
            name: "test",
            operation: "CreateService",
            opens_after,
            window,
            answer: error(400, "X", "x"),
        })
    }

    #[test]
    fn a_window_opens_after_its_operation_and_closes_as_configured() {
        let t0 = Instant::now();
        let mut times = rule(Some("CreateRole"), Window::Times(2));
        assert!(times.answer("CreateService", t0).is_none(), "not open yet");
        times.forwarded("CreateRole", t0);
        assert!(
            times.answer("CreateCluster", t0).is_none(),
            "another operation"
        );
        assert!(times.answer("CreateService", t0).is_some());
        assert!(times.answer("CreateService", t0).is_some());
        assert!(times.answer("CreateService", t0).is_none(), "used up");
        times.forwarded("CreateRole", t0);
        assert!(times.answer("CreateService", t0).is_some(), "opened again");

        let mut timed = rule(Some("CreateRole"), Window::For(Duration::from_secs(5)));
        timed.forwarded("CreateRole", t0);
        assert!(
            timed
                .answer("CreateService", t0 + Duration::from_secs(4))
                .is_some()
        );
        assert!(
            timed
                .answer("CreateService", t0 + Duration::from_secs(6))
                .is_none()
        );

        let mut until = rule(
            None,
            Window::Until {
                operation: "CreateServiceLinkedRole",
                delay: Duration::from_secs(2),
            },
        );
        let now = Instant::now();
        assert!(
            until.answer("CreateService", now).is_some(),
            "the first request opens it"
        );
        until.forwarded("CreateServiceLinkedRole", now);
        assert!(
            until
                .answer("CreateService", now + Duration::from_secs(1))
                .is_some()
        );
        assert!(
            until
                .answer("CreateService", now + Duration::from_secs(3))
                .is_none()
        );
    }
}

"""The local AWS emulator: moto's server (pinned by ./scripts/setup-aws-emulator)
with the settings this project relies on, and one correction.

Run it with the virtual environment's Python, as every starter here does (the test
harness in testkit/src/moto.rs, ./scripts/quickstart, ./scripts/local-aws, the
history benchmark):

    .venv/bin/python scripts/aws-emulator.py -H 127.0.0.1 -p 4566

Settings (each can be overridden from the environment):
- MOTO_IAM_LOAD_MANAGED_POLICIES=true: AWS managed policies
  (AmazonECSTaskExecutionRolePolicy) exist only when moto loads them.
- MOTO_ACM_VALIDATION_WAIT=0: requested certificates are issued at once, as after
  DNS validation (moto keeps them PENDING_VALIDATION for 60 s by default).

The correction: DynamoDB's requests are served one at a time. DynamoDB runs a
transaction in isolation: refused for its condition, it changes nothing and undoes
no other write. moto's server answers requests on threads, and its
transact_write_items deep-copies the table before it runs (a concurrent insert makes
the copy fail with a 500) and restores that copy when the transaction is refused (a
write that landed in between is lost). testkit/tests/moto.rs shows both. The other
services are served as moto serves them.
"""

import os
import threading

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")

from moto.dynamodb.responses import DynamoHandler  # noqa: E402 (after the settings)
from moto.server import main  # noqa: E402

_one_at_a_time = threading.Lock()
_serve = DynamoHandler.call_action


def _serve_alone(self):
    with _one_at_a_time:
        return _serve(self)


DynamoHandler.call_action = _serve_alone

if __name__ == "__main__":
    main()

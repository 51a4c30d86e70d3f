"""The sandbox mail world: DNS and SMTP servers on loopback that behave like real mail domains.

A verifier is pointed at it through its ordinary settings (name server address and port, SMTP
port) and cannot tell it from the internet's mail servers, which is what makes the verification
engine's tests and benchmarks honest. See `world` for the YAML format.
"""

from ac_hygiene.sandbox.mailworld.generate import generate_world, generate_world_data
from ac_hygiene.sandbox.mailworld.runner import MailWorldServer, RunningMailWorld
from ac_hygiene.sandbox.mailworld.samples import SampleAddress, labelled_sample, sample_addresses
from ac_hygiene.sandbox.mailworld.stats import MailWorldStats
from ac_hygiene.sandbox.mailworld.world import (
    DomainSpec,
    Mailbox,
    MailWorld,
    WorldError,
    default_world_path,
)

__all__ = [
    "DomainSpec",
    "MailWorld",
    "MailWorldServer",
    "MailWorldStats",
    "Mailbox",
    "RunningMailWorld",
    "SampleAddress",
    "WorldError",
    "default_world_path",
    "generate_world",
    "generate_world_data",
    "labelled_sample",
    "sample_addresses",
]

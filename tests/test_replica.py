"""The read-replica router: reads go to the replica only where a page opted in."""

from __future__ import annotations

from server.db import REPLICA, ReplicaRouter, reads_from_replica, tortoise_config
from server.models import Member, ServiceRequest


def test_router_only_inside_opt_in() -> None:
    router = ReplicaRouter()
    assert router.db_for_read(ServiceRequest) is None
    with reads_from_replica():
        assert router.db_for_read(ServiceRequest) == REPLICA
        assert router.db_for_write(Member) is None
    assert router.db_for_read(ServiceRequest) is None


def test_config_adds_replica_only_when_asked() -> None:
    plain = tortoise_config("postgres://a@db/x")
    assert set(plain["connections"]) == {"default"} and "routers" not in plain
    both = tortoise_config("postgres://a@db/x", "postgres://a@replica/x")
    assert both["connections"][REPLICA] == "postgres://a@replica/x"
    assert both["routers"] == ["server.db.ReplicaRouter"]

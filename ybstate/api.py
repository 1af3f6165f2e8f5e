"""The command API (DESIGN 7): the seed's nine RPC methods, their packet codes, and who
may call them.

``call(state, caller, name, **arguments)`` checks the caller's rights, then answers with
the command's :class:`~ybstate.commands.Reply`. The system tenant's admin may do
anything; a tenant's admin may back up, archive and query its own tenant only; anyone
else is refused with ``OB_PERMISSION_DENIED``, and the refusal is an event of the history
(``command.denied``), so an audit sees every attempt. Nothing is raised for bad input.

The seed reserves packet codes 13000-13017, a request and a response code per method,
without listing which is which; this registry assigns them in the order of DESIGN 7.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ybstate import commands
from ybstate.access import DenyCommand
from ybstate.cluster.state import SYS_TENANT_NAME, ClusterState
from ybstate.commands import Reply, ResultCode
from ybstate.model import decide

__all__ = ["ADMIN", "USER", "Caller", "Command", "COMMANDS", "call", "permission"]

ADMIN = "admin"
USER = "user"


@attrs.frozen(kw_only=True)
class Caller:
    """Who calls: a user of a tenant, with a role (``admin`` or ``user``)."""

    tenant: str
    user: str
    role: str


@attrs.frozen(kw_only=True)
class Command:
    name: str
    request_code: int
    response_code: int
    function: Callable[..., Reply]
    own_tenant: bool  # a tenant's admin may call it for its own tenant (else: system admin only)
    target: Callable[[ClusterState, dict[str, Any]], int | None]  # the tenant it acts on, if known


def _named(argument: str) -> Callable[[ClusterState, dict[str, Any]], int | None]:
    def target(state: ClusterState, arguments: dict[str, Any]) -> int | None:
        name = arguments.get(argument)
        tenant = state.tenant_named(name) if isinstance(name, str) else None
        return None if tenant is None else tenant.tenant_id

    return target


def _backup_task(state: ClusterState, arguments: dict[str, Any]) -> int | None:
    task = state.backups.get(arguments.get("task_id")) if isinstance(arguments.get("task_id"), int) else None
    return None if task is None else task.tenant_id


def _tablet(state: ClusterState, arguments: dict[str, Any]) -> int | None:
    tablet_id = arguments.get("tablet_id")
    for table in state.tables.values():
        if any(t.tablet_id == tablet_id for t in table.tablets):
            return table.tenant_id
    return None


def _restore_task(state: ClusterState, arguments: dict[str, Any]) -> int | None:
    task = state.restores.get(arguments.get("task_id")) if isinstance(arguments.get("task_id"), int) else None
    return None if task is None else task.source_tenant_id


_TABLE = (
    ("tenant_backup_start", commands.tenant_backup_start, True, _named("tenant")),
    ("tenant_backup_status", commands.tenant_backup_status, True, _backup_task),
    ("tenant_incremental_backup_start", commands.tenant_incremental_backup_start, True, _named("tenant")),
    ("tenant_incremental_backup_stop", commands.tenant_incremental_backup_stop, True, _named("tenant")),
    ("tenant_restore_start", commands.tenant_restore_start, False, _named("source")),
    ("tenant_restore_status", commands.tenant_restore_status, False, _restore_task),
    ("tenant_promote_standby", commands.tenant_promote_standby, False, _named("old_primary")),
    ("tenant_decommission", commands.tenant_decommission, False, _named("tenant")),
    ("tenant_backup_tablet", commands.tenant_backup_tablet, True, _tablet),
)

COMMANDS: dict[str, Command] = {
    name: Command(
        name=name,
        request_code=13000 + 2 * index,
        response_code=13001 + 2 * index,
        function=function,
        own_tenant=own_tenant,
        target=target,
    )
    for index, (name, function, own_tenant, target) in enumerate(_TABLE)
}


def permission(
    state: ClusterState, caller: Caller, command: Command, arguments: dict[str, Any]
) -> str | None:
    """Why ``caller`` may not run ``command`` with ``arguments``, or None if it may."""
    if caller.role not in (ADMIN, USER):
        return f"unknown role {caller.role!r} (roles: {ADMIN}, {USER})"
    own = state.tenant_named(caller.tenant)
    if own is None:
        return f"unknown caller tenant {caller.tenant!r}"
    if caller.role != ADMIN:
        return f"{caller.user!r} of {caller.tenant!r} is not an admin"
    if caller.tenant == SYS_TENANT_NAME:
        return None
    if not command.own_tenant:
        return f"{command.name} is for the system tenant's admin only"
    target = command.target(state, arguments)
    if target is not None and target != own.tenant_id:
        return f"{caller.tenant!r}'s admin may act on its own tenant only"
    return None


def call(state: ClusterState, caller: Caller, name: str, **arguments: Any) -> Reply:
    """Run command ``name`` as ``caller``; a refusal for rights carries its event."""
    command = COMMANDS.get(name)
    if command is None:
        return Reply(
            code=ResultCode.OB_INVALID_ARGUMENT,
            message=f"unknown command {name!r} (commands: {sorted(COMMANDS)})",
        )
    why = permission(state, caller, command, arguments)
    if why is not None:
        target = command.target(state, arguments)
        denied = DenyCommand(
            caller_tenant=str(caller.tenant),
            user=str(caller.user),
            role=str(caller.role),
            command=name,
            target="" if target is None else state.tenants[target].name,
            reason=why,
        )
        return Reply(code=ResultCode.OB_PERMISSION_DENIED, message=why, events=tuple(decide(state, denied)))
    try:
        return command.function(state, **arguments)
    except TypeError as error:  # a missing or unknown argument name
        return Reply(code=ResultCode.OB_INVALID_ARGUMENT, message=f"{name}: {error}")

"""Builds the invites component: its own database and gRPC server.

Invite minting and redemption are not implemented yet: the server answers the invites RPCs
with UNIMPLEMENTED (the gRPC default) while health and reflection work like every server.
"""

from __future__ import annotations

from tessera.invites.v1 import invites_pb2, invites_pb2_grpc

from services.common.db import Database
from services.common.grpc_server import GrpcServer
from services.common.runtime import Runtime


class InvitesComponent:
    name = "invites"

    def __init__(self, runtime: Runtime) -> None:
        self.database = Database(runtime.settings, "invites")
        servicer = invites_pb2_grpc.InvitesServiceServicer()
        self._server = GrpcServer(
            "invites",
            runtime.settings.invites_listen,
            [
                lambda server: invites_pb2_grpc.add_InvitesServiceServicer_to_server(
                    servicer, server
                )
            ],
            [invites_pb2.DESCRIPTOR.services_by_name["InvitesService"].full_name],
        )

    @property
    def address(self) -> str:
        return self._server.address

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
        await self.database.dispose()


def build(runtime: Runtime) -> InvitesComponent:
    return InvitesComponent(runtime)

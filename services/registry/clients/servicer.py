"""The client RPCs of RegistryService: translate, call one use case, translate back."""

from __future__ import annotations

from tessera.registry.v1 import registry_pb2 as pb

from services.common.auth import Authenticator
from services.registry.clients.models import ClientDraft, ClientPatch, ClientView, IssuedCredentials
from services.registry.clients.use_cases import ClientUseCases
from services.registry.kernel import convert as cv
from services.registry.kernel.servicer import Servicer

Ctx = cv.ServicerContext


def credentials_pb(issued: IssuedCredentials) -> pb.ClientCredentials:
    message = pb.ClientCredentials(client_id=issued.client_id, client_secret=issued.client_secret)
    if issued.previous_secret_expires_at is not None:
        message.previous_secret_expires_at.CopyFrom(cv.timestamp(issued.previous_secret_expires_at))
    return message


def client_pb(view: ClientView) -> pb.Client:
    client = view.client
    message = pb.Client(
        client_id=client.client_id,
        tenant=view.tenant,
        display_name=client.display_name,
        description=client.description,
        confidential=client.confidential,
        enabled=client.enabled,
        grant_types=list(client.grant_types),
        apps=list(view.apps),
        scopes=list(view.scopes),
        roles=list(view.roles),
        version=client.version,
    )
    for record in view.secrets:
        info = message.secrets.add(id=record.id, created_at=cv.timestamp(record.created_at))
        if record.expires_at is not None:
            info.expires_at.CopyFrom(cv.timestamp(record.expires_at))
        if record.last_used_at is not None:
            info.last_used_at.CopyFrom(cv.timestamp(record.last_used_at))
    return message


class ClientServicer(Servicer):
    def __init__(self, auth: Authenticator, clients: ClientUseCases) -> None:
        super().__init__(auth)
        self._clients = clients

    async def CreateClient(
        self, request: pb.CreateClientRequest, context: Ctx
    ) -> pb.CreateClientResponse:
        view, credentials = await self._clients.create(
            await self.principal(context),
            request.tenant,
            ClientDraft(
                display_name=request.display_name,
                description=request.description,
                confidential=True if not request.HasField("confidential") else request.confidential,
                apps=tuple(request.apps),
                grant_types=tuple(request.grant_types),
                scopes=tuple(request.scopes),
                roles=tuple(request.roles),
            ),
        )
        response = pb.CreateClientResponse(client=client_pb(view))
        if credentials is not None:
            response.credentials.CopyFrom(credentials_pb(credentials))
        return response

    async def GetClient(self, request: pb.GetClientRequest, context: Ctx) -> pb.Client:
        return client_pb(
            await self._clients.get(
                await self.principal(context), request.tenant, request.client_id
            )
        )

    async def ListClients(
        self, request: pb.ListClientsRequest, context: Ctx
    ) -> pb.ListClientsResponse:
        page = await self._clients.search(
            await self.principal(context),
            request.tenant,
            *cv.page_args(request),
            request.app,
        )
        return pb.ListClientsResponse(
            clients=[client_pb(v) for v in page.items],
            **cv.listing(page),
        )

    async def UpdateClient(self, request: pb.UpdateClientRequest, context: Ctx) -> pb.Client:
        patch = ClientPatch(
            display_name=cv.optional(request, "display_name"),
            description=cv.optional(request, "description"),
            enabled=cv.optional(request, "enabled"),
            apps=cv.string_list(request, "apps"),
            grant_types=cv.string_list(request, "grant_types"),
            scopes=cv.string_list(request, "scopes"),
            roles=cv.string_list(request, "roles"),
        )
        view = await self._clients.update(
            await self.principal(context),
            request.tenant,
            request.client_id,
            patch,
            request.expected_version,
        )
        return client_pb(view)

    async def RegenerateClientSecret(
        self, request: pb.RegenerateClientSecretRequest, context: Ctx
    ) -> pb.ClientCredentials:
        issued = await self._clients.regenerate_secret(
            await self.principal(context),
            request.tenant,
            request.client_id,
            request.grace_period_seconds,
        )
        return credentials_pb(issued)

    async def DeleteClient(
        self, request: pb.DeleteClientRequest, context: Ctx
    ) -> pb.DeleteClientResponse:
        await self._clients.delete(await self.principal(context), request.tenant, request.client_id)
        return pb.DeleteClientResponse()

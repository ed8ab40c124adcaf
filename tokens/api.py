"""REST API resources of the tokens app: `vpp-tokens/` and `sync-runs/` (docs/rules.md, Stable interfaces)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from tokens import selectors, services
from tokens.filters import SyncRunFilter, VPPTokenFilter
from tokens.models import SyncRun
from tokens.serializers import (
    SyncRunSerializer,
    VPPTokenCreateSerializer,
    VPPTokenRenewSerializer,
    VPPTokenSerializer,
    VPPTokenUpdateSerializer,
)
from tokens.sync import request_sync


class VPPTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """VPP tokens: upload (multipart), edit, renew, sync, delete. The assignments app adds the license actions
    under `vpp-tokens/{id}/` (revoke-licenses, reconcile, reclaim-untracked)."""  # T1-T15

    serializer_class = VPPTokenSerializer
    filterset_class = VPPTokenFilter
    ordering_fields = ["name", "expires_at", "last_sync_at", "state"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    write_actions = ("sync", "sync_all", "renew", "take_control")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.token_list()

    def _read(self, token) -> dict:
        return VPPTokenSerializer(selectors.token_get(pk=token.pk)).data

    @extend_schema(request=VPPTokenCreateSerializer, responses={201: VPPTokenSerializer})
    def create(self, request):
        serializer = VPPTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token = services.token_create(
            file=services.read_token_upload(data.pop("token_file")), actor=request.user, **data
        )
        return Response(self._read(token), status=status.HTTP_201_CREATED)

    @extend_schema(request=VPPTokenUpdateSerializer, responses={200: VPPTokenSerializer})
    def partial_update(self, request, pk=None):
        token = self.get_object()
        serializer = VPPTokenUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = services.token_update(token=token, actor=request.user, **serializer.validated_data)
        return Response(self._read(token))

    @extend_schema(
        description=(
            "Delete the token: the token, its apps and their assignments are deleted here. Licenses are not "
            "revoked at Apple and apps are not uninstalled; afterwards its licenses cannot be revoked from "
            "this console (revoke them first with revoke-licenses/ if wanted)."
        ),
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.token_delete(token=instance, actor=self.request.user)

    @extend_schema(request=VPPTokenRenewSerializer, responses={200: VPPTokenSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        """A new token file for the same location: apps and assignments are kept."""  # T15
        token = self.get_object()
        serializer = VPPTokenRenewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        file = services.read_token_upload(serializer.validated_data["token_file"])
        token = services.token_renew(token=token, file=file, actor=request.user)
        return Response(self._read(token))

    @extend_schema(request=None, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Sync now: 202 with the queued run, or with the run already in progress."""  # T6
        token = self.get_object()
        run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, actor=request.user)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: SyncRunSerializer(many=True)})
    @action(detail=False, methods=["post"], url_path="sync-all", pagination_class=None, filter_backends=[])
    def sync_all(self, request):
        """Sync every valid token now; 202 with their runs."""
        runs = services.token_sync_all(actor=request.user)
        return Response(SyncRunSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: VPPTokenSerializer})
    @action(detail=True, methods=["post"], url_path="take-control")
    def take_control(self, request, pk=None):
        """Take the token back from another MDM; only in the state `assigned_to_external_mdm`."""  # T4
        token = services.token_take_control(token=self.get_object(), actor=request.user)
        return Response(self._read(token))


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Sync runs, newest first; filter by token, status and trigger."""  # B8

    serializer_class = SyncRunSerializer
    filterset_class = SyncRunFilter
    ordering_fields = ["created_at", "started_at", "finished_at"]

    def get_queryset(self):
        return selectors.sync_run_list()


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register("vpp-tokens", VPPTokenViewSet, basename="vpp-token")
    router.register("sync-runs", SyncRunViewSet, basename="sync-run")

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from documents import services
from documents.api.filters import DocumentFilter
from documents.api.serializers import DocumentSerializer, DocumentUploadInput
from documents.models import Document, DocumentKind
from loads.models import Load
from tms.api import TmsReadOnlyViewSet
from tms.api_defaults import OPERATORS, VIEWER, is_operator, roles_of

LOAD_ID = OpenApiParameter("load_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The load's id.")
DOCUMENT_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The document's id."
)


@extend_schema_view(
    list=extend_schema(parameters=[LOAD_ID], summary="List a load's documents"),
    retrieve=extend_schema(parameters=[LOAD_ID, DOCUMENT_ID], summary="Get a load's document"),
    destroy=extend_schema(parameters=[LOAD_ID, DOCUMENT_ID], summary="Delete a load's document"),
)
class LoadDocumentViewSet(mixins.DestroyModelMixin, TmsReadOnlyViewSet):
    """A load's documents (/api/loads/{load_id}/documents/), with the load's permissions: whoever
    may read the load reads its documents (a DRIVER: their own loads'); ADMIN and DISPATCHER
    upload and delete; a DRIVER uploads proofs of delivery (kind POD) for their own loads."""

    queryset = Document.objects.select_related("uploaded_by").order_by("uploaded_at", "id")
    serializer_class = DocumentSerializer
    filterset_class = DocumentFilter
    ordering_fields = ["uploaded_at", "kind", "size"]
    driver_actions = ("create",)
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    parser_classes = [MultiPartParser]

    def driver_queryset(self, queryset, user):
        return queryset.filter(load__driver__user=user)

    def get_load(self) -> Load:
        """The load of the path, if the caller may see it (a driver: only their own), else 404."""
        loads = Load.objects.all()
        roles = roles_of(self.request.user)
        if roles and not roles & (OPERATORS | {VIEWER}):
            loads = loads.filter(driver__user=self.request.user)
        try:
            return loads.get(pk=self.kwargs["load_id"])
        except (Load.DoesNotExist, DjangoValidationError) as error:  # no such load, or not a UUID
            raise Http404 from error

    def get_queryset(self):
        return super().get_queryset().filter(load_id=self.kwargs["load_id"])

    def list(self, request, *args, **kwargs):
        self.get_load()  # an unknown or hidden load is a 404, not an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": DocumentUploadInput},
        responses={201: DocumentSerializer},
        parameters=[LOAD_ID],
        summary="Upload a document to a load",
    )
    def create(self, request, *args, **kwargs):
        load = self.get_load()
        payload = DocumentUploadInput(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        if not is_operator(request.user):
            # A driver (whatever other read-only role they hold): the POD of a load they drive.
            if payload.validated_data["kind"] != DocumentKind.POD:
                raise exceptions.PermissionDenied("A driver uploads proofs of delivery (kind POD) only.")
            if load.driver is None or load.driver.user_id != request.user.pk:
                raise exceptions.PermissionDenied("A driver uploads proofs of delivery of their own loads.")
        document = services.upload_document(load=load, by=request.user, **payload.validated_data)
        return Response(self.get_serializer(document).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.delete_document(instance, by=self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # A download answers with the file whatever the client accepts (errors in JSON).
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    @extend_schema(
        parameters=[LOAD_ID, DOCUMENT_ID],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, as an attachment named as uploaded; its Content-Type is the "
                "document's (application/pdf, image/jpeg, image/png, image/heic).",
            )
        },
        summary="Download a load's document",
    )
    @action(detail=True, methods=["get"])
    def download(self, request, load_id=None, pk=None):
        """The document's bytes, streamed, with Content-Disposition: attachment."""
        document = self.get_object()
        try:
            stream = document.file.open("rb")
        except (FileNotFoundError, OSError) as error:
            raise exceptions.NotFound("The document's file is missing from storage.") from error
        return FileResponse(
            stream, as_attachment=True, filename=document.original_name, content_type=document.content_type
        )
